/** Opens a HeatLedger database (a file or `:memory:`) and applies the committed migrations. */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { refreshAttribution } from '../server/services/attribution-rollup.service.ts';
import { ensureFacilityRollups } from '../server/services/facility-rollup.service.ts';
import { ensureUsageRollups } from '../server/services/usage-rollup.service.ts';
import { ensureWaitRollup } from '../server/services/wait-rollup.service.ts';
import * as schema from './schema.ts';

export type Db = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

export const migrationsFolder = resolve(dirname(fileURLToPath(import.meta.url)), 'migrations');

export interface OpenOptions {
  /**
   * Recompute rollups from the stored records (the server, at start). An administrative
   * command leaves it off: the rollups are the server's to keep, and recomputing them from
   * a second process is a long write transaction that holds off the server's ingest.
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
  if (options.refreshRollups === false) return db;
  // Rollups added by a migration are filled from the stored records once.
  ensureUsageRollups(sqlite);
  ensureFacilityRollups(sqlite);
  ensureWaitRollup(sqlite);
  // After the facility rollups: attribution shares out their hours.
  refreshAttribution(sqlite, Date.now());
  return db;
}
