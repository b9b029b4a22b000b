ALTER TABLE `gpu_hour` ADD `no_job_busy_s` real DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX `gpu_hour_busy_unnamed` ON `gpu_hour` (`hour_ts`) WHERE "gpu_hour"."no_job_busy_s" > 0;