ALTER TABLE `api_tokens` ADD `expires_ts` integer;--> statement-breakpoint
ALTER TABLE `ingest_batches` ADD `body_hash` text;--> statement-breakpoint
ALTER TABLE `project_members` ADD `source` text DEFAULT 'admin' NOT NULL;--> statement-breakpoint
-- Memberships recomputed: until now every job record made its user a member of its account.
-- Kept: those an administrator gave. A person without a password was only ever seen in job
-- records; a person added with `user add` keeps the projects that command named (audit log).
DELETE FROM `project_members` WHERE `user_id` IN (SELECT `id` FROM `users` WHERE `password_hash` IS NULL);--> statement-breakpoint
DELETE FROM `project_members` WHERE EXISTS (
  SELECT 1 FROM `audit_log` a JOIN `users` u ON a.`target` = 'user:' || u.`username`
  WHERE a.`action` = 'user.add' AND u.`id` = `project_members`.`user_id`
) AND NOT EXISTS (
  SELECT 1 FROM `audit_log` a JOIN `users` u ON a.`target` = 'user:' || u.`username`, json_each(a.`details`, '$.projects') j
  JOIN `projects` p ON p.`name` = j.`value`
  WHERE a.`action` = 'user.add' AND u.`id` = `project_members`.`user_id` AND p.`id` = `project_members`.`project_id`
);
