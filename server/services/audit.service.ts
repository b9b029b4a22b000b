/** The audit log of administrative actions: who did what to which thing, and when. */
import { userInfo } from 'node:os';
import type { Database } from 'better-sqlite3';

export interface AuditEntry {
  ts: number;
  actor: string;
  action: string;
  target: string;
  /** Stored as JSON; must never hold a secret (token, password). */
  details?: unknown;
}

/** Appends one entry to audit_log. */
export function recordAudit(sqlite: Database, entry: AuditEntry): void {
  sqlite
    .prepare('INSERT INTO audit_log (ts, actor, action, target, details) VALUES (?, ?, ?, ?, ?)')
    .run(entry.ts, entry.actor, entry.action, entry.target, JSON.stringify(entry.details ?? {}));
}

/** The actor of a command run on the server host: the operating-system account. */
export function cliActor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli:unknown';
  }
}
