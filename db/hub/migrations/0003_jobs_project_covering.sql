-- A project's waits (a researcher's, the review pack's) by an index-only scan: the index
-- carries what they read. drizzle's index builder has no INCLUDE, so db/hub/schema.ts names
-- the key columns only.
DROP INDEX IF EXISTS "hub_jobs_project";
--> statement-breakpoint
CREATE INDEX "hub_jobs_project" ON "hub_jobs" USING btree ("project", "start_ts") INCLUDE ("site", "partition", "wait_ms");
