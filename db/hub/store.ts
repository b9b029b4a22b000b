/**
 * The federation hub's store on PostgreSQL: opening (migrations at start), the site pushes
 * (each UTC day of a site replaced whole, in one transaction, with its day and month
 * rollups), and the cross-site reads. Like the sites' store it imports nothing from
 * server/: the hub's routes call it.
 */
import { fileURLToPath } from 'node:url';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import { percentileContOfRuns } from '../rules/sorted-runs.ts';
import { DAY_MS, HOUR_MS, bucketOf, dekadOf, monthOf, nextDekad, nextMonth } from '../rules/time.ts';
import * as schema from './schema.ts';

export type HubDb = NodePgDatabase<typeof schema>;

/** The remainder of each hour's overhead, reused heat and CO2 that no project's energy carries (a site's `(unattributed)`). */
export const UNATTRIBUTED = '(unattributed)';

/** One usage row of a pushed hour (a site's project × user × partition). */
export interface PushedUsage {
  hourTs: number;
  project: string;
  user: string;
  partition: string;
  gpuS: number;
  measuredGpuS: number;
  energyKWh: number;
  inferredKWh: number;
  overheadKWh: number;
  reusedKWh: number;
  co2Kg: number;
}

export interface PushedJob {
  cluster: string;
  jobId: string;
  project: string;
  user: string;
  partition: string;
  gpus: number;
  submitTs: number;
  startTs: number;
  endTs: number | null;
  state: string;
  energyKWh: number;
}

export interface PushedFacilityHour {
  hourTs: number;
  itKWh: number | null;
  facilityKWh: number | null;
  reusedKWh: number | null;
  coolingKWh: number | null;
  co2Kg: number | null;
}

/** A site's UTC day: its complete hours [dayTs, completeToTs) and the jobs that started in them. */
export interface PushedDay {
  dayTs: number;
  completeToTs: number;
  usage: PushedUsage[];
  jobs: PushedJob[];
  facility: PushedFacilityHour[];
}

export interface PushedGrant {
  project: string;
  fromTs: number;
  toTs: number;
  gpuHours: number;
}

export interface HubStore {
  pool: pg.Pool;
  db: HubDb;
  close(): Promise<void>;
}

const migrationsFolder = fileURLToPath(new URL('./migrations', import.meta.url));

/** Opens the hub's database and applies its migrations. */
export async function openHub(url: string, opts: { max?: number } = {}): Promise<HubStore> {
  // No parallel workers and no JIT: the hub's reads are short aggregates over rollups, where
  // starting workers (on the bench's two cores: 28 ms of work returned after 147 ms) and
  // compiling (1.4 s of a 2.8 s read, before the rollups) cost more than they save.
  const pool = new pg.Pool({ connectionString: url, max: opts.max ?? 8, options: '-c max_parallel_workers_per_gather=0 -c jit=off' });
  // A connection lost while idle (the server restarting) must not crash the process.
  pool.on('error', () => {});
  const db = drizzle(pool, { schema });
  const client = await pool.connect();
  try {
    // One migrator at a time when several hub processes start together.
    await client.query('SELECT pg_advisory_lock(2026120401)');
    await migrate(drizzle(client, { schema }), { migrationsFolder });
  } finally {
    await client.query('SELECT pg_advisory_unlock(2026120401)').catch(() => {});
    client.release();
  }
  return { pool, db, close: () => pool.end() };
}

/** Runs `fn` in one transaction on one connection: committed when it returns, rolled back when it throws. */
export async function inTransaction<T>(hub: HubStore, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await hub.pool.connect();
  try {
    await client.query('BEGIN');
    const out = await fn(client);
    await client.query('COMMIT');
    return out;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

/** A group's waits as one sorted run of big-endian float64 milliseconds (float8send). */
const RUN_OF_WAITS = "string_agg(float8send(wait_ms::float8), ''::bytea ORDER BY wait_ms)";
/**
 * The same as big-endian int32 seconds when every wait is whole seconds (Slurm's times are):
 * half the bytes for the runs read most often cold, a project's over a year. Both aggregates
 * run (PostgreSQL computes every aggregate of a CASE), so only the per-project runs use it.
 * runOf tells the two apart by length: 4 or 8 bytes per job.
 */
const COMPACT_RUN_OF_WAITS = `CASE WHEN bool_and(wait_ms % 1000 = 0 AND wait_ms BETWEEN -2147483648000 AND 2147483647000)
  THEN string_agg(int4send((wait_ms / 1000)::int4), ''::bytea ORDER BY wait_ms) ELSE ${RUN_OF_WAITS} END`;

const SUMS = ['gpu_s', 'measured_gpu_s', 'energy_kwh', 'inferred_kwh', 'overhead_kwh', 'reused_kwh', 'co2_kg'] as const;
const SUM_OF = SUMS.map((c) => `SUM(${c}) AS ${c}`).join(', ');

/**
 * Replaces a site's days with the pushed ones, each in its own transaction (a day is all or
 * nothing; a hub killed mid-push keeps the days it committed). A day whose hash the hub
 * already holds is left alone. Returns how many days were stored and how many were unchanged.
 */
export async function storeDays(hub: HubStore, site: string, days: Array<PushedDay & { hash: string }>, nowTs: number): Promise<{ stored: number; unchanged: number }> {
  let stored = 0;
  let unchanged = 0;
  for (const day of days) {
    const { hash } = day;
    const done = await inTransaction(hub, async (client) => {
      // One writer per site at a time: its month rollups are rebuilt from its days.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [site]);
      const held = await client.query('SELECT hash FROM hub_site_days WHERE site = $1 AND day_ts = $2', [site, day.dayTs]);
      if (held.rows[0]?.hash === hash) return false;
      await replaceDay(client, site, day);
      await client.query(
        `INSERT INTO hub_site_days (site, day_ts, hash, complete_to_ts, received_ts) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (site, day_ts) DO UPDATE SET hash = excluded.hash, complete_to_ts = excluded.complete_to_ts, received_ts = excluded.received_ts`,
        [site, day.dayTs, hash, day.completeToTs, nowTs],
      );
      return true;
    });
    if (done) stored++;
    else unchanged++;
  }
  return { stored, unchanged };
}

/** Replaces a site's `to` bucket [a, b) with the sums of its rows of `from` in it, per project and partition. */
async function rollUp(client: pg.PoolClient, site: string, to: { table: string; col: string; a: number; b: number }, from: { table: string; col: string }): Promise<void> {
  await client.query(`DELETE FROM ${to.table} WHERE site = $1 AND ${to.col} = $2`, [site, to.a]);
  await client.query(
    `INSERT INTO ${to.table} (site, ${to.col}, project, partition, ${SUMS.join(', ')})
     SELECT site, $2, project, partition, ${SUM_OF} FROM ${from.table} WHERE site = $1 AND ${from.col} >= $2 AND ${from.col} < $3 GROUP BY site, project, partition`,
    [site, to.a, to.b],
  );
}

/**
 * Replaces a site's wait runs in `to` for the jobs that started in the days [a, b) (one day,
 * or a month), grouped by partition (and project, for hub_wait_project_day).
 */
async function rebuildRuns(client: pg.PoolClient, site: string, to: { table: 'hub_wait_day' | 'hub_wait_month' | 'hub_wait_project_day'; col: string; a: number; b: number }): Promise<void> {
  const byProject = to.table === 'hub_wait_project_day';
  const keys = byProject ? 'project, site, partition' : 'site, partition';
  await client.query(`DELETE FROM ${to.table} WHERE ${to.col} = $2 AND site = $1`, [site, to.a]);
  await client.query(
    `INSERT INTO ${to.table} (${to.col}, ${keys}, n, sum_ms, waits)
     SELECT $2, ${keys}, COUNT(*), SUM(wait_ms), ${byProject ? COMPACT_RUN_OF_WAITS : RUN_OF_WAITS} FROM hub_jobs
     WHERE site = $1 AND start_day_ts >= $2 AND start_day_ts < $3 GROUP BY ${keys}`,
    [site, to.a, to.b],
  );
}

async function replaceDay(client: pg.PoolClient, site: string, day: PushedDay): Promise<void> {
  const a = day.dayTs;
  const b = a + DAY_MS;
  await client.query('DELETE FROM hub_usage_hour WHERE site = $1 AND hour_ts >= $2 AND hour_ts < $3', [site, a, b]);
  if (day.usage.length > 0) {
    const u = day.usage;
    await client.query(
      `INSERT INTO hub_usage_hour (site, hour_ts, project, user_name, partition, ${SUMS.join(', ')})
       SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::float8[], $7::float8[], $8::float8[], $9::float8[], $10::float8[], $11::float8[], $12::float8[])`,
      [
        site,
        u.map((r) => r.hourTs),
        u.map((r) => r.project),
        u.map((r) => r.user),
        u.map((r) => r.partition),
        u.map((r) => r.gpuS),
        u.map((r) => r.measuredGpuS),
        u.map((r) => r.energyKWh),
        u.map((r) => r.inferredKWh),
        u.map((r) => r.overheadKWh),
        u.map((r) => r.reusedKWh),
        u.map((r) => r.co2Kg),
      ],
    );
  }
  await client.query('DELETE FROM hub_usage_project_hour WHERE hour_ts >= $2 AND hour_ts < $3 AND site = $1', [site, a, b]);
  await client.query(
    `INSERT INTO hub_usage_project_hour (hour_ts, site, project, partition, ${SUMS.join(', ')})
     SELECT hour_ts, site, project, partition, ${SUM_OF} FROM hub_usage_hour WHERE site = $1 AND hour_ts >= $2 AND hour_ts < $3 GROUP BY hour_ts, site, project, partition`,
    [site, a, b],
  );
  // The day, its dekad and its month, each summed from the level below.
  const m = monthOf(a);
  await rollUp(client, site, { table: 'hub_usage_day', col: 'day_ts', a, b }, { table: 'hub_usage_project_hour', col: 'hour_ts' });
  await rollUp(client, site, { table: 'hub_usage_dekad', col: 'dekad_ts', a: dekadOf(a), b: nextDekad(a) }, { table: 'hub_usage_day', col: 'day_ts' });
  await rollUp(client, site, { table: 'hub_usage_month', col: 'month_ts', a: m, b: nextMonth(m) }, { table: 'hub_usage_dekad', col: 'dekad_ts' });
  // A job moved to another start day is deleted with its old day and stored with its new one,
  // whichever comes first; the old day's wait runs (and its month's) are rebuilt with this day's.
  const moved =
    day.jobs.length === 0
      ? []
      : (
          await client.query(
            `SELECT DISTINCT start_day_ts AS d FROM hub_jobs WHERE site = $1 AND start_day_ts <> $2 AND (cluster, job_id) IN (SELECT * FROM unnest($3::text[], $4::text[]))`,
            [site, a, day.jobs.map((j) => j.cluster), day.jobs.map((j) => j.jobId)],
          )
        ).rows.map((r) => Number(r.d));
  await client.query('DELETE FROM hub_jobs WHERE site = $1 AND start_day_ts = $2', [site, a]);
  if (day.jobs.length > 0) {
    const j = day.jobs;
    await client.query(
      `INSERT INTO hub_jobs (site, cluster, job_id, project, user_name, partition, gpus, submit_ts, start_ts, end_ts, state, energy_kwh, start_day_ts, wait_ms)
       SELECT $1, c, id, p, u, pa, g, s, st, e, state, kwh, $2, st - s
       FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[], $9::bigint[], $10::bigint[], $11::bigint[], $12::text[], $13::float8[])
         AS t(c, id, p, u, pa, g, s, st, e, state, kwh)
       ON CONFLICT (site, cluster, job_id) DO UPDATE SET project = excluded.project, user_name = excluded.user_name, partition = excluded.partition,
         gpus = excluded.gpus, submit_ts = excluded.submit_ts, start_ts = excluded.start_ts, end_ts = excluded.end_ts, state = excluded.state,
         energy_kwh = excluded.energy_kwh, start_day_ts = excluded.start_day_ts, wait_ms = excluded.wait_ms`,
      [
        site,
        a,
        j.map((r) => r.cluster),
        j.map((r) => r.jobId),
        j.map((r) => r.project),
        j.map((r) => r.user),
        j.map((r) => r.partition),
        j.map((r) => r.gpus),
        j.map((r) => r.submitTs),
        j.map((r) => r.startTs),
        j.map((r) => r.endTs),
        j.map((r) => r.state),
        j.map((r) => r.energyKWh),
      ],
    );
  }
  // The day's wait runs (per partition, and per project and partition), then its month's (RUN_OF_WAITS; runOf reads them).
  for (const d of [a, ...moved]) {
    await rebuildRuns(client, site, { table: 'hub_wait_day', col: 'day_ts', a: d, b: d + DAY_MS });
    await rebuildRuns(client, site, { table: 'hub_wait_project_day', col: 'day_ts', a: d, b: d + DAY_MS });
  }
  for (const month of new Set([m, ...moved.map(monthOf)])) await rebuildRuns(client, site, { table: 'hub_wait_month', col: 'month_ts', a: month, b: nextMonth(month) });
  await client.query('DELETE FROM hub_facility_hour WHERE site = $1 AND hour_ts >= $2 AND hour_ts < $3', [site, a, b]);
  if (day.facility.length > 0) {
    const f = day.facility;
    await client.query(
      `INSERT INTO hub_facility_hour (site, hour_ts, it_kwh, facility_kwh, reused_kwh, cooling_kwh, co2_kg)
       SELECT $1, * FROM unnest($2::bigint[], $3::float8[], $4::float8[], $5::float8[], $6::float8[], $7::float8[])`,
      [site, f.map((r) => r.hourTs), f.map((r) => r.itKWh), f.map((r) => r.facilityKWh), f.map((r) => r.reusedKWh), f.map((r) => r.coolingKWh), f.map((r) => r.co2Kg)],
    );
  }
}

/** A site's grants, replacing the ones it pushed before. */
export async function storeSiteGrants(hub: HubStore, site: string, grants: PushedGrant[], hash: string): Promise<void> {
  await inTransaction(hub, async (client) => {
    await client.query('DELETE FROM hub_grants WHERE site = $1', [site]);
    await client.query('UPDATE hub_sites SET grants_hash = $2 WHERE name = $1', [site, hash]);
    if (grants.length > 0) {
      await client.query(
        `INSERT INTO hub_grants (site, project, from_ts, to_ts, gpu_hours) SELECT $1, * FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::float8[])`,
        [site, grants.map((g) => g.project), grants.map((g) => g.fromTs), grants.map((g) => g.toTs), grants.map((g) => g.gpuHours)],
      );
    }
  });
}

/** What the hub holds of a site: each day's hash and the hours it covered. */
export async function siteState(hub: HubStore, site: string): Promise<{ days: Array<{ dayTs: number; hash: string; completeToTs: number }>; grantsHash: string | null }> {
  const r = await hub.pool.query('SELECT day_ts AS "dayTs", hash, complete_to_ts AS "completeToTs" FROM hub_site_days WHERE site = $1 ORDER BY day_ts', [site]);
  const g = await hub.pool.query('SELECT grants_hash AS "grantsHash" FROM hub_sites WHERE name = $1', [site]);
  return {
    days: r.rows.map((x) => ({ dayTs: Number(x.dayTs), hash: x.hash as string, completeToTs: Number(x.completeToTs) })),
    grantsHash: (g.rows[0]?.grantsHash as string | null | undefined) ?? null,
  };
}

export type HubUsageKey = 'site' | 'project' | 'partition';

export interface HubUsageRow {
  site?: string;
  project?: string;
  partition?: string;
  gpuHours: number;
  measuredGpuHours: number;
  energyKWh: number;
  energyInferredKWh: number;
  overheadKWh: number;
  reusedKWh: number;
  co2Kg: number;
}

type PieceTable = 'hour' | 'day' | 'dekad' | 'month';

/**
 * The pieces of rollups that sum to the whole hours [fromTs, toTs): hours at the edges, then
 * days up to a dekad, dekads up to a month, each whole month inside, and back down: a window
 * reads at most 23 hours, 10 days and 2 dekads of rows at each edge. Months and dekads are
 * pieces of their own, so every window that holds one shares its kept sums.
 */
export function pieces(fromTs: number, toTs: number): Array<{ table: PieceTable; a: number; b: number }> {
  const out: Array<{ table: PieceTable; a: number; b: number }> = [];
  const d0 = Math.min(Math.ceil(fromTs / DAY_MS) * DAY_MS, toTs);
  const d1 = Math.max(d0, bucketOf(toTs, DAY_MS));
  if (d0 > fromTs) out.push({ table: 'hour', a: fromTs, b: d0 });
  let t = Math.min(dekadOf(d0) === d0 ? d0 : nextDekad(d0), d1);
  if (t > d0) out.push({ table: 'day', a: d0, b: t });
  while (t < d1) {
    const month = monthOf(t) === t ? nextMonth(t) : Infinity;
    const dekad = nextDekad(t);
    if (month <= d1) out.push({ table: 'month', a: t, b: (t = month) });
    else if (dekad <= d1) out.push({ table: 'dekad', a: t, b: (t = dekad) });
    else out.push({ table: 'day', a: t, b: (t = d1) });
  }
  if (toTs > d1) out.push({ table: 'hour', a: d1, b: toTs });
  return out;
}

const column = { hour: 'hour_ts', day: 'day_ts', dekad: 'dekad_ts', month: 'month_ts' } as const;

/** Usage and energy over the whole hours [fromTs, toTs) by the keys asked (every site's, or `sites`'), for `projects` (null: all). */
export async function hubUsage(
  hub: HubStore,
  q: { fromTs: number; toTs: number; groupBy: HubUsageKey[]; projects: string[] | null; sites?: string[] | null },
): Promise<HubUsageRow[]> {
  const parts = pieces(q.fromTs, q.toTs);
  if (parts.length === 0) return [];
  // Each piece's sums are kept in this process with the version of the site-days under it
  // (how many, their hashes, when last stored): a push that changes a day changes it. A
  // year's window shares its months with every other window, so a warm read sums kept rows.
  const versions = (
    await hub.pool.query(
      `SELECT p.i, COUNT(d.day_ts) AS n, MAX(d.received_ts) AS r, SUM(hashtext(d.hash)::bigint) AS h
       FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY AS p(a, b, i) LEFT JOIN hub_site_days d ON d.day_ts >= p.a AND d.day_ts < p.b GROUP BY p.i`,
      [parts.map((p) => bucketOf(p.a, DAY_MS)), parts.map((p) => p.b)],
    )
  ).rows as Array<{ i: string; n: string; r: string | null; h: string | null }>;
  const versionOf = new Map(versions.map((v) => [Number(v.i) - 1, `${v.n}|${v.r}|${v.h}`]));
  let kept = keptUsage.get(hub);
  if (!kept) keptUsage.set(hub, (kept = new Map()));
  // The pieces not kept (or changed) are read in one statement.
  const ids = parts.map((p) => JSON.stringify([p.table, p.a, p.b, q.groupBy, q.projects, q.sites ?? null]));
  const rowsOf = ids.map((id, i) => {
    const hit = kept.get(id);
    return hit && hit.version === versionOf.get(i) ? hit.rows : null;
  });
  const stale = rowsOf.flatMap((rows, i) => (rows ? [] : [i]));
  if (stale.length > 0) {
    const read = await pieceSums(hub, stale.map((i) => parts[i]!), q);
    for (const [j, i] of stale.entries()) {
      rowsOf[i] = read[j]!;
      kept.delete(ids[i]!);
      kept.set(ids[i]!, { version: versionOf.get(i)!, rows: read[j]! });
      if (kept.size > MAX_KEPT_PIECES) kept.delete(kept.keys().next().value!);
    }
  }
  const sums = new Map<string, { key: Record<string, string>; v: number[] }>();
  for (const rows of rowsOf) {
    for (const r of rows!) {
      const k = JSON.stringify(r.key);
      const m = sums.get(k);
      if (!m) sums.set(k, { key: r.key, v: [...r.v] });
      else for (let j = 0; j < r.v.length; j++) m.v[j]! += r.v[j]!;
    }
  }
  return [...sums.values()]
    .sort(byKeys(q.groupBy))
    .map(({ key, v }) => ({
      ...key,
      gpuHours: v[0]! / 3600,
      measuredGpuHours: v[1]! / 3600,
      energyKWh: v[2]!,
      energyInferredKWh: v[3]!,
      overheadKWh: v[4]!,
      reusedKWh: v[5]!,
      co2Kg: v[6]!,
    }));
}

/** Orders groups by their keys, in `groupBy`'s order (code-point order, as the answers are sorted). */
function byKeys(groupBy: readonly string[]) {
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return (x: { key: Record<string, string> }, y: { key: Record<string, string> }) => groupBy.reduce((c, k) => c || cmp(x.key[k]!, y.key[k]!), 0);
}

const FIGURES = ['gpuHours', 'measuredGpuHours', 'energyKWh', 'energyInferredKWh', 'overheadKWh', 'reusedKWh', 'co2Kg'] as const;

/** `rows` of hubUsage summed again by fewer keys (a review's by-site rows from its by-site-and-partition ones, without reading twice). */
export function regroupUsage(rows: readonly HubUsageRow[], groupBy: HubUsageKey[]): HubUsageRow[] {
  const groups = new Map<string, { key: Record<string, string>; row: HubUsageRow }>();
  for (const r of rows) {
    const key: Record<string, string> = {};
    for (const k of groupBy) key[k] = r[k]!;
    const id = JSON.stringify(key);
    const g = groups.get(id);
    if (g) for (const f of FIGURES) g.row[f] += r[f];
    else groups.set(id, { key, row: { ...key, ...(Object.fromEntries(FIGURES.map((f) => [f, r[f]])) as Pick<HubUsageRow, (typeof FIGURES)[number]>) } });
  }
  return [...groups.values()].sort(byKeys(groupBy)).map((g) => g.row);
}

/** Pieces kept per hub process at most (a window's pieces are a handful; dashboards ask a few windows). */
const MAX_KEPT_PIECES = 2000;
const keptUsage = new WeakMap<HubStore, Map<string, { version: string; rows: Array<{ key: Record<string, string>; v: number[] }> }>>();

/** Each piece's sums (SUMS, in order) by the keys asked, in one statement. */
async function pieceSums(
  hub: HubStore,
  parts: Array<{ table: PieceTable; a: number; b: number }>,
  q: { groupBy: HubUsageKey[]; projects: string[] | null; sites?: string[] | null },
): Promise<Array<Array<{ key: Record<string, string>; v: number[] }>>> {
  const keys = q.groupBy.map((k) => `${k}, `).join('');
  const r = await hub.pool.query(
    parts
      .map((p, j) => {
        const c = column[p.table];
        return `(SELECT ${j} AS piece, ${keys}${SUM_OF} FROM hub_usage_${p.table === 'hour' ? 'project_hour' : p.table}
         WHERE ${c} >= $${3 + 2 * j} AND ${c} < $${4 + 2 * j} AND ($1::text[] IS NULL OR project = ANY($1)) AND ($2::text[] IS NULL OR site = ANY($2))
         ${q.groupBy.length ? `GROUP BY ${q.groupBy.join(', ')}` : 'HAVING COUNT(*) > 0'})`;
      })
      .join(' UNION ALL '),
    [q.projects, q.sites ?? null, ...parts.flatMap((p) => [p.a, p.b])],
  );
  const out = parts.map(() => [] as Array<{ key: Record<string, string>; v: number[] }>);
  for (const x of r.rows) {
    const key: Record<string, string> = {};
    for (const k of q.groupBy) key[k] = x[k] as string;
    out[x.piece as number]!.push({ key, v: SUMS.map((c) => Number(x[c])) });
  }
  return out;
}

/** Per site over the whole hours [fromTs, toTs): the meters' sums and PUE, ERF and ERE (DESIGN.md, accounting rules). */
export async function hubFacility(hub: HubStore, fromTs: number, toTs: number) {
  const r = await hub.pool.query(
    `SELECT site, SUM(it_kwh) AS it, SUM(facility_kwh) AS fac, SUM(reused_kwh) AS reused, SUM(cooling_kwh) AS cooling, SUM(co2_kg) AS co2,
       COUNT(*) FILTER (WHERE it_kwh IS NOT NULL AND facility_kwh IS NOT NULL) AS hours
     FROM hub_facility_hour WHERE hour_ts >= $1 AND hour_ts < $2 GROUP BY site ORDER BY site`,
    [fromTs, toTs],
  );
  return r.rows.map((x) => {
    const it = x.it === null ? null : Number(x.it);
    const fac = x.fac === null ? null : Number(x.fac);
    const reused = x.reused === null ? 0 : Number(x.reused);
    return {
      site: x.site as string,
      hours: Number(x.hours),
      itKWh: it,
      facilityKWh: fac,
      reusedKWh: reused,
      coolingKWh: x.cooling === null ? null : Number(x.cooling),
      co2Kg: x.co2 === null ? null : Number(x.co2),
      pue: it && fac !== null ? fac / it : null,
      erf: fac ? reused / fac : null,
      ere: it && fac !== null ? (fac - reused) / it : null,
    };
  });
}

/** A run of `n` waits (RUN_OF_WAITS: int32 seconds or float64 milliseconds, big-endian) as milliseconds. */
function runOf(buf: Buffer, n: number): Float64Array {
  if (buf.length === 4 * n && n > 0) {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = buf.readInt32BE(4 * i) * 1000;
    return out;
  }
  const bytes = new Uint8Array(buf.length);
  bytes.set(buf);
  Buffer.from(bytes.buffer).swap64();
  return new Float64Array(bytes.buffer);
}

interface Run {
  site: string;
  partition: string;
  /** Set on the runs of hub_wait_project_day and of edge hours read by project. */
  project?: string;
  n: number;
  sumMs: number;
  waits: Float64Array;
}

/**
 * Stored runs kept in this process, each with the row version (xmin) it was read at: a run
 * rebuilt by a push has a new one. A year of five national sites is ~10 M waits (80 MB).
 */
const keptRuns = new WeakMap<HubStore, Map<string, { version: string; run: Run }>>();
const MAX_KEPT_RUNS = 20_000;
/** The tables and project lists whose runs this process has read once (the first read skips asking for versions). */
const seenScopes = new WeakMap<HubStore, Set<string>>();

type RunTable = 'day' | 'month' | 'project_day';

/** `col` in any of `ranges` ([a, b) each), as SQL with its parameters numbered from `$first`. */
function inRanges(col: string, ranges: Array<[number, number]>, first: number): { sql: string; params: number[] } {
  return {
    sql: `(${ranges.map((_, i) => `(${col} >= $${first + 2 * i} AND ${col} < $${first + 2 * i + 1})`).join(' OR ')})`,
    params: ranges.flat(),
  };
}

/** The pieces' ranges, adjacent ones joined. */
function joined(parts: Array<{ a: number; b: number }>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const p of parts) {
    const last = out.at(-1);
    if (last && last[1] === p.a) last[1] = p.b;
    else out.push([p.a, p.b]);
  }
  return out;
}

/**
 * The wait runs of `table` for starts in `ranges` (of `projects` only, from
 * hub_wait_project_day, when given): the kept ones still current, the rest read.
 */
async function storedRuns(hub: HubStore, table: RunTable, ranges: Array<[number, number]>, projects: string[] | null = null): Promise<Run[]> {
  if (ranges.length === 0) return [];
  let kept = keptRuns.get(hub);
  if (!kept) keptRuns.set(hub, (kept = new Map()));
  let seen = seenScopes.get(hub);
  if (!seen) seenScopes.set(hub, (seen = new Set()));
  const col = table === 'month' ? 'month_ts' : 'day_ts';
  const byProject = table === 'project_day';
  const project = byProject ? 'project' : "''";
  const narrowed = byProject && projects !== null;
  const where = inRanges(col, ranges, narrowed ? 2 : 1);
  const inWindow = `${narrowed ? 'project = ANY($1) AND ' : ''}${where.sql}`;
  const windowParams = narrowed ? [projects, ...where.params] : where.params;
  type Row = { ts: string; site: string; partition: string; project: string; n: number; sumMs: number; waits: Buffer; v: string };
  const full = `SELECT ${col} AS ts, site, partition, ${project} AS project, n, sum_ms AS "sumMs", waits, xmin::text AS v FROM hub_wait_${table}`;
  const keyOf = (h: { ts: string | number; site: string; partition: string; project: string }) => JSON.stringify([table, String(h.ts), h.site, h.partition, h.project]);
  // The runs of this answer by key: those kept and current, then those read.
  const runs = new Map<string, Run>();
  let heads: Array<{ ts: string; site: string; partition: string; project: string; v: string }>;
  let rows: Row[];
  const scope = JSON.stringify([table, narrowed ? projects : null]);
  if (!seen.has(scope)) {
    // Nothing of these projects read yet: the runs at once, without asking for their versions first.
    rows = (await hub.pool.query(`${full} WHERE ${inWindow}`, windowParams)).rows as Row[];
    heads = rows;
    if (seen.size >= 10_000) seen.clear();
    seen.add(scope);
  } else {
    heads = (await hub.pool.query(`SELECT ${col} AS ts, site, partition, ${project} AS project, xmin::text AS v FROM hub_wait_${table} WHERE ${inWindow}`, windowParams)).rows as typeof heads;
    const stale = heads.filter((h) => {
      const k = kept.get(keyOf(h));
      if (k?.version !== h.v) return true;
      runs.set(keyOf(h), k.run);
      return false;
    });
    rows =
      stale.length === 0
        ? []
        : ((
            await hub.pool.query(`${full} WHERE (${col}, site, partition, ${project}) IN (SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]))`, [
              stale.map((h) => h.ts),
              stale.map((h) => h.site),
              stale.map((h) => h.partition),
              stale.map((h) => h.project),
            ])
          ).rows as Row[]);
  }
  for (const r of rows) {
    const run: Run = { site: r.site, partition: r.partition, n: r.n, sumMs: r.sumMs, waits: runOf(r.waits, r.n) };
    if (byProject) run.project = r.project;
    runs.set(keyOf(r), run);
    kept.delete(keyOf(r));
    kept.set(keyOf(r), { version: r.v, run });
  }
  // Bounded: the runs read longest ago go first (a year of five sites is ~7,500 runs; a project's year a few thousand).
  while (kept.size > MAX_KEPT_RUNS) kept.delete(kept.keys().next().value!);
  // A run rebuilt between the two statements is read at its new version: take it as read.
  return heads.flatMap((h) => {
    const run = runs.get(keyOf(h));
    return run ? [run] : [];
  });
}

/** The waits of jobs that started in the hours of `ranges` (a window's edges), as runs per site and partition (and project, when by project). */
async function edgeRuns(hub: HubStore, ranges: Array<[number, number]>, byProject: boolean, projects: string[] | null): Promise<Run[]> {
  if (ranges.length === 0) return [];
  const keys = byProject ? 'site, partition, project' : 'site, partition';
  const where = inRanges('start_ts', ranges, projects ? 2 : 1);
  const r = await hub.pool.query(
    `SELECT ${keys}, COUNT(*) AS n, SUM(wait_ms) AS "sumMs", ${RUN_OF_WAITS} AS waits FROM hub_jobs
     WHERE ${projects ? 'project = ANY($1) AND ' : ''}${where.sql} GROUP BY ${keys}`,
    projects ? [projects, ...where.params] : where.params,
  );
  return r.rows.map((x) => ({ site: x.site, partition: x.partition, ...(byProject ? { project: x.project as string } : {}), n: Number(x.n), sumMs: Number(x.sumMs), waits: runOf(x.waits, Number(x.n)) }));
}

export type HubWaitKey = 'site' | 'partition' | 'project';

/**
 * Waits (start − submit) of the jobs that started in [fromTs, toTs), with exact percentiles
 * (percentile_cont, as the sites compute them) by the keys asked, from stored sorted runs:
 * by site and partition the runs of whole months and days; by project or narrowed to
 * projects (a researcher's, the review pack's) the projects' day runs; the edge hours from
 * the jobs.
 */
export async function hubWaits(hub: HubStore, q: { fromTs: number; toTs: number; groupBy: HubWaitKey[]; projects: string[] | null }) {
  const byProject = q.projects !== null || q.groupBy.includes('project');
  // One statement per kind of piece: the edge hours, and the months and days (a project's: its days).
  const parts = pieces(q.fromTs, q.toTs);
  const of = (...tables: PieceTable[]) => joined(parts.filter((p) => tables.includes(p.table)));
  const runs = [
    ...(await edgeRuns(hub, of('hour'), byProject, q.projects)),
    ...(byProject ? await storedRuns(hub, 'project_day', of('day', 'dekad', 'month'), q.projects) : [...(await storedRuns(hub, 'month', of('month'))), ...(await storedRuns(hub, 'day', of('day', 'dekad')))]),
  ];
  const groups = new Map<string, { key: Record<string, string>; runs: Float64Array[]; n: number; sumMs: number; maxMs: number }>();
  for (const r of runs) {
    const key: Record<string, string> = {};
    for (const k of q.groupBy) key[k] = r[k]!;
    const id = JSON.stringify(key);
    let g = groups.get(id);
    if (!g) groups.set(id, (g = { key, runs: [], n: 0, sumMs: 0, maxMs: -Infinity }));
    g.runs.push(r.waits);
    g.n += r.n;
    g.sumMs += r.sumMs;
    if (r.n > 0) g.maxMs = Math.max(g.maxMs, r.waits[r.n - 1]!);
  }
  if (groups.size === 0 && q.groupBy.length === 0) groups.set('{}', { key: {}, runs: [], n: 0, sumMs: 0, maxMs: -Infinity });
  return [...groups.values()]
    .sort((x, y) => q.groupBy.reduce((c, k) => c || x.key[k]!.localeCompare(y.key[k]!), 0))
    .map((g) => ({
      ...g.key,
      jobs: g.n,
      meanS: g.n ? g.sumMs / g.n / 1000 : null,
      p50S: percentileContOfRuns(g.runs, g.n, 0.5, 1000),
      p90S: percentileContOfRuns(g.runs, g.n, 0.9, 1000),
      p99S: percentileContOfRuns(g.runs, g.n, 0.99, 1000),
      maxS: g.n ? g.maxMs / 1000 : null,
    }));
}

/**
 * Grants and their use: a site's grant is used by its site's GPU-hours in the period; a
 * national grant (`site` '*') by every site's.
 */
export async function hubGrants(hub: HubStore, projects: string[] | null, nowTs: number) {
  const grants = (
    await hub.pool.query(
      `SELECT site, project, from_ts AS "fromTs", to_ts AS "toTs", gpu_hours AS "gpuHours" FROM hub_grants
       WHERE ($1::text[] IS NULL OR project = ANY($1)) ORDER BY project, site, from_ts`,
      [projects],
    )
  ).rows.map((g) => ({ site: g.site as string, project: g.project as string, fromTs: Number(g.fromTs), toTs: Number(g.toTs), gpuHours: Number(g.gpuHours) }));
  // Use up to the last whole hour, read once per distinct period for all its grants' projects (grants mostly share periods).
  const lastHour = bucketOf(nowTs, HOUR_MS);
  const periods = new Map<string, { fromTs: number; toTs: number; projects: Set<string> }>();
  for (const g of grants) {
    const toTs = Math.min(g.toTs, lastHour);
    if (toTs <= g.fromTs) continue;
    const key = `${g.fromTs}|${toTs}`;
    const p = periods.get(key) ?? { fromTs: g.fromTs, toTs, projects: new Set<string>() };
    p.projects.add(g.project);
    periods.set(key, p);
  }
  const used = new Map<string, HubUsageRow[]>();
  for (const [key, p] of periods) used.set(key, await hubUsage(hub, { fromTs: p.fromTs, toTs: p.toTs, groupBy: ['site', 'project'], projects: [...p.projects] }));
  return grants.map((g) => {
    const rows = (used.get(`${g.fromTs}|${Math.min(g.toTs, lastHour)}`) ?? []).filter((r) => r.project === g.project && (g.site === '*' || r.site === g.site));
    const usedGpuHours = rows.reduce((sum, r) => sum + r.gpuHours, 0);
    return {
      site: g.site,
      project: g.project,
      from: new Date(g.fromTs).toISOString(),
      to: new Date(g.toTs).toISOString(),
      gpuHours: g.gpuHours,
      usedGpuHours,
      usedRatio: g.gpuHours > 0 ? usedGpuHours / g.gpuHours : null,
      ...(g.site === '*' ? { usedBySite: rows.map((r) => ({ site: r.site!, gpuHours: r.gpuHours })) } : {}),
    };
  });
}

/**
 * Reads the windows a hub is asked most (the last 30 and 365 days by site and project, and
 * their waits; the grants' periods) once, so that their months, dekads, days and wait runs
 * are kept before the first request, and a project's reads once. Returns how long it took.
 */
export async function warmHub(hub: HubStore, nowTs: number): Promise<number> {
  const started = performance.now();
  const toTs = bucketOf(nowTs, HOUR_MS);
  for (const days of [30, 365]) {
    const w = { fromTs: toTs - days * DAY_MS, toTs };
    await hubUsage(hub, { ...w, groupBy: ['site', 'project'], projects: null });
    await hubUsage(hub, { ...w, groupBy: ['project'], projects: null });
    await hubWaits(hub, { ...w, groupBy: ['site', 'partition'], projects: null });
  }
  // A project's reads (a review, a researcher's page) once, so their code and plans are ready, and the grants' periods.
  const one = (await hub.pool.query('SELECT project FROM hub_usage_month LIMIT 1')).rows[0] as { project: string } | undefined;
  if (one) {
    const w = { fromTs: toTs - 365 * DAY_MS, toTs, projects: [one.project] };
    await hubUsage(hub, { ...w, groupBy: ['site', 'partition'] });
    await hubWaits(hub, { ...w, groupBy: ['site'] });
  }
  await hubGrants(hub, null, nowTs);
  return performance.now() - started;
}
