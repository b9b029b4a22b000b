DROP INDEX `jobs_end`;--> statement-breakpoint
CREATE INDEX `jobs_end` ON `jobs` (`end_ts`,`start_ts`,`gpus`,`account`,`user`,`partition`);