-- The one freshness mechanism (db/stamps.ts): per family and bucket, a count bumped by
-- triggers in the transaction of every change a family's kept answers depend on, whichever
-- connection or process writes. Families: usage (month, the monthly usage rollups),
-- attribution (UTC day, the stored attribution hours), energy (UTC day, any input of an
-- hour's energy: every mark of energy_dirty_hour), waits (UTC start day, what can move a
-- wait; was wait_day_version), owners (bucket 0, a job record's account, user or partition
-- rewritten or removed: the writers' job lookups).
CREATE TABLE `change_stamp` (
	`family` text NOT NULL,
	`bucket_ts` integer NOT NULL,
	`n` integer NOT NULL,
	PRIMARY KEY(`family`, `bucket_ts`)
) WITHOUT ROWID;
--> statement-breakpoint
DROP TRIGGER `wait_day_jobs_insert`;
--> statement-breakpoint
DROP TRIGGER `wait_day_jobs_replace`;
--> statement-breakpoint
DROP TRIGGER `wait_day_jobs_update`;
--> statement-breakpoint
DROP TRIGGER `wait_day_jobs_delete`;
--> statement-breakpoint
INSERT INTO change_stamp (family, bucket_ts, n) SELECT 'waits', day_ts, changes FROM wait_day_version;
--> statement-breakpoint
CREATE TRIGGER `wait_day_jobs_insert` AFTER INSERT ON `jobs` WHEN NEW.start_ts IS NOT NULL BEGIN
  INSERT INTO change_stamp (family, bucket_ts, n) VALUES ('waits', NEW.start_ts - (NEW.start_ts % 86400000 + 86400000) % 86400000, 1) ON CONFLICT (family, bucket_ts) DO UPDATE SET n = n + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `wait_day_jobs_replace` BEFORE INSERT ON `jobs` BEGIN
  INSERT INTO change_stamp (family, bucket_ts, n)
  SELECT 'waits', start_ts - (start_ts % 86400000 + 86400000) % 86400000, 1 FROM jobs
  WHERE cluster = NEW.cluster AND job_id = NEW.job_id AND start_ts IS NOT NULL
    AND (start_ts IS NOT NEW.start_ts OR submit_ts IS NOT NEW.submit_ts OR eligible_ts IS NOT NEW.eligible_ts
    OR account IS NOT NEW.account OR partition IS NOT NEW.partition OR gpus IS NOT NEW.gpus
    OR (end_ts = start_ts AND start_ts = submit_ts AND nodes = '[]') IS NOT (NEW.end_ts = NEW.start_ts AND NEW.start_ts = NEW.submit_ts AND NEW.nodes = '[]'))
  ON CONFLICT (family, bucket_ts) DO UPDATE SET n = n + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `wait_day_jobs_update` AFTER UPDATE ON `jobs`
  WHEN OLD.start_ts IS NOT NEW.start_ts OR OLD.submit_ts IS NOT NEW.submit_ts OR OLD.eligible_ts IS NOT NEW.eligible_ts
    OR OLD.account IS NOT NEW.account OR OLD.partition IS NOT NEW.partition OR OLD.gpus IS NOT NEW.gpus
    OR (OLD.end_ts = OLD.start_ts AND OLD.start_ts = OLD.submit_ts AND OLD.nodes = '[]') IS NOT (NEW.end_ts = NEW.start_ts AND NEW.start_ts = NEW.submit_ts AND NEW.nodes = '[]')
BEGIN
  INSERT INTO change_stamp (family, bucket_ts, n) SELECT 'waits', OLD.start_ts - (OLD.start_ts % 86400000 + 86400000) % 86400000, 1 WHERE OLD.start_ts IS NOT NULL ON CONFLICT (family, bucket_ts) DO UPDATE SET n = n + 1;
  INSERT INTO change_stamp (family, bucket_ts, n) SELECT 'waits', NEW.start_ts - (NEW.start_ts % 86400000 + 86400000) % 86400000, 1 WHERE NEW.start_ts IS NOT NULL ON CONFLICT (family, bucket_ts) DO UPDATE SET n = n + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `wait_day_jobs_delete` AFTER DELETE ON `jobs` WHEN OLD.start_ts IS NOT NULL BEGIN
  INSERT INTO change_stamp (family, bucket_ts, n) VALUES ('waits', OLD.start_ts - (OLD.start_ts % 86400000 + 86400000) % 86400000, 1) ON CONFLICT (family, bucket_ts) DO UPDATE SET n = n + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `stamp_usage_month_insert` AFTER INSERT ON `usage_month` BEGIN
  INSERT INTO change_stamp (family, bucket_ts, n) VALUES ('usage', NEW.month_ts, 1) ON CONFLICT (family, bucket_ts) DO UPDATE SET n = n + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `stamp_usage_month_update` AFTER UPDATE ON `usage_month` BEGIN
  INSERT INTO change_stamp (family, bucket_ts, n) VALUES ('usage', NEW.month_ts, 1) ON CONFLICT (family, bucket_ts) DO UPDATE SET n = n + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `stamp_usage_month_delete` AFTER DELETE ON `usage_month` BEGIN
  INSERT INTO change_stamp (family, bucket_ts, n) VALUES ('usage', OLD.month_ts, 1) ON CONFLICT (family, bucket_ts) DO UPDATE SET n = n + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `stamp_usage_month_project_insert` AFTER INSERT ON `usage_month_project` BEGIN
  INSERT INTO change_stamp (family, bucket_ts, n) VALUES ('usage', NEW.month_ts, 1) ON CONFLICT (family, bucket_ts) DO UPDATE SET n = n + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `stamp_usage_month_project_update` AFTER UPDATE ON `usage_month_project` BEGIN
  INSERT INTO change_stamp (family, bucket_ts, n) VALUES ('usage', NEW.month_ts, 1) ON CONFLICT (family, bucket_ts) DO UPDATE SET n = n + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `stamp_usage_month_project_delete` AFTER DELETE ON `usage_month_project` BEGIN
  INSERT INTO change_stamp (family, bucket_ts, n) VALUES ('usage', OLD.month_ts, 1) ON CONFLICT (family, bucket_ts) DO UPDATE SET n = n + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `stamp_energy_project_hour_insert` AFTER INSERT ON `energy_project_hour` BEGIN
  INSERT INTO change_stamp (family, bucket_ts, n) VALUES ('attribution', NEW.hour_ts - (NEW.hour_ts % 86400000 + 86400000) % 86400000, 1) ON CONFLICT (family, bucket_ts) DO UPDATE SET n = n + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `stamp_energy_project_hour_update` AFTER UPDATE ON `energy_project_hour` BEGIN
  INSERT INTO change_stamp (family, bucket_ts, n) VALUES ('attribution', NEW.hour_ts - (NEW.hour_ts % 86400000 + 86400000) % 86400000, 1) ON CONFLICT (family, bucket_ts) DO UPDATE SET n = n + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `stamp_energy_project_hour_delete` AFTER DELETE ON `energy_project_hour` BEGIN
  INSERT INTO change_stamp (family, bucket_ts, n) VALUES ('attribution', OLD.hour_ts - (OLD.hour_ts % 86400000 + 86400000) % 86400000, 1) ON CONFLICT (family, bucket_ts) DO UPDATE SET n = n + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `stamp_energy_hour_insert` AFTER INSERT ON `energy_hour` BEGIN
  INSERT INTO change_stamp (family, bucket_ts, n) VALUES ('attribution', NEW.hour_ts - (NEW.hour_ts % 86400000 + 86400000) % 86400000, 1) ON CONFLICT (family, bucket_ts) DO UPDATE SET n = n + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `stamp_energy_hour_update` AFTER UPDATE ON `energy_hour` BEGIN
  INSERT INTO change_stamp (family, bucket_ts, n) VALUES ('attribution', NEW.hour_ts - (NEW.hour_ts % 86400000 + 86400000) % 86400000, 1) ON CONFLICT (family, bucket_ts) DO UPDATE SET n = n + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `stamp_energy_hour_delete` AFTER DELETE ON `energy_hour` BEGIN
  INSERT INTO change_stamp (family, bucket_ts, n) VALUES ('attribution', OLD.hour_ts - (OLD.hour_ts % 86400000 + 86400000) % 86400000, 1) ON CONFLICT (family, bucket_ts) DO UPDATE SET n = n + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `stamp_energy_dirty_hour` BEFORE INSERT ON `energy_dirty_hour` BEGIN
  INSERT INTO change_stamp (family, bucket_ts, n) VALUES ('energy', NEW.hour_ts - (NEW.hour_ts % 86400000 + 86400000) % 86400000, 1) ON CONFLICT (family, bucket_ts) DO UPDATE SET n = n + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `stamp_jobs_owner` AFTER UPDATE OF `account`, `user`, `partition` ON `jobs` WHEN OLD.account IS NOT NEW.account OR OLD.user IS NOT NEW.user OR OLD.partition IS NOT NEW.partition BEGIN
  INSERT INTO change_stamp (family, bucket_ts, n) VALUES ('owners', 0, 1) ON CONFLICT (family, bucket_ts) DO UPDATE SET n = n + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `stamp_jobs_owner_delete` AFTER DELETE ON `jobs` BEGIN
  INSERT INTO change_stamp (family, bucket_ts, n) VALUES ('owners', 0, 1) ON CONFLICT (family, bucket_ts) DO UPDATE SET n = n + 1;
END;
