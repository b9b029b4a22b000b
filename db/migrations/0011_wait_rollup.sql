-- The wait rollup (server/services/wait-rollup.service.ts). wait_runs keeps its rowid: its
-- rows hold blobs of up to megabytes. The triggers at the end count, per UTC start day, the
-- job record changes that can move a wait statistic (the fields startedJobs in
-- db/queries/waits.ts reads, and its rejected-submission test); the rollup's stamps are
-- sums of these counts, so writes by any connection or process invalidate it.
CREATE TABLE `wait_day_version` (
	`day_ts` integer PRIMARY KEY NOT NULL,
	`changes` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `wait_runs` (
	`grouping` text NOT NULL,
	`span` text NOT NULL,
	`start_ts` integer NOT NULL,
	`stamp` integer NOT NULL,
	`keys` text NOT NULL,
	`wait_counts` blob NOT NULL,
	`waits` blob NOT NULL,
	`eligible_counts` blob NOT NULL,
	`eligible` blob NOT NULL,
	PRIMARY KEY(`grouping`, `span`, `start_ts`)
);
--> statement-breakpoint
CREATE INDEX `jobs_partition_submit` ON `jobs` (`partition`,`submit_ts`,`gpus`,`start_ts`);
--> statement-breakpoint
-- Days that already hold started jobs: their runs are built on first read.
INSERT INTO wait_day_version (day_ts, changes) SELECT DISTINCT start_ts - (start_ts % 86400000 + 86400000) % 86400000, 1 FROM jobs WHERE start_ts IS NOT NULL;
--> statement-breakpoint
CREATE TRIGGER `wait_day_jobs_insert` AFTER INSERT ON `jobs` WHEN NEW.start_ts IS NOT NULL BEGIN
  INSERT INTO wait_day_version (day_ts, changes) VALUES (NEW.start_ts - (NEW.start_ts % 86400000 + 86400000) % 86400000, 1) ON CONFLICT (day_ts) DO UPDATE SET changes = changes + 1;
END;
--> statement-breakpoint
-- INSERT OR REPLACE deletes the old row without firing delete triggers: count its day here.
CREATE TRIGGER `wait_day_jobs_replace` BEFORE INSERT ON `jobs` BEGIN
  INSERT INTO wait_day_version (day_ts, changes)
  SELECT start_ts - (start_ts % 86400000 + 86400000) % 86400000, 1 FROM jobs
  WHERE cluster = NEW.cluster AND job_id = NEW.job_id AND start_ts IS NOT NULL
    AND (start_ts IS NOT NEW.start_ts OR submit_ts IS NOT NEW.submit_ts OR eligible_ts IS NOT NEW.eligible_ts
    OR account IS NOT NEW.account OR partition IS NOT NEW.partition OR gpus IS NOT NEW.gpus
    OR (end_ts = start_ts AND start_ts = submit_ts AND nodes = '[]') IS NOT (NEW.end_ts = NEW.start_ts AND NEW.start_ts = NEW.submit_ts AND NEW.nodes = '[]'))
  ON CONFLICT (day_ts) DO UPDATE SET changes = changes + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `wait_day_jobs_update` AFTER UPDATE ON `jobs`
  WHEN OLD.start_ts IS NOT NEW.start_ts OR OLD.submit_ts IS NOT NEW.submit_ts OR OLD.eligible_ts IS NOT NEW.eligible_ts
    OR OLD.account IS NOT NEW.account OR OLD.partition IS NOT NEW.partition OR OLD.gpus IS NOT NEW.gpus
    OR (OLD.end_ts = OLD.start_ts AND OLD.start_ts = OLD.submit_ts AND OLD.nodes = '[]') IS NOT (NEW.end_ts = NEW.start_ts AND NEW.start_ts = NEW.submit_ts AND NEW.nodes = '[]')
BEGIN
  INSERT INTO wait_day_version (day_ts, changes) SELECT OLD.start_ts - (OLD.start_ts % 86400000 + 86400000) % 86400000, 1 WHERE OLD.start_ts IS NOT NULL ON CONFLICT (day_ts) DO UPDATE SET changes = changes + 1;
  INSERT INTO wait_day_version (day_ts, changes) SELECT NEW.start_ts - (NEW.start_ts % 86400000 + 86400000) % 86400000, 1 WHERE NEW.start_ts IS NOT NULL ON CONFLICT (day_ts) DO UPDATE SET changes = changes + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `wait_day_jobs_delete` AFTER DELETE ON `jobs` WHEN OLD.start_ts IS NOT NULL BEGIN
  INSERT INTO wait_day_version (day_ts, changes) VALUES (OLD.start_ts - (OLD.start_ts % 86400000 + 86400000) % 86400000, 1) ON CONFLICT (day_ts) DO UPDATE SET changes = changes + 1;
END;
