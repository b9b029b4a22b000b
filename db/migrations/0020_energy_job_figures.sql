ALTER TABLE `energy_job` ADD `inferred_kwh` real DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `energy_job` ADD `gpu_s` real DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `energy_job` ADD `util_pct_s` real DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `energy_job` ADD `overhead_kwh` real DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `energy_job` ADD `reused_kwh` real DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `energy_job` ADD `co2_kg` real DEFAULT 0 NOT NULL;--> statement-breakpoint
-- The new figures are filled by rebuilding the attribution rollups once, on the next open (db/store.ts rebuildWhereMigrationsAsk).
DELETE FROM `settings` WHERE `key` = 'attributionRollupBuilt';