CREATE TABLE `forgotten_users` (
	`name_hash` text PRIMARY KEY NOT NULL,
	`pseudonym` text NOT NULL,
	`forgotten_ts` integer NOT NULL
);
