-- Hand edit: rollup tables keyed by composite primary keys are WITHOUT ROWID (drizzle cannot
-- declare it; test/integration/schema.test.ts guards this), and the triggers at the end mark
-- the hours whose energy attribution must be recomputed (attribution-rollup.service.ts).
CREATE TABLE `energy_dirty_hour` (
	`hour_ts` integer PRIMARY KEY NOT NULL
);
--> statement-breakpoint
CREATE TABLE `energy_hour` (
	`hour_ts` integer PRIMARY KEY NOT NULL,
	`it_kwh` real NOT NULL,
	`overhead_kwh` real NOT NULL,
	`reused_kwh` real NOT NULL,
	`co2_kg` real NOT NULL
);
--> statement-breakpoint
CREATE TABLE `energy_job` (
	`cluster` text NOT NULL,
	`job_id` text NOT NULL,
	`account` text NOT NULL,
	`first_hour_ts` integer NOT NULL,
	`last_hour_ts` integer NOT NULL,
	`hours` integer NOT NULL,
	`energy_kwh` real NOT NULL,
	`idle_gpu_s` real NOT NULL,
	`gapped` integer NOT NULL,
	PRIMARY KEY(`cluster`, `job_id`)
) WITHOUT ROWID;
--> statement-breakpoint
CREATE INDEX `energy_job_energy` ON `energy_job` (`energy_kwh`,`cluster`,`job_id`,`first_hour_ts`,`last_hour_ts`);--> statement-breakpoint
CREATE INDEX `energy_job_first` ON `energy_job` (`first_hour_ts`);--> statement-breakpoint
CREATE INDEX `energy_job_account` ON `energy_job` (`account`,`first_hour_ts`);--> statement-breakpoint
CREATE INDEX `energy_job_gapped` ON `energy_job` (`first_hour_ts`) WHERE "energy_job"."gapped" = 1;--> statement-breakpoint
CREATE TABLE `energy_job_inferred` (
	`hour_ts` integer NOT NULL,
	`cluster` text NOT NULL,
	`job_id` text NOT NULL,
	`energy_kwh` real NOT NULL,
	PRIMARY KEY(`hour_ts`, `cluster`, `job_id`)
) WITHOUT ROWID;
--> statement-breakpoint
CREATE INDEX `energy_job_inferred_job` ON `energy_job_inferred` (`cluster`,`job_id`);--> statement-breakpoint
CREATE TABLE `energy_project_day` (
	`day_ts` integer NOT NULL,
	`account` text NOT NULL,
	`it_kwh` real DEFAULT 0 NOT NULL,
	`overhead_kwh` real DEFAULT 0 NOT NULL,
	`reused_kwh` real DEFAULT 0 NOT NULL,
	`co2_kg` real DEFAULT 0 NOT NULL,
	PRIMARY KEY(`day_ts`, `account`)
) WITHOUT ROWID;
--> statement-breakpoint
CREATE TABLE `energy_project_hour` (
	`hour_ts` integer NOT NULL,
	`account` text NOT NULL,
	`it_kwh` real DEFAULT 0 NOT NULL,
	`overhead_kwh` real DEFAULT 0 NOT NULL,
	`reused_kwh` real DEFAULT 0 NOT NULL,
	`co2_kg` real DEFAULT 0 NOT NULL,
	PRIMARY KEY(`hour_ts`, `account`)
) WITHOUT ROWID;
--> statement-breakpoint
CREATE TABLE `energy_project_month` (
	`month_ts` integer NOT NULL,
	`account` text NOT NULL,
	`it_kwh` real DEFAULT 0 NOT NULL,
	`overhead_kwh` real DEFAULT 0 NOT NULL,
	`reused_kwh` real DEFAULT 0 NOT NULL,
	`co2_kg` real DEFAULT 0 NOT NULL,
	PRIMARY KEY(`month_ts`, `account`)
) WITHOUT ROWID;--> statement-breakpoint
CREATE TRIGGER `energy_dirty_job_hour_insert` AFTER INSERT ON `job_hour` BEGIN
  INSERT INTO energy_dirty_hour (hour_ts) VALUES (NEW.hour_ts) ON CONFLICT DO NOTHING;
END;
--> statement-breakpoint
CREATE TRIGGER `energy_dirty_job_hour_update` AFTER UPDATE ON `job_hour` BEGIN
  INSERT INTO energy_dirty_hour (hour_ts) VALUES (OLD.hour_ts), (NEW.hour_ts) ON CONFLICT DO NOTHING;
END;
--> statement-breakpoint
CREATE TRIGGER `energy_dirty_job_hour_delete` AFTER DELETE ON `job_hour` BEGIN
  INSERT INTO energy_dirty_hour (hour_ts) VALUES (OLD.hour_ts) ON CONFLICT DO NOTHING;
END;
--> statement-breakpoint
CREATE TRIGGER `energy_dirty_gpu_hour_insert` AFTER INSERT ON `gpu_hour` BEGIN
  INSERT INTO energy_dirty_hour (hour_ts) VALUES (NEW.hour_ts) ON CONFLICT DO NOTHING;
END;
--> statement-breakpoint
CREATE TRIGGER `energy_dirty_gpu_hour_update` AFTER UPDATE ON `gpu_hour` BEGIN
  INSERT INTO energy_dirty_hour (hour_ts) VALUES (OLD.hour_ts), (NEW.hour_ts) ON CONFLICT DO NOTHING;
END;
--> statement-breakpoint
CREATE TRIGGER `energy_dirty_gpu_hour_delete` AFTER DELETE ON `gpu_hour` BEGIN
  INSERT INTO energy_dirty_hour (hour_ts) VALUES (OLD.hour_ts) ON CONFLICT DO NOTHING;
END;
--> statement-breakpoint
CREATE TRIGGER `energy_dirty_facility_interval_insert` AFTER INSERT ON `facility_interval` BEGIN
  INSERT INTO energy_dirty_hour (hour_ts) VALUES (NEW.interval_ts - NEW.interval_ts % 3600000) ON CONFLICT DO NOTHING;
END;
--> statement-breakpoint
CREATE TRIGGER `energy_dirty_facility_interval_update` AFTER UPDATE ON `facility_interval` BEGIN
  INSERT INTO energy_dirty_hour (hour_ts) VALUES (OLD.interval_ts - OLD.interval_ts % 3600000), (NEW.interval_ts - NEW.interval_ts % 3600000) ON CONFLICT DO NOTHING;
END;
--> statement-breakpoint
CREATE TRIGGER `energy_dirty_facility_interval_delete` AFTER DELETE ON `facility_interval` BEGIN
  INSERT INTO energy_dirty_hour (hour_ts) VALUES (OLD.interval_ts - OLD.interval_ts % 3600000) ON CONFLICT DO NOTHING;
END;
--> statement-breakpoint
-- A job record maps its measured energy to its project, and may take inferred energy in
-- the hours where a GPU of its span named no job while busy.
CREATE TRIGGER `energy_dirty_jobs_insert` AFTER INSERT ON `jobs` BEGIN
  INSERT INTO energy_dirty_hour (hour_ts) SELECT hour_ts FROM job_hour WHERE cluster = NEW.cluster AND job_id = NEW.job_id ON CONFLICT DO NOTHING;
  INSERT INTO energy_dirty_hour (hour_ts) SELECT DISTINCT hour_ts FROM gpu_hour
    WHERE no_job_busy_s > 0 AND hour_ts > NEW.start_ts - 3600000 AND (NEW.end_ts IS NULL OR hour_ts < NEW.end_ts) ON CONFLICT DO NOTHING;
END;
--> statement-breakpoint
CREATE TRIGGER `energy_dirty_jobs_account` AFTER UPDATE OF `account` ON `jobs` WHEN OLD.account IS NOT NEW.account BEGIN
  INSERT INTO energy_dirty_hour (hour_ts) SELECT hour_ts FROM job_hour WHERE cluster = NEW.cluster AND job_id = NEW.job_id ON CONFLICT DO NOTHING;
  INSERT INTO energy_dirty_hour (hour_ts) SELECT hour_ts FROM energy_job_inferred WHERE cluster = NEW.cluster AND job_id = NEW.job_id ON CONFLICT DO NOTHING;
END;
--> statement-breakpoint
CREATE TRIGGER `energy_dirty_jobs_run` AFTER UPDATE OF `start_ts`, `end_ts`, `nodes`, `gpus` ON `jobs`
  WHEN OLD.start_ts IS NOT NEW.start_ts OR OLD.end_ts IS NOT NEW.end_ts OR OLD.nodes IS NOT NEW.nodes OR OLD.gpus IS NOT NEW.gpus BEGIN
  INSERT INTO energy_dirty_hour (hour_ts) SELECT DISTINCT hour_ts FROM gpu_hour
    WHERE no_job_busy_s > 0 AND hour_ts > OLD.start_ts - 3600000 AND (OLD.end_ts IS NULL OR hour_ts < OLD.end_ts) ON CONFLICT DO NOTHING;
  INSERT INTO energy_dirty_hour (hour_ts) SELECT DISTINCT hour_ts FROM gpu_hour
    WHERE no_job_busy_s > 0 AND hour_ts > NEW.start_ts - 3600000 AND (NEW.end_ts IS NULL OR hour_ts < NEW.end_ts) ON CONFLICT DO NOTHING;
END;
--> statement-breakpoint
CREATE TRIGGER `energy_dirty_jobs_delete` AFTER DELETE ON `jobs` BEGIN
  INSERT INTO energy_dirty_hour (hour_ts) SELECT hour_ts FROM job_hour WHERE cluster = OLD.cluster AND job_id = OLD.job_id ON CONFLICT DO NOTHING;
  INSERT INTO energy_dirty_hour (hour_ts) SELECT DISTINCT hour_ts FROM gpu_hour
    WHERE no_job_busy_s > 0 AND hour_ts > OLD.start_ts - 3600000 AND (OLD.end_ts IS NULL OR hour_ts < OLD.end_ts) ON CONFLICT DO NOTHING;
END;
--> statement-breakpoint
-- Inference finds a GPU's node through the gpus table.
CREATE TRIGGER `energy_dirty_gpu_moved` AFTER UPDATE OF `node_id` ON `gpus` WHEN OLD.node_id IS NOT NEW.node_id BEGIN
  INSERT INTO energy_dirty_hour (hour_ts) SELECT hour_ts FROM gpu_hour WHERE no_job_busy_s > 0 AND gpu_id = NEW.id ON CONFLICT DO NOTHING;
END;
