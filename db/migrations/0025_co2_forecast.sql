CREATE TABLE `co2_forecast` (
	`price_area` text NOT NULL,
	`ts` integer NOT NULL,
	`g_per_kwh` real NOT NULL,
	`received_ts` integer NOT NULL,
	PRIMARY KEY(`price_area`, `ts`)
);
