CREATE TABLE "hub_audit" (
	"id" serial PRIMARY KEY NOT NULL,
	"ts" bigint NOT NULL,
	"actor" text NOT NULL,
	"action" text NOT NULL,
	"target" text NOT NULL,
	"details" text DEFAULT '{}'
);
--> statement-breakpoint
CREATE TABLE "hub_facility_hour" (
	"site" text NOT NULL,
	"hour_ts" bigint NOT NULL,
	"it_kwh" double precision,
	"facility_kwh" double precision,
	"reused_kwh" double precision,
	"cooling_kwh" double precision,
	"co2_kg" double precision,
	CONSTRAINT "hub_facility_hour_site_hour_ts_pk" PRIMARY KEY("site","hour_ts")
);
--> statement-breakpoint
CREATE TABLE "hub_grants" (
	"site" text NOT NULL,
	"project" text NOT NULL,
	"from_ts" bigint NOT NULL,
	"to_ts" bigint NOT NULL,
	"gpu_hours" double precision NOT NULL,
	CONSTRAINT "hub_grants_site_project_from_ts_pk" PRIMARY KEY("site","project","from_ts")
);
--> statement-breakpoint
CREATE TABLE "hub_jobs" (
	"site" text NOT NULL,
	"cluster" text NOT NULL,
	"job_id" text NOT NULL,
	"project" text NOT NULL,
	"user_name" text NOT NULL,
	"partition" text NOT NULL,
	"gpus" integer NOT NULL,
	"submit_ts" bigint NOT NULL,
	"start_ts" bigint NOT NULL,
	"end_ts" bigint,
	"state" text NOT NULL,
	"energy_kwh" double precision DEFAULT 0 NOT NULL,
	"start_day_ts" bigint NOT NULL,
	"wait_ms" bigint NOT NULL,
	CONSTRAINT "hub_jobs_site_cluster_job_id_pk" PRIMARY KEY("site","cluster","job_id")
);
--> statement-breakpoint
CREATE TABLE "hub_members" (
	"username" text NOT NULL,
	"project" text NOT NULL,
	CONSTRAINT "hub_members_username_project_pk" PRIMARY KEY("username","project")
);
--> statement-breakpoint
CREATE TABLE "hub_sessions" (
	"id_hash" text PRIMARY KEY NOT NULL,
	"username" text NOT NULL,
	"expires_ts" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "hub_site_days" (
	"site" text NOT NULL,
	"day_ts" bigint NOT NULL,
	"hash" text NOT NULL,
	"complete_to_ts" bigint NOT NULL,
	"received_ts" bigint NOT NULL,
	CONSTRAINT "hub_site_days_site_day_ts_pk" PRIMARY KEY("site","day_ts")
);
--> statement-breakpoint
CREATE TABLE "hub_sites" (
	"name" text PRIMARY KEY NOT NULL,
	"created_ts" bigint NOT NULL,
	"grants_hash" text
);
--> statement-breakpoint
CREATE TABLE "hub_tokens" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"token_hash" text NOT NULL,
	"prefix" text NOT NULL,
	"scope" text NOT NULL,
	"site" text,
	"created_ts" bigint NOT NULL,
	"expires_ts" bigint,
	"revoked_ts" bigint,
	CONSTRAINT "hub_tokens_name_unique" UNIQUE("name"),
	CONSTRAINT "hub_tokens_token_hash_unique" UNIQUE("token_hash")
);
--> statement-breakpoint
CREATE TABLE "hub_usage_day" (
	"site" text NOT NULL,
	"day_ts" bigint NOT NULL,
	"project" text NOT NULL,
	"partition" text NOT NULL,
	"gpu_s" double precision DEFAULT 0 NOT NULL,
	"measured_gpu_s" double precision DEFAULT 0 NOT NULL,
	"energy_kwh" double precision DEFAULT 0 NOT NULL,
	"inferred_kwh" double precision DEFAULT 0 NOT NULL,
	"overhead_kwh" double precision DEFAULT 0 NOT NULL,
	"reused_kwh" double precision DEFAULT 0 NOT NULL,
	"co2_kg" double precision DEFAULT 0 NOT NULL,
	CONSTRAINT "hub_usage_day_site_day_ts_project_partition_pk" PRIMARY KEY("site","day_ts","project","partition")
);
--> statement-breakpoint
CREATE TABLE "hub_usage_hour" (
	"site" text NOT NULL,
	"hour_ts" bigint NOT NULL,
	"project" text NOT NULL,
	"user_name" text NOT NULL,
	"partition" text NOT NULL,
	"gpu_s" double precision DEFAULT 0 NOT NULL,
	"measured_gpu_s" double precision DEFAULT 0 NOT NULL,
	"energy_kwh" double precision DEFAULT 0 NOT NULL,
	"inferred_kwh" double precision DEFAULT 0 NOT NULL,
	"overhead_kwh" double precision DEFAULT 0 NOT NULL,
	"reused_kwh" double precision DEFAULT 0 NOT NULL,
	"co2_kg" double precision DEFAULT 0 NOT NULL,
	CONSTRAINT "hub_usage_hour_site_hour_ts_project_user_name_partition_pk" PRIMARY KEY("site","hour_ts","project","user_name","partition")
);
--> statement-breakpoint
CREATE TABLE "hub_usage_month" (
	"site" text NOT NULL,
	"month_ts" bigint NOT NULL,
	"project" text NOT NULL,
	"partition" text NOT NULL,
	"gpu_s" double precision DEFAULT 0 NOT NULL,
	"measured_gpu_s" double precision DEFAULT 0 NOT NULL,
	"energy_kwh" double precision DEFAULT 0 NOT NULL,
	"inferred_kwh" double precision DEFAULT 0 NOT NULL,
	"overhead_kwh" double precision DEFAULT 0 NOT NULL,
	"reused_kwh" double precision DEFAULT 0 NOT NULL,
	"co2_kg" double precision DEFAULT 0 NOT NULL,
	CONSTRAINT "hub_usage_month_site_month_ts_project_partition_pk" PRIMARY KEY("site","month_ts","project","partition")
);
--> statement-breakpoint
CREATE TABLE "hub_users" (
	"username" text PRIMARY KEY NOT NULL,
	"role" text NOT NULL,
	"password_hash" text,
	"created_ts" bigint NOT NULL
);
--> statement-breakpoint
ALTER TABLE "hub_members" ADD CONSTRAINT "hub_members_username_hub_users_username_fk" FOREIGN KEY ("username") REFERENCES "public"."hub_users"("username") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "hub_sessions" ADD CONSTRAINT "hub_sessions_username_hub_users_username_fk" FOREIGN KEY ("username") REFERENCES "public"."hub_users"("username") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "hub_tokens" ADD CONSTRAINT "hub_tokens_site_hub_sites_name_fk" FOREIGN KEY ("site") REFERENCES "public"."hub_sites"("name") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "hub_jobs_day" ON "hub_jobs" USING btree ("site","start_day_ts");--> statement-breakpoint
CREATE INDEX "hub_jobs_start" ON "hub_jobs" USING btree ("start_ts");--> statement-breakpoint
CREATE INDEX "hub_jobs_partition_wait" ON "hub_jobs" USING btree ("partition","wait_ms","start_ts");--> statement-breakpoint
CREATE INDEX "hub_jobs_project" ON "hub_jobs" USING btree ("project","start_ts");--> statement-breakpoint
CREATE INDEX "hub_usage_day_day" ON "hub_usage_day" USING btree ("day_ts");--> statement-breakpoint
CREATE INDEX "hub_usage_hour_project" ON "hub_usage_hour" USING btree ("project","hour_ts");--> statement-breakpoint
CREATE INDEX "hub_usage_month_month" ON "hub_usage_month" USING btree ("month_ts");