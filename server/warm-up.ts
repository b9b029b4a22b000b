/**
 * What a server does once at start, before it listens, so that the first person after a
 * restart does not pay for it: loads the stored rollup pieces long windows read
 * (db/store.ts `warm`: wait runs of the last 13 months and of the days around them), sums
 * usage over the last 13 whole months that have ended in each grouping (kept per month and
 * connection, as any window's months are), and asks each read of the API once over the
 * last hour, through the app as a read token would (routing, validation, the services and
 * serialisation compiled: the first answer of a fresh process took 60–100 ms more than the
 * next ones on the national bench). The last hour's answers share no kept piece with
 * longer windows. Reads only; the answers are dropped.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Hono } from 'hono';
import type { Store } from '../db/store.ts';
import { DAY_MS, HOUR_MS, monthOf, monthsBefore } from '../db/rules/time.ts';
import { IN_PROCESS_PRINCIPAL, type AppEnv } from './auth/middleware.ts';

export async function warmUp(app: Hono<AppEnv>, store: Store, nowTs: number): Promise<{ waitSpans: number; reads: number; failed: string[]; ms: number }> {
  const started = performance.now();
  const { waitSpans } = store.warm(nowTs);
  const window = (fromTs: number, toTs: number) => `from=${new Date(fromTs).toISOString()}&to=${new Date(toTs).toISOString()}`;
  const hour = window(nowTs - HOUR_MS, nowTs);
  const months = window(monthsBefore(nowTs, 13), monthOf(nowTs));
  // A project and a partition that exist (an empty database has neither: those reads are left out).
  const latest = store.sqlite.prepare('SELECT account, partition FROM jobs ORDER BY end_ts DESC LIMIT 1').get() as { account: string; partition: string | null } | undefined;
  const project = latest?.account;
  const partition = latest?.partition ?? undefined;
  // The dashboard's windows (web/src/lib/range.svelte.ts) and the last year, ending now:
  // the same windows asked later start inside the same first day and share its kept pieces.
  // Waits are asked twice: a range of loose days is merged and kept on its second ask
  // (db/rollups/waits.ts), which would otherwise be the first person's (14 → 3 ms cold for
  // waits by partition over the national year). A project's review over 30 days compiles
  // the review's paths with a month's worth of rows.
  const presets = [DAY_MS, 7 * DAY_MS, 30 * DAY_MS, 90 * DAY_MS, 365 * DAY_MS].map((span) => window(nowTs - span, nowTs));
  const paths = [
    ...['project', 'user', 'partition', 'day'].flatMap((g) => [months, hour, ...presets].map((w) => `/api/v1/usage?groupBy=${g}&${w}`)),
    ...['partition', 'project', 'gpus', 'hourOfWeek'].flatMap((g) => [hour, ...presets, ...presets].map((w) => `/api/v1/waits?groupBy=${g}&${w}`)),
    ...[hour, ...presets].flatMap((w) => [`/api/v1/energy/kpis?bucket=day&${w}`, `/api/v1/energy/projects?${w}`, `/api/v1/energy/cooling?bucket=day&${w}`]),
    ...[hour, ...presets].flatMap((w) => [`/api/v1/energy/jobs?${w}`, `/api/v1/jobs?limit=100&${w}`]),
    ...(project === undefined ? [] : [hour, presets[2]!].map((w) => `/api/v1/projects/${encodeURIComponent(project)}/review?${w}`)),
    '/api/v1/queue',
    ...(partition === undefined ? [] : [`/api/v1/waits/estimate?partition=${encodeURIComponent(partition)}&gpus=1`]),
    '/api/v1/allocations',
    '/metrics',
    `/api/v1/reports/eed?year=${new Date(nowTs).getUTCFullYear() - 1}`,
  ];
  const env = { [IN_PROCESS_PRINCIPAL]: { kind: 'token', scope: 'read', name: 'warm-up' } };
  const failed: string[] = [];
  for (const path of paths) {
    const res = await app.request(path, {}, env);
    await res.arrayBuffer();
    if (!res.ok) failed.push(`${path.split('?')[0]} ${res.status}`);
  }
  collectGarbage();
  return { waitSpans, reads: paths.length, failed, ms: performance.now() - started };
}

/**
 * A full garbage collection once the warm-up is done, before the server listens: the
 * warm-up's answers (tens of MB, dropped) would otherwise be collected during the first
 * requests after a restart, which then waited 10-20 ms longer. Node's documented way to a
 * `gc` function without starting with --expose-gc.
 */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}
