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
  // Per meter series, through the primary key (site, meter, quantity, ts): a condition on
  // ts alone scanned every reading (~100 ms at start and each hour on the national bench,
  // with the event loop held).
  const facility = sqlite.prepare(
    `DELETE FROM facility_readings WHERE (site, meter, quantity, ts) IN
       (SELECT site, meter, quantity, ts FROM facility_readings WHERE site = @site AND meter = @meter AND quantity = @quantity AND ts < @before LIMIT @limit)`,
  );
  const nextSeries = sqlite.prepare(
    // The next series after one: past its last possible reading (a condition on the first
    // three columns alone walked every reading of the series before).
    'SELECT site, meter, quantity FROM facility_readings WHERE (site, meter, quantity, ts) > (@site, @meter, @quantity, 9223372036854775807) ORDER BY site, meter, quantity, ts LIMIT 1',
  );
  const drainFacility = (before: number) => {
    let total = 0;
    let series = nextSeries.get({ site: '', meter: '', quantity: '' }) as { site: string; meter: string; quantity: string } | undefined;
    for (; series; series = nextSeries.get(series) as typeof series) {
      for (;;) {
        const n = facility.run({ ...series, before, limit: CHUNK }).changes;
        total += n;
        if (n < CHUNK) break;
      }
    }
    return total;
  };
  const drain = (statement: typeof gpu, before: number) => {
    let total = 0;
    for (;;) {
      const n = statement.run(before, CHUNK).changes;
      total += n;
      if (n < CHUNK) return total;
    }
  };
  return { cutoffTs, gpuSamples: drain(gpu, cutoffTs), facilityReadings: drainFacility(facilityCutoffTs) };
}
