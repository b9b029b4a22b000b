CREATE TABLE "hub_wait_day" (
	"day_ts" bigint NOT NULL,
	"site" text NOT NULL,
	"partition" text NOT NULL,
	"n" integer NOT NULL,
	"sum_ms" double precision NOT NULL,
	"waits" "bytea" NOT NULL,
	CONSTRAINT "hub_wait_day_day_ts_site_partition_pk" PRIMARY KEY("day_ts","site","partition")
);
--> statement-breakpoint
CREATE TABLE "hub_wait_month" (
	"month_ts" bigint NOT NULL,
	"site" text NOT NULL,
	"partition" text NOT NULL,
	"n" integer NOT NULL,
	"sum_ms" double precision NOT NULL,
	"waits" "bytea" NOT NULL,
	CONSTRAINT "hub_wait_month_month_ts_site_partition_pk" PRIMARY KEY("month_ts","site","partition")
);
--> statement-breakpoint
DROP INDEX "hub_jobs_partition_wait";--> statement-breakpoint
INSERT INTO "hub_wait_day" ("day_ts", "site", "partition", "n", "sum_ms", "waits")
SELECT "start_day_ts", "site", "partition", COUNT(*), SUM("wait_ms"), string_agg(float8send("wait_ms"::float8), ''::bytea ORDER BY "wait_ms")
FROM "hub_jobs" GROUP BY "start_day_ts", "site", "partition";
--> statement-breakpoint
INSERT INTO "hub_wait_month" ("month_ts", "site", "partition", "n", "sum_ms", "waits")
SELECT (EXTRACT(EPOCH FROM date_trunc('month', to_timestamp("start_day_ts" / 1000.0) AT TIME ZONE 'UTC')) * 1000)::bigint, "site", "partition", COUNT(*), SUM("wait_ms"),
  string_agg(float8send("wait_ms"::float8), ''::bytea ORDER BY "wait_ms")
FROM "hub_jobs" GROUP BY 1, "site", "partition";
