CREATE TABLE `usage_day_total` (
	`day_ts` integer PRIMARY KEY NOT NULL,
	`alloc_gpu_s` real DEFAULT 0 NOT NULL,
	`jobs_active` integer DEFAULT 0 NOT NULL,
	`jobs_started` integer DEFAULT 0 NOT NULL,
	`energy_wh` real DEFAULT 0 NOT NULL,
	`measured_gpu_s` real DEFAULT 0 NOT NULL,
	`idle_gpu_s` real DEFAULT 0 NOT NULL
);
