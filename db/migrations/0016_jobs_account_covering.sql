DROP INDEX `jobs_account`;--> statement-breakpoint
CREATE INDEX `jobs_account` ON `jobs` (`account`,`end_ts`,`start_ts`,`gpus`,`user`,`partition`);