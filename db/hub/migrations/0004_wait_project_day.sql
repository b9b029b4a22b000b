CREATE TABLE "hub_wait_project_day" (
	"project" text NOT NULL,
	"day_ts" bigint NOT NULL,
	"site" text NOT NULL,
	"partition" text NOT NULL,
	"n" integer NOT NULL,
	"sum_ms" double precision NOT NULL,
	"waits" "bytea" NOT NULL,
	CONSTRAINT "hub_wait_project_day_project_day_ts_site_partition_pk" PRIMARY KEY("project","day_ts","site","partition")
);
--> statement-breakpoint
CREATE INDEX "hub_wait_project_day_site" ON "hub_wait_project_day" USING btree ("day_ts","site");--> statement-breakpoint
-- The runs of the days a hub already holds (store.ts rebuilds a day's with the day).
INSERT INTO "hub_wait_project_day" ("project", "day_ts", "site", "partition", "n", "sum_ms", "waits")
SELECT "project", "start_day_ts", "site", "partition", COUNT(*), SUM("wait_ms"), string_agg(float8send("wait_ms"::float8), ''::bytea ORDER BY "wait_ms")
FROM "hub_jobs" GROUP BY "project", "start_day_ts", "site", "partition";
