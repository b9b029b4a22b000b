/**
 * What a server does once at start, before it listens, so that the first person after a
 * restart does not pay for it: loads the stored rollup pieces long windows read
 * (db/store.ts `warm`: the wait runs of the last 13 months), sums usage over the last 13
 * whole months that have ended in each grouping (kept per month and connection, as any
 * window's months are), then answers each read service once over the last hour as an
 * administrator would see it, which compiles their code paths (the first answer of a
 * fresh process took 60–100 ms more than the next ones on the national bench). The last
 * hour's answers share no kept piece with longer windows. Reads only; a read that fails
 * (an empty database) is skipped.
 */
import type { Database } from 'better-sqlite3';
import type { Store } from '../db/store.ts';
import type { Visibility } from './auth/middleware.ts';
import type { Config } from './config.ts';
import { listAllocations } from './services/allocation.service.ts';
import { getCooling } from './services/cooling.service.ts';
import { getEedReport } from './services/eed-report.service.ts';
import { getAttribution, getJobAttribution } from './services/energy.service.ts';
import { getKpis } from './services/kpis.service.ts';
import { getReview, listJobs } from './services/review.service.ts';
import { getUsage } from './services/usage.service.ts';
import { estimateWait, getQueue, getWaits } from './services/waits.service.ts';
import { HOUR_MS, monthOf } from '../db/rules/time.ts';

export function warmUp(store: Store, config: Config, nowTs: number): { waitSpans: number; ms: number } {
  const started = performance.now();
  const { waitSpans } = store.warm(nowTs);
  const sqlite: Database = store.sqlite;
  const now = () => nowTs;
  const deps = { sqlite, config, now };
  const vis: Visibility = { accounts: null, users: null, perUser: true, role: 'admin' };
  const hour = { fromTs: nowTs - HOUR_MS, toTs: nowTs };
  const project = (sqlite.prepare('SELECT account FROM jobs ORDER BY end_ts DESC LIMIT 1').get() as { account: string } | undefined)?.account;
  // The last 13 whole months that have ended: usage keeps each month's sums (db/queries/usage.ts).
  const current = monthOf(nowTs);
  let first = current;
  for (let i = 0; i < 13; i++) first = monthOf(first - 1);
  const months = { fromTs: first, toTs: current };
  const reads: Array<() => unknown> = [
    ...(['project', 'user', 'partition', 'day'] as const).flatMap((g) => [() => getUsage({ sqlite, now }, months, g, vis), () => getUsage({ sqlite, now }, hour, g, vis)]),
    ...(['partition', 'project', 'gpus', 'hourOfWeek'] as const).map((g) => () => getWaits(sqlite, hour, g, vis, nowTs)),
    () => getKpis(deps, hour, 'day', vis),
    () => getAttribution(deps, hour, vis),
    () => getJobAttribution(deps, hour, vis, { limit: 100, cursor: null }),
    () => getCooling(deps, hour, 'day', vis),
    () => listJobs(deps, hour, vis, { limit: 100 }),
    () => project !== undefined && getReview(deps, project, hour, vis),
    () => getQueue(sqlite, nowTs, vis),
    () => estimateWait(sqlite, 'gpu', 1, nowTs),
    () => listAllocations(sqlite, nowTs, vis),
    () => getEedReport(deps, new Date(nowTs).getUTCFullYear() - 1, vis),
  ];
  for (const read of reads) {
    try {
      read();
    } catch {
      // Nothing to compile for a read that has nothing to answer yet.
    }
  }
  return { waitSpans, ms: performance.now() - started };
}
