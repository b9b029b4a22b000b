CREATE TABLE `fairshare` (
	`cluster` text NOT NULL,
	`account` text NOT NULL,
	`user` text NOT NULL,
	`parent` text,
	`raw_shares` integer,
	`shares_from_parent` integer DEFAULT false NOT NULL,
	`norm_shares` real,
	`raw_usage` real NOT NULL,
	`effectv_usage` real,
	`fair_share` real,
	`level_fs` real,
	`grp_tres_mins` text,
	`grp_tres_raw` text,
	`taken_ts` integer NOT NULL,
	PRIMARY KEY(`cluster`, `account`, `user`)
);
