CREATE TABLE `alert_mails` (
	`alert_id` integer NOT NULL,
	`user_id` integer NOT NULL,
	`address` text NOT NULL,
	`sent_ts` integer,
	`attempts` integer DEFAULT 0 NOT NULL,
	`last_error` text,
	PRIMARY KEY(`alert_id`, `user_id`),
	FOREIGN KEY (`alert_id`) REFERENCES `alerts`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE TABLE `slurm_associations` (
	`cluster` text NOT NULL,
	`account` text NOT NULL,
	`user` text NOT NULL,
	`parent` text,
	`gpu_minutes` real,
	PRIMARY KEY(`cluster`, `account`, `user`)
);
--> statement-breakpoint
CREATE TABLE `slurm_coordinators` (
	`cluster` text NOT NULL,
	`account` text NOT NULL,
	`user` text NOT NULL,
	PRIMARY KEY(`cluster`, `account`, `user`)
);
--> statement-breakpoint
ALTER TABLE `allocations` ADD `source` text DEFAULT 'admin' NOT NULL;--> statement-breakpoint
ALTER TABLE `users` ADD `email` text;--> statement-breakpoint
ALTER TABLE `users` ADD `lang` text;