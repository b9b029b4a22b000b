CREATE TABLE `usage_day_project` (
	`day_ts` integer NOT NULL,
	`account` text NOT NULL,
	`partition` text NOT NULL,
	`alloc_gpu_s` real DEFAULT 0 NOT NULL,
	`jobs_active` integer DEFAULT 0 NOT NULL,
	`jobs_started` integer DEFAULT 0 NOT NULL,
	`energy_wh` real DEFAULT 0 NOT NULL,
	`measured_gpu_s` real DEFAULT 0 NOT NULL,
	`idle_gpu_s` real DEFAULT 0 NOT NULL,
	PRIMARY KEY(`day_ts`, `account`, `partition`)
) WITHOUT ROWID;
--> statement-breakpoint
CREATE TABLE `usage_month_project` (
	`month_ts` integer NOT NULL,
	`account` text NOT NULL,
	`partition` text NOT NULL,
	`alloc_gpu_s` real DEFAULT 0 NOT NULL,
	`jobs_active` integer DEFAULT 0 NOT NULL,
	`jobs_started` integer DEFAULT 0 NOT NULL,
	`energy_wh` real DEFAULT 0 NOT NULL,
	`measured_gpu_s` real DEFAULT 0 NOT NULL,
	`idle_gpu_s` real DEFAULT 0 NOT NULL,
	PRIMARY KEY(`month_ts`, `account`, `partition`)
) WITHOUT ROWID;
