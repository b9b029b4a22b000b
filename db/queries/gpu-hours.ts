/**
 * Allocated GPU-hours per account over a window (allocated GPUs × running time clipped to
 * [fromTs, toTs), running jobs up to `nowTs`): the one figure grant accounting needs, read
 * through the usage query without working out energy.
 */
import type { Database } from 'better-sqlite3';
import { usageByKey } from './usage.ts';

/** GPU-hours per account in [fromTs, toTs) (of `accounts` only, when given), from the usage rollups (db/queries/usage.ts). */
export function gpuHoursByAccount(sqlite: Database, fromTs: number, toTs: number, nowTs: number, accounts: string[] | null = null): Map<string, number> {
  const rows = usageByKey(sqlite, { fromTs, toTs, nowTs, groupBy: 'project', accounts, users: null, energy: false });
  return new Map(rows.map((r) => [r.key, r.gpuHours]));
}
