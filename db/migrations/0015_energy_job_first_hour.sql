CREATE TABLE `energy_job_first_hour` (
	`hour_ts` integer PRIMARY KEY NOT NULL,
	`jobs` integer NOT NULL
);
--> statement-breakpoint
INSERT INTO `energy_job_first_hour` (`hour_ts`, `jobs`) SELECT `first_hour_ts`, COUNT(*) FROM `energy_job` GROUP BY `first_hour_ts`;--> statement-breakpoint
CREATE TRIGGER `energy_job_first_hour_insert` AFTER INSERT ON `energy_job` BEGIN
  INSERT INTO `energy_job_first_hour` (`hour_ts`, `jobs`) VALUES (NEW.first_hour_ts, 1) ON CONFLICT (`hour_ts`) DO UPDATE SET `jobs` = `jobs` + 1;
END;--> statement-breakpoint
CREATE TRIGGER `energy_job_first_hour_delete` AFTER DELETE ON `energy_job` BEGIN
  UPDATE `energy_job_first_hour` SET `jobs` = `jobs` - 1 WHERE `hour_ts` = OLD.first_hour_ts;
END;--> statement-breakpoint
CREATE TRIGGER `energy_job_first_hour_update` AFTER UPDATE OF `first_hour_ts` ON `energy_job` WHEN OLD.first_hour_ts IS NOT NEW.first_hour_ts BEGIN
  UPDATE `energy_job_first_hour` SET `jobs` = `jobs` - 1 WHERE `hour_ts` = OLD.first_hour_ts;
  INSERT INTO `energy_job_first_hour` (`hour_ts`, `jobs`) VALUES (NEW.first_hour_ts, 1) ON CONFLICT (`hour_ts`) DO UPDATE SET `jobs` = `jobs` + 1;
END;
