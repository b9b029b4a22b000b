CREATE TABLE `facility_energy_day` (
	`day_ts` integer PRIMARY KEY NOT NULL,
	`it_energy_kwh` real,
	`facility_energy_kwh` real,
	`reused_heat_kwh` real,
	`cooling_energy_kwh` real,
	`heat_removed_kwh` real,
	`water_l` real,
	`co2_g` real,
	`grid_co2_g_per_kwh_sum` real DEFAULT 0 NOT NULL,
	`grid_intervals` integer DEFAULT 0 NOT NULL,
	`it_covered_s` real DEFAULT 0 NOT NULL,
	`facility_covered_s` real DEFAULT 0 NOT NULL,
	`reuse_covered_s` real DEFAULT 0 NOT NULL,
	`grid_covered_s` real DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE `facility_energy_hour` (
	`hour_ts` integer PRIMARY KEY NOT NULL,
	`it_energy_kwh` real,
	`facility_energy_kwh` real,
	`reused_heat_kwh` real,
	`cooling_energy_kwh` real,
	`heat_removed_kwh` real,
	`water_l` real,
	`co2_g` real,
	`grid_co2_g_per_kwh_sum` real DEFAULT 0 NOT NULL,
	`grid_intervals` integer DEFAULT 0 NOT NULL,
	`it_covered_s` real DEFAULT 0 NOT NULL,
	`facility_covered_s` real DEFAULT 0 NOT NULL,
	`reuse_covered_s` real DEFAULT 0 NOT NULL,
	`grid_covered_s` real DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE `facility_quantity_day` (
	`day_ts` integer NOT NULL,
	`site` text NOT NULL,
	`quantity` text NOT NULL,
	`meter` text NOT NULL,
	`integral_wh` real DEFAULT 0 NOT NULL,
	`increase` real DEFAULT 0 NOT NULL,
	`value_s` real DEFAULT 0 NOT NULL,
	`covered_s` real DEFAULT 0 NOT NULL,
	PRIMARY KEY(`day_ts`, `site`, `quantity`, `meter`)
) WITHOUT ROWID;
--> statement-breakpoint
CREATE TABLE `facility_quantity_hour` (
	`hour_ts` integer NOT NULL,
	`site` text NOT NULL,
	`quantity` text NOT NULL,
	`meter` text NOT NULL,
	`integral_wh` real DEFAULT 0 NOT NULL,
	`increase` real DEFAULT 0 NOT NULL,
	`value_s` real DEFAULT 0 NOT NULL,
	`covered_s` real DEFAULT 0 NOT NULL,
	PRIMARY KEY(`hour_ts`, `site`, `quantity`, `meter`)
) WITHOUT ROWID;
