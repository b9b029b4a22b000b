/**
 * Raw-sample retention (DESIGN.md "Scale"): raw GPU samples older than the retention
 * window are deleted (facility readings after the ingest acceptance window); the rollups folded from them on ingest stay, so
 * dashboards keep their history. The newest sample of each GPU (gpu_cursor) and reading
 * of each meter (facility_cursor) are separate tables and stay too, so the next sample
 * still integrates from the right point.
 */
import type { Database } from 'better-sqlite3';
import { MAX_PAST_MS } from '../../collectors/shared/wire.ts';
import { DAY_MS } from '../../db/rules/time.ts';

export interface PurgeResult {
  /** Everything strictly older than this instant (epoch ms) was removed. */
  cutoffTs: number;
  gpuSamples: number;
  facilityReadings: number;
}

/** Rows deleted per transaction, so a large purge never holds the write lock for long. */
const CHUNK = 50_000;

/**
 * Deletes raw GPU samples older than `retentionDays` before `nowMs`, in short
 * transactions. Facility readings are few (a site's meters give about a million a year)
 * and stay as long as ingest accepts them (MAX_PAST_MS): a meter export imported twice
 * must still find its readings to be a no-op.
 */
export function purgeRawSamples(sqlite: Database, { nowMs, retentionDays }: { nowMs: number; retentionDays: number }): PurgeResult {
  const cutoffTs = nowMs - retentionDays * DAY_MS;
  const facilityCutoffTs = Math.min(cutoffTs, nowMs - MAX_PAST_MS);
  // Both tables are WITHOUT ROWID; the bounded subquery keeps each delete short.
  const gpu = sqlite.prepare(
    'DELETE FROM gpu_samples WHERE (ts, gpu_id) IN (SELECT ts, gpu_id FROM gpu_samples WHERE ts < ? ORDER BY ts LIMIT ?)',
  );
  const facility = sqlite.prepare(
    `DELETE FROM facility_readings WHERE (site, meter, quantity, ts) IN
       (SELECT site, meter, quantity, ts FROM facility_readings WHERE ts < ? LIMIT ?)`,
  );
  const drain = (statement: typeof gpu, before: number) => {
    let total = 0;
    for (;;) {
      const n = statement.run(before, CHUNK).changes;
      total += n;
      if (n < CHUNK) return total;
    }
  };
  return { cutoffTs, gpuSamples: drain(gpu, cutoffTs), facilityReadings: drain(facility, facilityCutoffTs) };
}
