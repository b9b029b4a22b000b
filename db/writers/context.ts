/** What the writers need: the raw better-sqlite3 handle for prepared statements, and the site's ingest settings. */
import type { Database } from 'better-sqlite3';

/** The parts of the server's configuration that change what a write stores (server/config.ts). */
export interface IngestSettings {
  /** Longest gap between two samples of a meter that is still integrated across, in seconds. */
  maxGapS: number;
  /** A GPU below this utilisation (%) counts as idle. */
  idleUtilPct: number;
  /** The heat pump is on site: its electricity is part of the facility energy. */
  heatPumpOnSite: boolean;
}

export interface IngestContext {
  sqlite: Database;
  config: IngestSettings;
}
