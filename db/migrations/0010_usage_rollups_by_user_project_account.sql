-- usage_day and usage_month lose the partition (usage_day_project keeps it) and are
-- refilled from the job records at the next open (usage-rollup.service.ts, ROLLUP_VERSION).
CREATE TABLE `usage_day_account` (
	`day_ts` integer NOT NULL,
	`account` text NOT NULL,
	`alloc_gpu_s` real DEFAULT 0 NOT NULL,
	`jobs_active` integer DEFAULT 0 NOT NULL,
	`jobs_started` integer DEFAULT 0 NOT NULL,
	`energy_wh` real DEFAULT 0 NOT NULL,
	`measured_gpu_s` real DEFAULT 0 NOT NULL,
	`idle_gpu_s` real DEFAULT 0 NOT NULL,
	PRIMARY KEY(`day_ts`, `account`)
) WITHOUT ROWID;
--> statement-breakpoint
DROP TABLE `usage_day`;--> statement-breakpoint
CREATE TABLE `usage_day` (
	`day_ts` integer NOT NULL,
	`account` text NOT NULL,
	`user` text NOT NULL,
	`alloc_gpu_s` real DEFAULT 0 NOT NULL,
	`jobs_active` integer DEFAULT 0 NOT NULL,
	`jobs_started` integer DEFAULT 0 NOT NULL,
	`energy_wh` real DEFAULT 0 NOT NULL,
	`measured_gpu_s` real DEFAULT 0 NOT NULL,
	`idle_gpu_s` real DEFAULT 0 NOT NULL,
	PRIMARY KEY(`day_ts`, `account`, `user`)
) WITHOUT ROWID;
--> statement-breakpoint
DROP TABLE `usage_month`;--> statement-breakpoint
CREATE TABLE `usage_month` (
	`month_ts` integer NOT NULL,
	`account` text NOT NULL,
	`user` text NOT NULL,
	`alloc_gpu_s` real DEFAULT 0 NOT NULL,
	`jobs_active` integer DEFAULT 0 NOT NULL,
	`jobs_started` integer DEFAULT 0 NOT NULL,
	`energy_wh` real DEFAULT 0 NOT NULL,
	`measured_gpu_s` real DEFAULT 0 NOT NULL,
	`idle_gpu_s` real DEFAULT 0 NOT NULL,
	PRIMARY KEY(`month_ts`, `account`, `user`)
) WITHOUT ROWID;
