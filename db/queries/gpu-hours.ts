/**
 * Allocated GPU-hours per account over a window, from job records alone (allocated GPUs ×
 * running time clipped to [fromTs, toTs), running jobs up to `nowTs`): the one figure grant
 * accounting needs, without the energy joins of the usage query.
 */
import type { Database } from 'better-sqlite3';
import { usageByKey } from './usage.ts';

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

/** GPU-hours per account in [fromTs, toTs) (of `accounts` only, when given), from the usage rollups (db/queries/usage.ts). */
export function gpuHoursByAccount(sqlite: Database, fromTs: number, toTs: number, nowTs: number, accounts: string[] | null = null): Map<string, number> {
  const rows = usageByKey(sqlite, { fromTs, toTs, nowTs, groupBy: 'project', accounts, users: null, energy: false });
  return new Map(rows.map((r) => [r.key, r.gpuHours]));
}
