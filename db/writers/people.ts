/**
 * The store's writes about a person that are not ingest: replacing their name by a
 * pseudonym everywhere the store keeps it (forgetting, GDPR art. 17). The store knows which
 * tables carry a username; the caller (server/services/privacy.service.ts) owns the
 * request, its transaction, the audit entry and the answer.
 */
import type { Database } from 'better-sqlite3';
import { keyedHash } from '../rules/keyed-hash.ts';

export interface Pseudonymised {
  /** Whether a login account existed (it is deleted, with its sessions and memberships). */
  account: boolean;
  jobs: number;
  sessions: number;
  memberships: number;
}

/**
 * Replaces `username` by `pseudonym` in job records, the usage rollups and the audit log,
 * deletes the account, its sessions and memberships, and remembers the name (keyed hash) so
 * that a job record sent again cannot bring it back. Call inside a write transaction. The
 * triggers of migration 0018 bump the 'usage' and 'owners' change stamps, so every kept sum
 * and the writers' job lookups, in any process, look again.
 */
export function pseudonymisePerson(sqlite: Database, username: string, pseudonym: string, nowMs: number): Pseudonymised {
  const user = sqlite.prepare('SELECT id FROM users WHERE username = ?').get(username) as { id: number } | undefined;
  const jobs = sqlite.prepare('UPDATE jobs SET user = ? WHERE user = ?').run(pseudonym, username).changes;
  // The usage rollups carry the name too (the pseudonym is new, so no key can collide).
  for (const table of ['usage_day', 'usage_month']) sqlite.prepare(`UPDATE ${table} SET user = ? WHERE user = ?`).run(pseudonym, username);
  let sessions = 0;
  let memberships = 0;
  if (user) {
    sessions = sqlite.prepare('DELETE FROM sessions WHERE user_id = ?').run(user.id).changes;
    // Their address in the alert mails kept for retries.
    sqlite.prepare('DELETE FROM alert_mails WHERE user_id = ?').run(user.id);
    memberships = sqlite.prepare('DELETE FROM project_members WHERE user_id = ?').run(user.id).changes;
    sqlite.prepare('DELETE FROM users WHERE id = ?').run(user.id);
  }
  // Slurm's associations and fair share name them too; the next batches leave them out (associations.service.ts, fairshare.service.ts).
  for (const table of ['slurm_associations', 'slurm_coordinators', 'fairshare']) sqlite.prepare(`DELETE FROM ${table} WHERE user = ?`).run(username);
  if (user || jobs > 0) {
    sqlite.prepare('INSERT OR REPLACE INTO forgotten_users (name_hash, pseudonym, forgotten_ts) VALUES (?, ?, ?)').run(keyedHash(sqlite)(username), pseudonym, nowMs);
    sqlite.prepare('UPDATE audit_log SET actor = ? WHERE actor = ?').run(pseudonym, username);
    sqlite.prepare('UPDATE audit_log SET target = ? WHERE target = ?').run(`user:${pseudonym}`, `user:${username}`);
  }
  return { account: user !== undefined, jobs, sessions, memberships };
}
