CREATE TABLE `job_gpu` (
	`cluster` text NOT NULL,
	`job_id` text NOT NULL,
	`gpu_id` integer NOT NULL,
	`gpu_s` real DEFAULT 0 NOT NULL,
	`idle_s` real DEFAULT 0 NOT NULL,
	`util_pct_s` real DEFAULT 0 NOT NULL,
	`util_s` real DEFAULT 0 NOT NULL,
	`util_peak_pct` real,
	`mem_peak_mib` real,
	PRIMARY KEY(`cluster`, `job_id`, `gpu_id`)
);
