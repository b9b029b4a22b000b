/**
 * Allocated GPU-hours per account over a window, from job records alone (allocated GPUs ×
 * running time clipped to [fromTs, toTs), running jobs up to `nowTs`): the one figure grant
 * accounting needs, without the energy joins of the usage query.
 */
import type { Database } from 'better-sqlite3';

/**
 * The jobs that ran inside [@from, @to), as a subquery (parameters @from, @to, @now).
 * Written as two index searches on end_ts, ended after @from or still running, because
 * the planner otherwise walks every job that started before @to: a year of them at
 * national scale.
 */
export const jobsOverlapping = `(
  SELECT * FROM jobs INDEXED BY jobs_end WHERE end_ts > @from AND start_ts < @to
  UNION ALL
  SELECT * FROM jobs INDEXED BY jobs_end WHERE end_ts IS NULL AND start_ts < @to AND @now > @from)`;

/** GPU-hours per account in [fromTs, toTs). */
export function gpuHoursByAccount(sqlite: Database, fromTs: number, toTs: number, nowTs: number): Map<string, number> {
  if (toTs <= fromTs) return new Map();
  const rows = sqlite
    .prepare(
      `SELECT account, SUM(gpus * (MIN(COALESCE(end_ts, @now), @to) - MAX(start_ts, @from))) / 3600000.0 AS gpuHours
       FROM ${jobsOverlapping} WHERE gpus > 0 GROUP BY account`,
    )
    .all({ from: fromTs, to: toTs, now: nowTs }) as Array<{ account: string; gpuHours: number }>;
  return new Map(rows.map((r) => [r.account, Math.max(0, r.gpuHours)]));
}
