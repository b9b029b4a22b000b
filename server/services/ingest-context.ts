/** What ingest code needs: the raw better-sqlite3 handle for prepared statements, and the configuration. */
import type { Database } from 'better-sqlite3';
import type { Config } from '../config.ts';

export interface IngestContext {
  sqlite: Database;
  config: Config;
}
