CREATE TABLE `hub_push_day` (
	`day_ts` integer PRIMARY KEY NOT NULL,
	`sig` text NOT NULL,
	`hash` text NOT NULL
);
