CREATE TABLE "hub_usage_dekad" (
	"site" text NOT NULL,
	"dekad_ts" bigint NOT NULL,
	"project" text NOT NULL,
	"partition" text NOT NULL,
	"gpu_s" double precision DEFAULT 0 NOT NULL,
	"measured_gpu_s" double precision DEFAULT 0 NOT NULL,
	"energy_kwh" double precision DEFAULT 0 NOT NULL,
	"inferred_kwh" double precision DEFAULT 0 NOT NULL,
	"overhead_kwh" double precision DEFAULT 0 NOT NULL,
	"reused_kwh" double precision DEFAULT 0 NOT NULL,
	"co2_kg" double precision DEFAULT 0 NOT NULL,
	CONSTRAINT "hub_usage_dekad_site_dekad_ts_project_partition_pk" PRIMARY KEY("site","dekad_ts","project","partition")
);
--> statement-breakpoint
CREATE INDEX "hub_usage_dekad_dekad" ON "hub_usage_dekad" USING btree ("dekad_ts");--> statement-breakpoint
-- The dekads of the days a hub already holds (store.ts rebuilds a day's dekad with the day).
INSERT INTO "hub_usage_dekad" ("site", "dekad_ts", "project", "partition", "gpu_s", "measured_gpu_s", "energy_kwh", "inferred_kwh", "overhead_kwh", "reused_kwh", "co2_kg")
SELECT "site", "dekad_ts", "project", "partition", SUM("gpu_s"), SUM("measured_gpu_s"), SUM("energy_kwh"), SUM("inferred_kwh"), SUM("overhead_kwh"), SUM("reused_kwh"), SUM("co2_kg")
FROM (SELECT *, (extract(epoch FROM date_trunc('month', to_timestamp("day_ts" / 1000.0) AT TIME ZONE 'UTC')) * 1000)::bigint
        + LEAST(2, (extract(day FROM to_timestamp("day_ts" / 1000.0) AT TIME ZONE 'UTC')::int - 1) / 10) * 864000000::bigint AS "dekad_ts"
      FROM "hub_usage_day") d
GROUP BY "site", "dekad_ts", "project", "partition";
