DROP INDEX `energy_job_inferred_job`;--> statement-breakpoint
CREATE INDEX `energy_job_inferred_job` ON `energy_job_inferred` (`cluster`,`job_id`,`hour_ts`,`energy_kwh`);--> statement-breakpoint
DROP INDEX `job_hour_job`;--> statement-breakpoint
CREATE INDEX `job_hour_job` ON `job_hour` (`cluster`,`job_id`,`hour_ts`,`energy_wh`,`gpu_s`,`util_pct_s`,`idle_gpu_s`);