ALTER TABLE `gpu_cursor` ADD `energy_j` real;--> statement-breakpoint
ALTER TABLE `gpu_cursor` ADD `sm_active` real;--> statement-breakpoint
ALTER TABLE `gpu_cursor` ADD `tensor_active` real;--> statement-breakpoint
ALTER TABLE `gpu_cursor` ADD `gr_active` real;--> statement-breakpoint
ALTER TABLE `gpu_cursor` ADD `dram_active` real;--> statement-breakpoint
ALTER TABLE `gpu_hour` ADD `counter_wh` real DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `gpu_samples` ADD `energy_j` real;--> statement-breakpoint
ALTER TABLE `gpu_samples` ADD `sm_active` real;--> statement-breakpoint
ALTER TABLE `gpu_samples` ADD `tensor_active` real;--> statement-breakpoint
ALTER TABLE `gpu_samples` ADD `gr_active` real;--> statement-breakpoint
ALTER TABLE `gpu_samples` ADD `dram_active` real;--> statement-breakpoint
ALTER TABLE `job_hour` ADD `counter_wh` real DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `job_hour` ADD `sm_active_s` real DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `job_hour` ADD `sm_s` real DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `job_hour` ADD `tensor_active_s` real DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `job_hour` ADD `tensor_s` real DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `job_hour` ADD `gr_active_s` real DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `job_hour` ADD `gr_s` real DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `job_hour` ADD `dram_active_s` real DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `job_hour` ADD `dram_s` real DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX `job_hour_dcgm_job` ON `job_hour` (`cluster`,`job_id`,`hour_ts`) WHERE "job_hour"."counter_wh" + "job_hour"."sm_s" + "job_hour"."tensor_s" + "job_hour"."gr_s" + "job_hour"."dram_s" > 0;--> statement-breakpoint
CREATE INDEX `job_hour_dcgm_hour` ON `job_hour` (`hour_ts`) WHERE "job_hour"."counter_wh" + "job_hour"."sm_s" + "job_hour"."tensor_s" + "job_hour"."gr_s" + "job_hour"."dram_s" > 0;