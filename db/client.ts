/** Opens a HeatLedger database (a file or `:memory:`) and applies the committed migrations. */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import * as schema from './schema.ts';
import { rebuildWhereMigrationsAsk } from './store.ts';

export type Db = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

export const migrationsFolder = resolve(dirname(fileURLToPath(import.meta.url)), 'migrations');

export interface OpenOptions {
  /**
   * Run the rebuilds a migration asks for (default on). An administrative command leaves
   * it off: the rollups are the server's to keep, and rebuilding them from a second
   * process is a long write transaction that holds off the server's ingest.
   */
  refreshRollups?: boolean;
}

/** Opens (creating if needed) and migrates the database at `path`; WAL for files. */
export function openDatabase(path: string, options: OpenOptions = {}): Db {
  if (path !== ':memory:') mkdirSync(dirname(resolve(path)), { recursive: true });
  const sqlite = new Database(path);
  if (path !== ':memory:') sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  // 64 MiB of page cache (SQLite's default is 2 MiB): dashboard queries over a year read
  // hundreds of MB of rollups, and re-reading them from disk dominated their time.
  sqlite.pragma('cache_size = -65536');
  const db = drizzle(sqlite, { schema }) as Db;
  migrate(db, { migrationsFolder });
  // Opening applies pragmas and migrations only; rollups a migration added are filled once.
  if (options.refreshRollups !== false) rebuildWhereMigrationsAsk(sqlite);
  return db;
}
