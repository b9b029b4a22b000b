/**
 * GPU-hours and energy by project, user, partition or day (the `/api/v1/usage` query).
 *
 * - gpuHours: allocated GPUs × running time clipped to [from, to) (as sreport and XDMoD
 *   charge), from job records; a running job counts up to `now`.
 * - energyKWh: measured GPU energy of the jobs' GPUs, from the per-job-hour rollup. It is
 *   resolved to whole hours: an hour counts when it starts inside the window, so the
 *   figure is exact for hour-aligned windows.
 *   It includes energy inferred from the scheduler's records where samples named no job
 *   (db/queries/inferred-energy.ts), shown apart as `energyInferredKWh`.
 * - measuredGpuHours / idleGpuHours: GPU time with samples, and the part of it below the
 *   idle utilisation threshold; `energyCoverage` = measured ÷ allocated GPU-hours (capped
 *   at 1), the share of the charged time whose energy was measured.
 */
import type { Database } from 'better-sqlite3';
import { NO_PARTITION, maxJobDurationMs } from '../rollups/usage.ts';
import { gpuMsSql, gpuSecondsByDay } from '../rules/gpu-hours.ts';
import { DAY_MS, HOUR_MS, bucketOf, monthOf, nextMonth } from '../rules/time.ts';
import { stampOf } from '../stamps.ts';
import { inferredEnergy } from './inferred-energy.ts';

export type UsageGroup = 'project' | 'user' | 'partition' | 'day';

export interface UsageFilter {
  fromTs: number;
  toTs: number;
  nowTs: number;
  groupBy: UsageGroup;
  /** Only these accounts (null: all). */
  accounts: string[] | null;
  /** Only these users (null: all). */
  users: string[] | null;
  /** False when only GPU-hours and jobs are wanted: the energy of partial days is then not worked out. */
  energy?: boolean;
}

export interface UsageRow {
  key: string;
  gpuHours: number;
  energyKWh: number;
  energyInferredKWh: number;
  energyCoverage: number | null;
  energyProvenance: 'integrated' | 'integrated+inferred' | null;
  measuredGpuHours: number;
  idleGpuHours: number;
  jobs: number;
}

const jobKeys: Record<UsageGroup, string> = { project: 'j.account', user: 'j.user', partition: `COALESCE(j.partition, '${NO_PARTITION}')`, day: "''" };
/** The grouping key as an expression over a job row `j` (by day the caller keys by time). */
const jobKey = (group: UsageGroup) => jobKeys[group];

/** Runs the usage query; rows sorted by GPU-hours, largest first (by day: oldest first). */
export function usageByKey(sqlite: Database, f: UsageFilter): UsageRow[] {
  const sums = new Map<string, Sums>();
  const add: Add = (key, d) => {
    let r = sums.get(key);
    if (!r) sums.set(key, (r = { gpuS: 0, jobs: 0, energyWh: 0, measuredS: 0, idleS: 0, inferredWh: 0 }));
    r.gpuS += d.gpuS ?? 0;
    r.jobs += d.jobs ?? 0;
    r.energyWh += d.energyWh ?? 0;
    r.measuredS += d.measuredS ?? 0;
    r.idleS += d.idleS ?? 0;
    r.inferredWh += d.inferredWh ?? 0;
  };
  // The per-user rollup keeps no partition, and no caller asks for one person's partitions.
  if (f.groupBy === 'partition' && f.users) throw new Error('usage by partition cannot be narrowed to users');
  if (f.toTs > f.fromTs) {
    const q: Query = { f, params: { from: f.fromTs, to: f.toTs, now: f.nowTs, maxDur: maxJobDurationMs(sqlite) }, filters: [], add, fewJobs: false, jobCount: null };
    if (f.accounts) {
      q.filters.push('account IN (SELECT value FROM json_each(@accounts))');
      q.params.accounts = JSON.stringify(f.accounts);
      const { n } = sqlite
        .prepare(`SELECT COUNT(*) AS n FROM (SELECT 1 FROM jobs INDEXED BY jobs_account WHERE account IN (SELECT value FROM json_each(@accounts)) LIMIT ${FEW_JOBS + 1})`)
        .get(q.params) as { n: number };
      q.fewJobs = n <= FEW_JOBS;
      q.jobCount = n;
    }
    if (f.users) {
      q.filters.push('user IN (SELECT value FROM json_each(@users))');
      q.params.users = JSON.stringify(f.users);
    }
    // Whole days [d0, d1) from the rollups; the partial days at either end worked out exactly.
    const d0 = Math.min(Math.ceil(f.fromTs / DAY_MS) * DAY_MS, f.toTs);
    const d1 = Math.max(d0, nothingStoredFrom(sqlite, f.toTs) ? Math.ceil(f.toTs / DAY_MS) * DAY_MS : bucketOf(f.toTs, DAY_MS));
    // [from, d0) runs even when empty: it finds the jobs that started before the window and ran into it.
    keptEdge(sqlite, q, f.fromTs, d0, true);
    if (d1 > d0) rolledUp(sqlite, q, d0, d1);
    if (d1 < f.toTs) keptEdge(sqlite, q, d1, f.toTs, false);
    runningJobs(sqlite, q);
    if (f.energy !== false) inferred(sqlite, q);
  }
  const out: UsageRow[] = [];
  for (const [key, r] of sums) {
    const gpuHours = Math.max(0, r.gpuS / 3600);
    const measuredGpuHours = r.measuredS / 3600;
    const energyKWh = r.energyWh / 1000;
    // A month less its days can leave rounding dust where nothing was used.
    if (r.jobs === 0 && Math.abs(r.gpuS) < 1e-6 && Math.abs(r.energyWh) < 1e-6 && Math.abs(r.measuredS) < 1e-6) continue;
    out.push({
      key,
      gpuHours,
      energyKWh,
      energyInferredKWh: r.inferredWh / 1000,
      energyCoverage: gpuHours > 0 ? Math.min(1, measuredGpuHours / gpuHours) : null,
      energyProvenance: energyKWh === 0 && measuredGpuHours === 0 ? null : r.inferredWh > 0 ? 'integrated+inferred' : 'integrated',
      measuredGpuHours,
      idleGpuHours: r.idleS / 3600,
      jobs: r.jobs,
    });
  }
  return f.groupBy === 'day' ? out.sort((a, b) => a.key.localeCompare(b.key)) : out.sort((a, b) => b.gpuHours - a.gpuHours || a.key.localeCompare(b.key));
}

/** Up to this many jobs in all, a project's edge days are worked out from its own jobs. */
const FEW_JOBS = 20_000;

interface Sums {
  gpuS: number;
  jobs: number;
  energyWh: number;
  measuredS: number;
  idleS: number;
  inferredWh: number;
}
type Add = (key: string, d: Partial<Sums>) => void;
interface Query {
  f: UsageFilter;
  /** The projects asked for have few jobs in all (found through the account index). */
  fewJobs: boolean;
  /** How many jobs the projects asked for have in all, up to FEW_JOBS + 1 (null: all projects). */
  jobCount: number | null;
  params: Record<string, unknown>;
  /** Conditions on `account` and `user`, valid on jobs and on the rollups alike. */
  filters: string[];
  add: Add;
}

const dayKeys = new Map<number, string>();
/** The UTC date of `ts` (memoised: a year of running jobs by day asks for the same few hundred). */
const dayKey = (ts: number) => {
  const day = Math.floor(ts / DAY_MS);
  let key = dayKeys.get(day);
  if (key === undefined) dayKeys.set(day, (key = new Date(day * DAY_MS).toISOString().slice(0, 10)));
  return key;
};
const where = (q: Query) => (q.filters.length ? `AND ${q.filters.join(' AND ')}` : '');

/** Whether no job started or ended, and no job-hour began, at or after `ts`. */
function nothingStoredFrom(sqlite: Database, ts: number): boolean {
  return !sqlite
    .prepare(
      `SELECT 1 WHERE EXISTS (SELECT 1 FROM jobs INDEXED BY jobs_end WHERE end_ts >= @ts) OR EXISTS (SELECT 1 FROM jobs INDEXED BY jobs_start WHERE start_ts >= @ts)
         OR EXISTS (SELECT 1 FROM job_hour WHERE hour_ts >= @ts)`,
    )
    .get({ ts });
}

/** A rollup range to add (sign 1) or subtract (sign −1). */
type Piece = { table: 'day' | 'month'; from: number; to: number; sign: 1 | -1 };

/**
 * The rollup ranges that sum to the whole days [d0, d1): whole months from the month
 * table; a partial month from its days, or as the month less the days outside the window
 * when those are fewer (for a window that ends now, the rest of this month is empty).
 */
export function rollupPieces(d0: number, d1: number, byDay: boolean): Piece[] {
  if (byDay) return [{ table: 'day', from: d0, to: d1, sign: 1 }];
  const out: Piece[] = [];
  const partial = (m: number, a: number, b: number) => {
    const end = nextMonth(m);
    if (a === m && b === end) return void out.push({ table: 'month', from: m, to: end, sign: 1 });
    if (b - a <= end - m - (b - a)) return void out.push({ table: 'day', from: a, to: b, sign: 1 });
    out.push({ table: 'month', from: m, to: end, sign: 1 });
    if (a > m) out.push({ table: 'day', from: m, to: a, sign: -1 });
    if (b < end) out.push({ table: 'day', from: b, to: end, sign: -1 });
  };
  const first = monthOf(d0);
  const last = monthOf(d1 - 1);
  if (first === last) {
    partial(first, d0, d1);
    return out;
  }
  partial(first, d0, nextMonth(first));
  const m0 = nextMonth(first);
  if (last > m0) out.push({ table: 'month', from: m0, to: last, sign: 1 });
  partial(last, last, d1);
  return out;
}

/** The rollup a query reads and its key column: the smallest that still holds the key and the filters (by user only where needed). */
function rollupOf(q: Query): { table: string; key: string } {
  const byDay = q.f.groupBy === 'day';
  const key = byDay ? 'bucket' : q.f.groupBy === 'project' ? 'account' : q.f.groupBy;
  const table = q.f.groupBy === 'user' || q.f.users ? '' : byDay ? (q.f.accounts ? '_account' : '_total') : '_project';
  return { table, key };
}

/** The signed sums of rollup `pieces` per key (by day: per day's start). */
function rollupSums(sqlite: Database, q: Query, pieces: Piece[]): Array<Sums & { key: string | number }> {
  const byDay = q.f.groupBy === 'day';
  const jobs = byDay ? 'jobs_active' : 'jobs_started';
  const { table, key } = rollupOf(q);
  const piece = (p: Piece) => {
    const bucket = p.table === 'day' ? 'day_ts' : 'month_ts';
    return `SELECT ${bucket} AS bucket, ${byDay ? '' : `${key}, `}${p.sign} AS sign, alloc_gpu_s, ${jobs} AS jobs, energy_wh, measured_gpu_s, idle_gpu_s
            FROM usage_${p.table}${table} WHERE ${bucket} >= ${p.from} AND ${bucket} < ${p.to} ${where(q)}`;
  };
  return sqlite
    .prepare(
      `SELECT ${key} AS key, SUM(sign * alloc_gpu_s) AS gpuS, SUM(sign * jobs) AS jobs, SUM(sign * energy_wh) AS energyWh,
         SUM(sign * measured_gpu_s) AS measuredS, SUM(sign * idle_gpu_s) AS idleS
       FROM (${pieces.map(piece).join(' UNION ALL ')}) GROUP BY 1`,
    )
    .all(q.params) as Array<Sums & { key: string | number }>;
}

/** Whole days [d0, d1) from the usage rollups. */
function rolledUp(sqlite: Database, q: Query, d0: number, d1: number): void {
  const byDay = q.f.groupBy === 'day';
  const { table, key } = rollupOf(q);
  const sum = (pieces: Piece[]) => rollupSums(sqlite, q, pieces);
  // Each month's pieces are summed once and kept until one of their months changes (a late
  // record or sample; the current month's with every batch that touches it).
  const pieces = rollupPieces(d0, d1, byDay);
  const rows: Array<Sums & { key: string | number }> = [];
  const keyOf = (p: Piece) => `rollup|${table}|${key}|${String(q.params.accounts)}|${String(q.params.users)}|${p.table}|${p.from}|${p.to}|${p.sign}`;
  const current = monthOf(q.f.nowTs);
  for (const p of pieces) {
    // Each month's sums are kept (windows that share a month share them), and a run of
    // ended months merged (a window asked again reads one list, not a list per month); the
    // current month apart, as it changes with every batch.
    const split = splitAtMonths(p);
    for (const months of [split.filter((m) => m.to <= current), split.filter((m) => m.to > current)]) {
      if (months.length === 0) continue;
      const each = () => months.map((m) => kept(sqlite, keyOf(m), m.from, m.to, () => sum([m])));
      const run = { ...p, from: months[0]!.from, to: months.at(-1)!.to };
      rows.push(...(months.length === 1 ? each()[0]! : kept(sqlite, keyOf(run), run.from, run.to, () => mergeSums(each()))));
    }
  }
  for (const r of rows) q.add(byDay ? dayKey(r.key as number) : (r.key as string), r);
}

/** Lists of sums per key merged into one list, per key. */
function mergeSums(lists: Array<Array<Sums & { key: string | number }>>): Array<Sums & { key: string | number }> {
  const byKey = new Map<string | number, Sums & { key: string | number }>();
  for (const r of lists.flat()) {
    const m = byKey.get(r.key);
    if (!m) byKey.set(r.key, { ...r });
    else {
      m.gpuS += r.gpuS;
      m.jobs += r.jobs;
      m.energyWh += r.energyWh;
      m.measuredS += r.measuredS;
      m.idleS += r.idleS;
    }
  }
  return [...byKey.values()];
}

/**
 * A piece spanning months, as one piece per month: each month's sums are kept apart, so
 * that windows which share a month (a year's and a quarter's, today's and tomorrow's)
 * share its kept sums.
 */
function splitAtMonths(p: Piece): Piece[] {
  const out: Piece[] = [];
  for (let a = p.from; a < p.to; a = nextMonth(monthOf(a))) out.push({ ...p, from: a, to: Math.min(p.to, nextMonth(monthOf(a))) });
  return out;
}

/**
 * What is read from the days of months [fromTs, toTs) (rollup sums, a partial day's use),
 * per connection, with the months' change count it was read at (the 'usage' change stamp of the months, db/stamps.ts): anything that
 * changes what a month's days hold (a job record, a job-hour's energy, a rebuild, a
 * forgotten person, another process's commit) changes the count.
 */
const keptSums = new WeakMap<Database, { entries: Map<string, { version: number; value: unknown[] }>; rows: number }>();
/** Rows kept per connection at most (~60 MB on the national bench): the warm-up alone keeps ~250,000 (13 months and five windows' first days in each grouping); a dashboard's windows move every 10 s, so the least recently used go first. */
const MAX_KEPT_ROWS = 600_000;

function kept<T extends unknown[]>(sqlite: Database, key: string, fromTs: number, toTs: number, compute: () => T): T {
  let all = keptSums.get(sqlite);
  if (!all) keptSums.set(sqlite, (all = { entries: new Map(), rows: 0 }));
  const version = stampOf(sqlite, 'usage', monthOf(fromTs), toTs);
  const hit = all.entries.get(key);
  if (hit && hit.version === version) {
    // Used again: it goes last, so that the limit drops what is not asked any more (a moving
    // window's edges), not the month sums every window shares.
    all.entries.delete(key);
    all.entries.set(key, hit);
    return hit.value as T;
  }
  const value = compute();
  if (hit) all.rows -= hit.value.length;
  all.entries.delete(key);
  all.entries.set(key, { version, value });
  all.rows += value.length;
  for (const [k, e] of all.entries) {
    if (all.rows <= MAX_KEPT_ROWS || k === key) break;
    all.entries.delete(k);
    all.rows -= e.value.length;
  }
  return value;
}

/**
 * An edge of the window (within one day) in a month that has ended, from the day's
 * profile: the ended jobs that ran on that day (key, start, end, GPUs) and its measured
 * energy per hour and key, read once per day and kept until that month changes (any
 * change to those records changes what the day holds in the rollups, so the month's
 * change count). A window that moves every 10 s starts inside the same day for a day: its
 * first edge is then summed from the kept profile, not read again. Running jobs are not in
 * it (`runningJobs` counts them live). Windows narrowed to projects or people keep the
 * edge itself.
 */
function keptEdge(sqlite: Database, q: Query, a: number, b: number, first: boolean): void {
  const day = bucketOf(a, DAY_MS);
  if (monthOf(day) >= monthOf(q.f.nowTs)) return edgeUsage(sqlite, q, a, b, first);
  const energy = q.f.energy !== false;
  if (q.f.accounts || q.f.users) {
    // A few projects' or people's edge: their day's profile would read the whole day's
    // job-hours (a project's review pack: 30 ms against 5-10 ms for the edge alone); kept
    // for this edge only.
    const key = `edge|${q.f.groupBy}|${a}|${b}|${first}|${q.fewJobs}|${energy}|${String(q.params.maxDur)}|${String(q.params.accounts)}|${String(q.params.users)}`;
    const adds = kept(sqlite, key, day, nextMonth(monthOf(day)), () => {
      const out: Array<[string, Partial<Sums>]> = [];
      edgeUsage(sqlite, { ...q, add: (k, d) => void out.push([k, d]) }, a, b, first);
      return out;
    });
    for (const [k, d] of adds) q.add(k, d);
    return;
  }
  const key = `day|${q.f.groupBy}|${day}|${q.fewJobs}|${energy}|${String(q.params.maxDur)}|${String(q.params.accounts)}|${String(q.params.users)}`;
  const profile = kept(sqlite, key, day, nextMonth(monthOf(day)), () => dayProfile(sqlite, q, day, energy));
  const byDay = q.f.groupBy === 'day';
  const maxDur = q.params.maxDur as number;
  // The same sums as edgeUsage's statements: GPU-milliseconds per key first, then one division.
  const gpuMs = new Map<string, { ms: number; jobs: number }>();
  let dayJobs = 0;
  const hours = new Map<string, Partial<Sums>>();
  for (const r of profile) {
    if (r.kind === 'job') {
      if (!(r.e > a && r.e <= b + maxDur && r.s < b)) continue;
      let m = gpuMs.get(r.k);
      if (!m) gpuMs.set(r.k, (m = { ms: 0, jobs: 0 }));
      m.ms += r.g * Math.max(0, Math.min(r.e, b) - Math.max(r.s, a));
      if (r.s >= a || first) m.jobs += 1;
      if (r.e > r.s) dayJobs += 1;
    } else if (b > a && r.h >= a && r.h < b) {
      const k = byDay ? dayKey(a) : r.k;
      const m = hours.get(k);
      if (!m) hours.set(k, { energyWh: r.wh, measuredS: r.gs, idleS: r.is });
      else {
        m.energyWh! += r.wh;
        m.measuredS! += r.gs;
        m.idleS! += r.is;
      }
    }
  }
  for (const [k, m] of gpuMs) q.add(byDay ? dayKey(a) : k, { gpuS: m.ms / 1000, jobs: byDay ? 0 : m.jobs });
  if (byDay && b > a) q.add(dayKey(a), { jobs: dayJobs });
  for (const [k, m] of hours) q.add(k, m);
}

/** What a day holds for its edges: ended jobs that ran in it, and its energy per hour and key. */
type DayEntry = { kind: 'job'; k: string; s: number; e: number; g: number } | { kind: 'hour'; k: string; h: number; wh: number; gs: number; is: number };

function dayProfile(sqlite: Database, q: Query, day: number, energy: boolean): DayEntry[] {
  const key = jobKey(q.f.groupBy);
  const index = q.fewJobs ? 'jobs_account' : 'jobs_end';
  const p = { ...q.params, a: day, b: day + DAY_MS };
  const out: DayEntry[] = (
    sqlite
      .prepare(
        `SELECT ${key} AS k, start_ts AS s, end_ts AS e, gpus AS g FROM jobs j INDEXED BY ${index}
         WHERE end_ts > @a AND end_ts <= @b + @maxDur AND start_ts < @b AND end_ts >= start_ts ${where(q)}`,
      )
      .all(p) as Array<{ k: string; s: number; e: number; g: number }>
  ).map((r) => ({ kind: 'job', ...r }));
  if (!energy) return out;
  const perJob = readsPerJob(sqlite, q, day, day + DAY_MS);
  const hours = sqlite
    .prepare(
      `SELECT h.hour_ts AS h, ${key} AS k, SUM(h.energy_wh) AS wh, SUM(h.gpu_s) AS gs, SUM(h.idle_gpu_s) AS "is"
       FROM ${perJob ? 'jobs j INDEXED BY jobs_account JOIN job_hour h INDEXED BY job_hour_job' : 'job_hour h JOIN jobs j'} ON h.cluster = j.cluster AND h.job_id = j.job_id
       WHERE h.hour_ts >= @a AND h.hour_ts < @b ${where(q)} GROUP BY 1, 2`,
    )
    .all(p) as Array<{ h: number; k: string; wh: number; gs: number; is: number }>;
  for (const r of hours) out.push({ kind: 'hour', ...r });
  return out;
}

/**
 * Ended jobs and measured energy inside [a, b), worked out from the job records and
 * job_hour. With `first`, also counts the jobs that started before `a` and ran past it.
 */
function edgeUsage(sqlite: Database, q: Query, a: number, b: number, first: boolean): void {
  const byDay = q.f.groupBy === 'day';
  const key = jobKey(q.f.groupBy);
  const p = { ...q.params, a, b };
  // A few projects' jobs are found through their account; everyone's through the time they ended.
  const index = q.fewJobs ? 'jobs_account' : 'jobs_end';
  // Jobs that overlap [a, b) ended after a and, being no longer than the longest job, before b + maxDur.
  // GPU-seconds: the rule in db/rules/gpu-hours.ts, summed in SQL (gpuMsSql).
  const jobs = sqlite
    .prepare(
      `SELECT ${key} AS key, SUM(CASE WHEN start_ts >= @a OR @first THEN 1 ELSE 0 END) AS jobs,
         SUM(${gpuMsSql({ gpus: 'gpus', startTs: 'start_ts', endTs: 'end_ts', fromTs: '@a', toTs: '@b' })}) / 1000.0 AS gpuS
       FROM jobs j INDEXED BY ${index} WHERE end_ts > @a AND end_ts <= @b + @maxDur AND start_ts < @b AND end_ts >= start_ts ${where(q)} GROUP BY 1`,
    )
    .all({ ...p, first: first ? 1 : 0 }) as Array<{ key: string; jobs: number; gpuS: number }>;
  // By day a job counts on the day when it ran some time in it; otherwise once, when it started in the window (or ran into it).
  for (const j of jobs) q.add(byDay ? dayKey(a) : j.key, { gpuS: j.gpuS, jobs: byDay ? 0 : j.jobs });
  if (byDay && b > a) {
    const n = sqlite
      .prepare(`SELECT COUNT(*) AS n FROM jobs INDEXED BY ${index} WHERE end_ts > @a AND end_ts <= @b + @maxDur AND start_ts < @b AND end_ts > start_ts ${where(q)}`)
      .get(p) as { n: number };
    q.add(dayKey(a), { jobs: n.n });
  }
  if (b <= a || q.f.energy === false) return;
  // Energy of the hours that start inside [a, b). An edge that runs to the end of its day
  // reads the fewer job-hours: those of [a, b), or the day's energy from the rollup less
  // the hours of the day before a (the rollup holds each job-hour's energy under its job's
  // key, as the statement below sums it).
  const day = bucketOf(a, DAY_MS);
  const firstHour = Math.ceil(a / HOUR_MS) * HOUR_MS;
  if (b === day + DAY_MS && firstHour - day < b - firstHour) {
    for (const r of rollupSums(sqlite, q, [{ table: 'day', from: day, to: b, sign: 1 }])) {
      q.add(byDay ? dayKey(a) : (r.key as string), { energyWh: r.energyWh, measuredS: r.measuredS, idleS: r.idleS });
    }
    hourEnergy(sqlite, q, day, a, -1);
  } else hourEnergy(sqlite, q, a, b, 1);
}

/**
 * Whether the job-hours of [a, b) are read through the projects' own jobs (a search of
 * job_hour_job per job of theirs, each on pages of its own): only when there are far fewer
 * of those jobs than job-hours in [a, b); otherwise the job-hours of [a, b) (consecutive
 * pages) are read and joined to their records. For a project of 990 jobs and four hours of
 * the national bench (4,300 job-hours), on a page cache not yet filled: 57 ms by its jobs,
 * 11 ms by the hours.
 */
function readsPerJob(sqlite: Database, q: Query, a: number, b: number): boolean {
  return q.fewJobs && 50 * q.jobCount! < (sqlite.prepare('SELECT COUNT(*) AS n FROM job_hour WHERE hour_ts >= ? AND hour_ts < ?').get(a, b) as { n: number }).n;
}

/** Measured energy, GPU-seconds and idle GPU-seconds of the job-hours that start in [a, b), added with `sign`. */
function hourEnergy(sqlite: Database, q: Query, a: number, b: number, sign: 1 | -1): void {
  if (b <= a) return;
  const byDay = q.f.groupBy === 'day';
  // Summed per project, user and partition once, and kept (until a month of [a, b) changes):
  // a page that asks two groupings of one window (the review pack: by day and by user)
  // reads the job-hours once.
  const groups = kept(sqlite, `hours|${a}|${b}|${q.fewJobs}|${String(q.params.accounts)}|${String(q.params.users)}`, a, b, () => {
    const perJob = readsPerJob(sqlite, q, a, b);
    const keys = `j.account AS project, j.user AS user, ${jobKeys.partition} AS partition`;
    return sqlite
      .prepare(
        perJob
          ? `SELECT ${keys}, SUM(h.energy_wh) AS energyWh, SUM(h.gpu_s) AS measuredS, SUM(h.idle_gpu_s) AS idleS
             FROM jobs j INDEXED BY jobs_account JOIN job_hour h INDEXED BY job_hour_job ON h.cluster = j.cluster AND h.job_id = j.job_id
             WHERE h.hour_ts >= @a AND h.hour_ts < @b ${where(q)} GROUP BY 1, 2, 3`
          : `SELECT ${keys}, SUM(h.wh) AS energyWh, SUM(h.gpuS) AS measuredS, SUM(h.idleS) AS idleS
             FROM (SELECT cluster, job_id, SUM(energy_wh) AS wh, SUM(gpu_s) AS gpuS, SUM(idle_gpu_s) AS idleS
                   FROM job_hour WHERE hour_ts >= @a AND hour_ts < @b GROUP BY cluster, job_id) h
               JOIN jobs j ON j.cluster = h.cluster AND j.job_id = h.job_id
             WHERE 1 = 1 ${where(q)} GROUP BY 1, 2, 3`,
      )
      .all({ ...q.params, a, b }) as Array<{ project: string; user: string; partition: string; energyWh: number; measuredS: number; idleS: number }>;
  });
  for (const e of groups) {
    const k = byDay ? dayKey(a) : q.f.groupBy === 'project' ? e.project : q.f.groupBy === 'user' ? e.user : e.partition;
    q.add(k, { energyWh: sign * e.energyWh, measuredS: sign * e.measuredS, idleS: sign * e.idleS });
  }
}

/** Running jobs' allocated GPU-time inside the window, up to now. */
function runningJobs(sqlite: Database, q: Query): void {
  const { f } = q;
  if (f.nowTs <= f.fromTs) return;
  const key = jobKey(f.groupBy);
  const end = Math.min(f.nowTs, f.toTs);
  if (f.groupBy !== 'day') {
    // Summed per key here: two thousand running jobs by user, one at a time, were a quarter of the answer's time.
    // A running job's run ends at `end` (now, or the window's end): db/rules/gpu-hours.ts in SQL.
    const rows = sqlite
      .prepare(
        `SELECT ${key} AS key, COUNT(*) AS jobs, TOTAL(${gpuMsSql({ gpus: 'gpus', startTs: 'start_ts', endTs: '@end', fromTs: '@from' })}) / 1000.0 AS gpuS
         FROM jobs j INDEXED BY jobs_end WHERE end_ts IS NULL AND start_ts < @to ${where(q)} GROUP BY 1`,
      )
      .all({ ...q.params, end }) as Array<{ key: string; jobs: number; gpuS: number }>;
    for (const r of rows) q.add(r.key, r);
    return;
  }
  const jobs = sqlite
    .prepare(`SELECT start_ts AS s, gpus AS g FROM jobs j INDEXED BY jobs_end WHERE end_ts IS NULL AND start_ts < @to ${where(q)}`)
    .all(q.params) as Array<{ s: number; g: number }>;
  for (const j of jobs) {
    for (const [day, gpuS] of gpuSecondsByDay({ startTs: Math.max(j.s, f.fromTs), endTs: end, gpus: j.g })) q.add(dayKey(day), { jobs: 1, gpuS });
  }
}

/** Energy inferred from the scheduler where busy GPUs named no job. */
function inferred(sqlite: Database, q: Query): void {
  const { f } = q;
  const rows = inferredEnergy(sqlite, f.fromTs, f.toTs, f.nowTs);
  if (rows.length === 0) return;
  const meta = sqlite.prepare(`SELECT ${jobKey(f.groupBy)} AS key, j.account, j.user FROM jobs j WHERE j.cluster = ? AND j.job_id = ?`);
  for (const i of rows) {
    const m = meta.get(i.cluster, i.jobId) as { key: string; account: string; user: string } | undefined;
    if (!m || (f.accounts && !f.accounts.includes(m.account)) || (f.users && !f.users.includes(m.user))) continue;
    const wh = i.energyKWh * 1000;
    q.add(f.groupBy === 'day' ? dayKey(i.hourTs) : m.key, { energyWh: wh, inferredWh: wh });
  }
}
