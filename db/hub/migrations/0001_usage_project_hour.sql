CREATE TABLE "hub_usage_project_hour" (
	"hour_ts" bigint NOT NULL,
	"site" text NOT NULL,
	"project" text NOT NULL,
	"partition" text NOT NULL,
	"gpu_s" double precision DEFAULT 0 NOT NULL,
	"measured_gpu_s" double precision DEFAULT 0 NOT NULL,
	"energy_kwh" double precision DEFAULT 0 NOT NULL,
	"inferred_kwh" double precision DEFAULT 0 NOT NULL,
	"overhead_kwh" double precision DEFAULT 0 NOT NULL,
	"reused_kwh" double precision DEFAULT 0 NOT NULL,
	"co2_kg" double precision DEFAULT 0 NOT NULL,
	CONSTRAINT "hub_usage_project_hour_hour_ts_site_project_partition_pk" PRIMARY KEY("hour_ts","site","project","partition")
);
--> statement-breakpoint
INSERT INTO "hub_usage_project_hour" ("hour_ts", "site", "project", "partition", "gpu_s", "measured_gpu_s", "energy_kwh", "inferred_kwh", "overhead_kwh", "reused_kwh", "co2_kg")
SELECT "hour_ts", "site", "project", "partition", SUM("gpu_s"), SUM("measured_gpu_s"), SUM("energy_kwh"), SUM("inferred_kwh"), SUM("overhead_kwh"), SUM("reused_kwh"), SUM("co2_kg")
FROM "hub_usage_hour" GROUP BY "hour_ts", "site", "project", "partition";
