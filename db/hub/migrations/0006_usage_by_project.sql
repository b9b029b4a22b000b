CREATE INDEX "hub_usage_day_project" ON "hub_usage_day" USING btree ("project","day_ts");--> statement-breakpoint
CREATE INDEX "hub_usage_dekad_project" ON "hub_usage_dekad" USING btree ("project","dekad_ts");--> statement-breakpoint
CREATE INDEX "hub_usage_month_project" ON "hub_usage_month" USING btree ("project","month_ts");