/** HMAC-SHA256 under a random key kept in the database (created on first use). */
import { createHmac, randomBytes } from 'node:crypto';
import type { Database } from 'better-sqlite3';

/** A keyed hash of text; the same database gives the same hash. */
export function keyedHash(sqlite: Database): (text: string) => string {
  sqlite.prepare("INSERT OR IGNORE INTO settings (key, value) VALUES ('pseudonym_key', ?)").run(randomBytes(32).toString('hex'));
  const key = (sqlite.prepare("SELECT value FROM settings WHERE key = 'pseudonym_key'").get() as { value: string }).value;
  return (text) => createHmac('sha256', key).update(text).digest('hex');
}
