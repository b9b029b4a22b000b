/**
 * Allocated GPU-hours per account over a window, from job records alone (allocated GPUs ×
 * running time clipped to [fromTs, toTs), running jobs up to `nowTs`): the one figure grant
 * accounting needs, without the energy joins of the usage query.
 */
import type { Database } from 'better-sqlite3';

/** GPU-hours per account in [fromTs, toTs). */
export function gpuHoursByAccount(sqlite: Database, fromTs: number, toTs: number, nowTs: number): Map<string, number> {
  if (toTs <= fromTs) return new Map();
  const rows = sqlite
    .prepare(
      `SELECT account, SUM(gpus * (MIN(COALESCE(end_ts, @now), @to) - MAX(start_ts, @from))) / 3600000.0 AS gpuHours
       FROM jobs
       WHERE start_ts IS NOT NULL AND start_ts < @to AND COALESCE(end_ts, @now) > @from AND gpus > 0
       GROUP BY account`,
    )
    .all({ from: fromTs, to: toTs, now: nowTs }) as Array<{ account: string; gpuHours: number }>;
  return new Map(rows.map((r) => [r.account, Math.max(0, r.gpuHours)]));
}
