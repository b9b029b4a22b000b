-- Hand edit: raw and rollup tables keyed by composite primary keys are WITHOUT ROWID
-- (drizzle cannot declare it); test/integration/schema.test.ts guards this.
CREATE TABLE `allocations` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`project_id` integer NOT NULL,
	`parent_id` integer,
	`resource` text DEFAULT 'gpu_hours' NOT NULL,
	`amount` real NOT NULL,
	`period_start_ts` integer NOT NULL,
	`period_end_ts` integer NOT NULL,
	`created_ts` integer NOT NULL,
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `allocations_project` ON `allocations` (`project_id`);--> statement-breakpoint
CREATE TABLE `api_tokens` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`scope` text NOT NULL,
	`token_hash` text NOT NULL,
	`created_ts` integer NOT NULL,
	`revoked_ts` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `api_tokens_token_hash_unique` ON `api_tokens` (`token_hash`);--> statement-breakpoint
CREATE TABLE `clusters` (
	`id` text PRIMARY KEY NOT NULL,
	`site_id` text,
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE TABLE `facility_cursor` (
	`site` text NOT NULL,
	`meter` text NOT NULL,
	`quantity` text NOT NULL,
	`ts` integer NOT NULL,
	`value` real NOT NULL,
	PRIMARY KEY(`site`, `meter`, `quantity`)
);
--> statement-breakpoint
CREATE TABLE `facility_interval` (
	`interval_ts` integer NOT NULL,
	`site` text NOT NULL,
	`quantity` text NOT NULL,
	`meter` text NOT NULL,
	`integral_wh` real DEFAULT 0 NOT NULL,
	`increase` real DEFAULT 0 NOT NULL,
	`value_s` real DEFAULT 0 NOT NULL,
	`covered_s` real DEFAULT 0 NOT NULL,
	PRIMARY KEY(`interval_ts`, `site`, `quantity`, `meter`)
) WITHOUT ROWID;
--> statement-breakpoint
CREATE TABLE `facility_readings` (
	`ts` integer NOT NULL,
	`site` text NOT NULL,
	`meter` text NOT NULL,
	`quantity` text NOT NULL,
	`value` real NOT NULL,
	PRIMARY KEY(`site`, `meter`, `quantity`, `ts`)
) WITHOUT ROWID;
--> statement-breakpoint
CREATE TABLE `gpu_cursor` (
	`gpu_id` integer PRIMARY KEY NOT NULL,
	`ts` integer NOT NULL,
	`util_pct` real,
	`power_w` real,
	`job_ids` text
);
--> statement-breakpoint
CREATE TABLE `gpu_hour` (
	`hour_ts` integer NOT NULL,
	`gpu_id` integer NOT NULL,
	`energy_wh` real DEFAULT 0 NOT NULL,
	`covered_s` real DEFAULT 0 NOT NULL,
	`util_pct_s` real DEFAULT 0 NOT NULL,
	`job_s` real DEFAULT 0 NOT NULL,
	PRIMARY KEY(`hour_ts`, `gpu_id`)
) WITHOUT ROWID;
--> statement-breakpoint
CREATE TABLE `gpu_samples` (
	`ts` integer NOT NULL,
	`gpu_id` integer NOT NULL,
	`util_pct` real,
	`mem_used_mib` real,
	`power_w` real,
	`temp_c` real,
	`job_ids` text,
	PRIMARY KEY(`ts`, `gpu_id`)
) WITHOUT ROWID;
--> statement-breakpoint
CREATE TABLE `gpus` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`uuid` text NOT NULL,
	`node_id` integer NOT NULL,
	`gpu_index` integer NOT NULL,
	`model` text,
	`mem_total_mib` real,
	`power_limit_w` real,
	`first_seen_ts` integer NOT NULL,
	FOREIGN KEY (`node_id`) REFERENCES `nodes`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `gpus_uuid` ON `gpus` (`uuid`);--> statement-breakpoint
CREATE TABLE `ingest_batches` (
	`key` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`accepted` integer NOT NULL,
	`received_ts` integer DEFAULT (unixepoch() * 1000) NOT NULL
);
--> statement-breakpoint
CREATE TABLE `job_hour` (
	`hour_ts` integer NOT NULL,
	`cluster` text NOT NULL,
	`job_id` text NOT NULL,
	`energy_wh` real DEFAULT 0 NOT NULL,
	`gpu_s` real DEFAULT 0 NOT NULL,
	`util_pct_s` real DEFAULT 0 NOT NULL,
	`idle_gpu_s` real DEFAULT 0 NOT NULL,
	PRIMARY KEY(`hour_ts`, `cluster`, `job_id`)
) WITHOUT ROWID;
--> statement-breakpoint
CREATE INDEX `job_hour_job` ON `job_hour` (`cluster`,`job_id`);--> statement-breakpoint
CREATE TABLE `jobs` (
	`cluster` text NOT NULL,
	`job_id` text NOT NULL,
	`array_job_id` text,
	`name` text,
	`user` text NOT NULL,
	`account` text NOT NULL,
	`partition` text,
	`qos` text,
	`state` text NOT NULL,
	`submit_ts` integer NOT NULL,
	`eligible_ts` integer,
	`start_ts` integer,
	`end_ts` integer,
	`gpus` integer NOT NULL,
	`gpu_type` text,
	`cpus` integer,
	`nodes` text DEFAULT '[]' NOT NULL,
	`exit_code` integer,
	`record_hash` text NOT NULL,
	`updated_ts` integer NOT NULL,
	PRIMARY KEY(`cluster`, `job_id`)
);
--> statement-breakpoint
CREATE INDEX `jobs_start` ON `jobs` (`start_ts`);--> statement-breakpoint
CREATE INDEX `jobs_end` ON `jobs` (`end_ts`);--> statement-breakpoint
CREATE INDEX `jobs_account` ON `jobs` (`account`);--> statement-breakpoint
CREATE INDEX `jobs_state` ON `jobs` (`state`);--> statement-breakpoint
CREATE TABLE `nodes` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`cluster` text NOT NULL,
	`name` text NOT NULL,
	`first_seen_ts` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `nodes_cluster_name` ON `nodes` (`cluster`,`name`);--> statement-breakpoint
CREATE TABLE `project_day` (
	`day_ts` integer NOT NULL,
	`cluster` text NOT NULL,
	`account` text NOT NULL,
	`gpu_s` real DEFAULT 0 NOT NULL,
	`jobs_ended` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`day_ts`, `cluster`, `account`)
) WITHOUT ROWID;
--> statement-breakpoint
CREATE TABLE `project_members` (
	`project_id` integer NOT NULL,
	`user_id` integer NOT NULL,
	`is_pi` integer DEFAULT false NOT NULL,
	PRIMARY KEY(`project_id`, `user_id`),
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE TABLE `projects` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`title` text,
	`parent_id` integer,
	`created_ts` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `projects_name_unique` ON `projects` (`name`);--> statement-breakpoint
CREATE TABLE `sessions` (
	`id_hash` text PRIMARY KEY NOT NULL,
	`user_id` integer NOT NULL,
	`created_ts` integer NOT NULL,
	`expires_ts` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE TABLE `sites` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`heat_pump_on_site` integer DEFAULT true NOT NULL
);
--> statement-breakpoint
CREATE TABLE `users` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`username` text NOT NULL,
	`role` text NOT NULL,
	`password_hash` text,
	`created_ts` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `users_username_unique` ON `users` (`username`);