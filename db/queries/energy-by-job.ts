/**
 * Energy by job over a window's hours (the hours that start in it), from the per-job
 * rollup energy_job where a job lies inside the window and from job_hour where it does not.
 *
 * energy_job holds a job's sums over the hours complete before the current one. A job
 * whose first and last such hours fall inside the window's complete hours is read from it;
 * the others are summed here: jobs crossing the window's first hour (or its last, for a
 * window in the past), and jobs with energy in hours not yet complete. A job whose hours
 * are consecutive and which crosses an hour holds energy in that hour, so those are found
 * from the job-hours of the edge hour; jobs with a gap in their hours are few and
 * searched apart (energy_job_gapped).
 */
import type { Database } from 'better-sqlite3';
import { storedInferred } from '../rollups/attribution.ts';
import { maxJobDurationMs } from '../rollups/usage.ts';
import { shareSql } from '../rules/shares.ts';
import { HOUR_MS } from '../rules/time.ts';
import { keptOf, stampOf } from '../stamps.ts';
import { inferredEnergy } from './inferred-energy.ts';

/**
 * The hours a window touches: [startTs, endTs) starting in it, of which [startTs,
 * completeTs) are complete and wholly in it (read from the rollups); the rest of them (the
 * hour the window ends in, hours not yet complete) and the hour it starts in part-way
 * (`headTs`, null when it starts on the hour) are summed from job_hour, each taken in the
 * proportion of its energy that the window counts (energy.service.ts `WindowAttribution.factor`).
 */
export interface WindowHours {
  startTs: number;
  endTs: number;
  completeTs: number;
  headTs: number | null;
  /** Stored hours are current before this (the first hour the compactor has yet to recompute). */
  storedBeforeTs: number;
}

/**
 * The hours [fromTs, toTs) touches, complete ones being those before the hour of `nowTs`
 * and before `storedBeforeTs` (the first hour the compactor has yet to recompute).
 */
export function windowHours(fromTs: number, toTs: number, nowTs: number, storedBeforeTs = Number.MAX_SAFE_INTEGER): WindowHours {
  const startTs = Math.ceil(fromTs / HOUR_MS) * HOUR_MS;
  const endTs = Math.max(startTs, Math.ceil(toTs / HOUR_MS) * HOUR_MS);
  const completeTs = Math.max(startTs, Math.min(Math.floor(toTs / HOUR_MS) * HOUR_MS, Math.floor(nowTs / HOUR_MS) * HOUR_MS, storedBeforeTs));
  return { startTs, endTs, completeTs, headTs: startTs > fromTs ? startTs - HOUR_MS : null, storedBeforeTs: Math.min(storedBeforeTs, Math.floor(nowTs / HOUR_MS) * HOUR_MS) };
}

/** The hours of `w` summed from job_hour rather than the rollups: the hour it starts in part-way, and [completeTs, endTs). */
export function liveHourRanges(w: WindowHours): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  if (w.headTs !== null) ranges.push([w.headTs, w.headTs + HOUR_MS]);
  if (w.completeTs < w.endTs) ranges.push([w.completeTs, w.endTs]);
  return ranges;
}

/** A job's sums over a window: GPU energy (measured plus inferred) and idle GPU-seconds. */
export interface JobWindowSums {
  cluster: string;
  jobId: string;
  account: string;
  energyKWh: number;
  idleGpuS: number;
}

/** A job's place in energy order: more energy first, then cluster and job id, descending. */
export interface JobOrderKey {
  value: number;
  cluster: string;
  jobId: string;
}

/** Whether `a` comes before `b`. */
export const before = (a: JobOrderKey, b: JobOrderKey) =>
  a.value !== b.value ? a.value > b.value : a.cluster !== b.cluster ? a.cluster > b.cluster : a.jobId > b.jobId;

const keyOf = (cluster: string, jobId: string) => `${cluster}\u0000${jobId}`;

/** A job of the window that energy_job cannot answer alone. */
export interface SummedJob extends JobWindowSums {
  /** energy_job's first hour for the job (null: none yet). */
  firstHourTs: number | null;
  /**
   * False while `energyKWh` and `idleGpuS` are bounds: energy_job's sums, which hold the
   * window's complete hours of the job and more; `sumExactly` replaces them.
   */
  exact: boolean;
  /** The part from hours not yet complete. */
  liveKWh: number;
  liveIdleGpuS: number;
}

/**
 * The jobs of the window that energy_job cannot answer: those crossing its first hour (or,
 * for a window in the past, its last), and those with energy in hours not yet complete.
 * Jobs crossing an edge come with bounds first (summing each is a search of job_hour), to
 * be summed when their place in an order matters.
 */
export function jobsSummedLive(
  sqlite: Database,
  w: WindowHours,
  nowTs: number,
  factorOf: (hourTs: number) => number,
): { jobs: Map<string, SummedJob>; sumExactly: (j: SummedJob) => void } {
  const jobs = new Map<string, SummedJob>();
  // What is read from the complete hours alone is kept until a refresh recomputes some of them.
  const stored = storedFacts(sqlite, w);
  const sums = sqlite.prepare(
    `SELECT COUNT(*) AS n, TOTAL(kwh) AS energyKWh, TOTAL(idle) AS idleGpuS FROM (
       SELECT energy_wh / 1000.0 AS kwh, idle_gpu_s AS idle FROM job_hour WHERE cluster = @cluster AND job_id = @jobId AND hour_ts >= @from AND hour_ts < @to
       UNION ALL SELECT energy_kwh, 0 FROM energy_job_inferred WHERE cluster = @cluster AND job_id = @jobId AND hour_ts >= @from AND hour_ts < @to)`,
  );
  const completePart = (cluster: string, jobId: string) => {
    const k = keyOf(cluster, jobId);
    let s = stored.sums.get(k);
    if (!s) stored.sums.set(k, (s = sums.get({ cluster, jobId, from: w.startTs, to: w.completeTs }) as { n: number; energyKWh: number; idleGpuS: number }));
    return s;
  };
  const sumExactly = (j: SummedJob) => {
    if (j.exact) return;
    const s = completePart(j.cluster, j.jobId);
    Object.assign(j, { energyKWh: s.energyKWh + j.liveKWh, idleGpuS: s.idleGpuS + j.liveIdleGpuS, exact: true });
  };
  if (w.startTs < w.completeTs) {
    const crossing = sqlite.prepare(
      `SELECT e.cluster, e.job_id AS jobId, e.account, e.first_hour_ts AS firstHourTs, e.energy_kwh AS energyKWh, e.idle_gpu_s AS idleGpuS, 0 AS gapped
         FROM job_hour h JOIN energy_job e ON e.cluster = h.cluster AND e.job_id = h.job_id WHERE h.hour_ts = @edge AND e.first_hour_ts < @edge
       UNION SELECT e.cluster, e.job_id, e.account, e.first_hour_ts, e.energy_kwh, e.idle_gpu_s, 0
         FROM energy_job_inferred i JOIN energy_job e ON e.cluster = i.cluster AND e.job_id = i.job_id WHERE i.hour_ts = @edge AND e.first_hour_ts < @edge
       UNION SELECT cluster, job_id, account, first_hour_ts, energy_kwh, idle_gpu_s, 1 FROM energy_job INDEXED BY energy_job_gapped
         WHERE gapped = 1 AND first_hour_ts < @edge AND last_hour_ts >= @edge`,
    );
    // Jobs crossing the first hour, or (a window in the past) the hour after the last complete one.
    const edges = [w.startTs];
    if (w.completeTs < Math.floor(nowTs / HOUR_MS) * HOUR_MS) edges.push(w.completeTs);
    for (const edge of edges) {
      let rows = stored.crossing.get(edge);
      if (!rows) stored.crossing.set(edge, (rows = crossing.all({ edge }) as CrossingRow[]));
      for (const c of rows) {
        const k = keyOf(c.cluster, c.jobId);
        if (jobs.has(k)) continue;
        const j: SummedJob = { cluster: c.cluster, jobId: c.jobId, account: c.account, energyKWh: c.energyKWh, idleGpuS: c.idleGpuS, firstHourTs: c.firstHourTs, exact: false, liveKWh: 0, liveIdleGpuS: 0 };
        // A job found by its energy in an edge hour of the window is in it; one with a gap in its hours may not be.
        if (c.gapped) {
          sumExactly(j);
          if (completePart(c.cluster, c.jobId).n === 0) continue;
        }
        jobs.set(k, j);
      }
    }
  }
  const ranges = liveHourRanges(w);
  if (ranges.length > 0) {
    // Hours not yet complete and hours the window cuts: their job-hours and inferred energy
    // as they are now (of an hour cut, the part the window counts), on top of
    // what energy_job holds. Each job's energy_job row comes in the same statement (a lookup
    // per job from here cost more than the sums: two thousand running jobs a month's window),
    // and its account with it: once refreshed (windowAttribution), energy_job's account is the
    // record's. Only jobs not yet in energy_job look their record up.
    type Snapshot = { firstHourTs: number; lastHourTs: number; energyKWh: number; idleGpuS: number };
    const live = new Map<string, JobWindowSums & { snapshot: Snapshot | null }>();
    // Read as arrays, not objects: over the two thousand job-hours of an hour, building an
    // object per row was a third of the statement's time (the national bench: 5.8 → 3.3 ms).
    const rows = sqlite
      .prepare(
        `SELECT h.cluster, h.job_id, COALESCE(e.account, (SELECT account FROM jobs j WHERE j.cluster = h.cluster AND j.job_id = h.job_id)),
           h.hour_ts, h.energy_wh / 1000.0, h.idle_gpu_s, e.first_hour_ts, e.last_hour_ts, e.energy_kwh, e.idle_gpu_s
         FROM job_hour h LEFT JOIN energy_job e ON e.cluster = h.cluster AND e.job_id = h.job_id
         WHERE h.hour_ts >= ? AND h.hour_ts < ?`,
      )
      .raw();
    type LiveRow = [cluster: string, jobId: string, account: string | null, hourTs: number, energyKWh: number, idleGpuS: number, firstHourTs: number | null, lastHourTs: number, storedKWh: number, storedIdleGpuS: number];
    for (const [cluster, jobId, account, hourTs, energyKWh, idleGpuS, firstHourTs, lastHourTs, storedKWh, storedIdleGpuS] of ranges.flatMap(([a, b]) => rows.all(a, b) as LiveRow[])) {
      if (account === null) continue; // no record: its energy stays unattributed
      const f = factorOf(hourTs);
      const k = keyOf(cluster, jobId);
      const seen = live.get(k);
      if (seen) {
        // The same job in another hour not yet complete (a window reaching past the current hour).
        seen.energyKWh += energyKWh * f;
        seen.idleGpuS += idleGpuS * f;
        continue;
      }
      const snapshot = firstHourTs === null ? null : { firstHourTs, lastHourTs, energyKWh: storedKWh, idleGpuS: storedIdleGpuS };
      live.set(k, { cluster, jobId, account, energyKWh: energyKWh * f, idleGpuS: idleGpuS * f, snapshot });
    }
    const accountOf = sqlite.prepare('SELECT account FROM jobs WHERE cluster = ? AND job_id = ?');
    const snapshot = sqlite.prepare(
      'SELECT first_hour_ts AS firstHourTs, last_hour_ts AS lastHourTs, energy_kwh AS energyKWh, idle_gpu_s AS idleGpuS FROM energy_job WHERE cluster = ? AND job_id = ?',
    );
    // Stored hours' inferred energy as stored; that of hours not yet (re)computed by the compactor worked out.
    const inferred = ranges.flatMap(([a, b]) => (b <= w.storedBeforeTs ? storedInferred(sqlite, a, b) : inferredEnergy(sqlite, a, b, nowTs)));
    for (const i of inferred) {
      const k = keyOf(i.cluster, i.jobId);
      const r = live.get(k);
      const energyKWh = i.energyKWh * factorOf(i.hourTs);
      if (r) r.energyKWh += energyKWh;
      else {
        const account = (accountOf.get(i.cluster, i.jobId) as { account: string } | undefined)?.account;
        const stored = (snapshot.get(i.cluster, i.jobId) as Snapshot | undefined) ?? null;
        if (account !== undefined) live.set(k, { cluster: i.cluster, jobId: i.jobId, account, energyKWh, idleGpuS: 0, snapshot: stored });
      }
    }
    for (const [k, r] of live) {
      const e = r.snapshot;
      const known = jobs.get(k);
      if (known) {
        known.liveKWh = r.energyKWh;
        known.liveIdleGpuS = r.idleGpuS;
        known.energyKWh += r.energyKWh;
        known.idleGpuS += r.idleGpuS;
        continue;
      }
      // Not crossing the first hour: its complete hours, if any, lie in the window, and energy_job
      // holds them unless it was summed at a later hour than `nowTs` (a clock set back).
      const j: SummedJob = { cluster: r.cluster, jobId: r.jobId, account: r.account, energyKWh: r.energyKWh, idleGpuS: r.idleGpuS, firstHourTs: e?.firstHourTs ?? null, exact: true, liveKWh: r.energyKWh, liveIdleGpuS: r.idleGpuS };
      if (e && e.firstHourTs >= w.startTs && e.lastHourTs < w.completeTs) {
        j.energyKWh += e.energyKWh;
        j.idleGpuS += e.idleGpuS;
      } else if (e && e.firstHourTs < w.completeTs && e.lastHourTs >= w.startTs) {
        // Complete hours both before the window and in it (one that ended before the
        // window's first hour has none in it: no search).
        j.exact = false;
        sumExactly(j);
      }
      jobs.set(k, j);
    }
  }
  return { jobs, sumExactly };
}

/** A job crossing an edge hour of a window, as energy_job holds it. */
type CrossingRow = JobWindowSums & { firstHourTs: number; gapped: number };

/**
 * Facts of a window read from its complete hours alone (the jobs crossing its edges, jobs'
 * sums over its complete hours), per connection until the stored hours change
 * (the 'attribution' change stamp, db/stamps.ts, over the window and as far around it as a job can run): the hour not yet complete changes
 * with every batch, the complete ones only when late data arrive.
 */
interface StoredFacts {
  crossing: Map<number, CrossingRow[]>;
  sums: Map<string, { n: number; energyKWh: number; idleGpuS: number }>;
  figures: Map<string, StoredJobFigures>;
}
const MAX_KEPT_WINDOWS = 16;

function storedFacts(sqlite: Database, w: WindowHours): StoredFacts {
  // A job crossing the window's edge has stored hours as far from it as the longest run.
  const reach = maxJobDurationMs(sqlite) + 24 * HOUR_MS;
  const stamp = stampOf(sqlite, 'attribution', w.startTs - reach, w.endTs + reach);
  return keptOf<StoredFacts>(sqlite, 'storedFacts', MAX_KEPT_WINDOWS).getOr(`${w.startTs}|${w.completeTs}|${w.endTs}`, stamp, () => ({
    crossing: new Map(),
    sums: new Map(),
    figures: new Map(),
  }));
}

/** Jobs (of `accounts`, or all) whose complete hours in energy_job start in the window's complete hours. */
export function countStartingIn(sqlite: Database, w: WindowHours, accounts: string[] | null): number {
  if (w.startTs >= w.completeTs) return 0;
  if (accounts === null) {
    // Counted per first hour by triggers (migration 0015).
    return (sqlite.prepare('SELECT TOTAL(jobs) AS n FROM energy_job_first_hour WHERE hour_ts >= ? AND hour_ts < ?').get(w.startTs, w.completeTs) as { n: number }).n;
  }
  return (
    sqlite
      .prepare('SELECT COUNT(*) AS n FROM energy_job INDEXED BY energy_job_account WHERE account IN (SELECT value FROM json_each(?)) AND first_hour_ts >= ? AND first_hour_ts < ?')
      .get(JSON.stringify(accounts), w.startTs, w.completeTs) as { n: number }
  ).n;
}

/**
 * Up to `fewInside` jobs inside a window, they are read by first hour and sorted here
 * rather than found along the energy index (a test sets it to 0 to page along the index).
 */
export const insideScan = { fewInside: 20_000 };

/**
 * Jobs lying inside the window's complete hours, in energy order after `after`, as
 * energy_job holds them (the caller skips those it sums live). `inside` is how many there
 * are (`countStartingIn`, `count`): a narrow window's few jobs are read by their first hour and
 * sorted (walking the energy index for them read hundreds of rows per job: 300 ms for a
 * day half a year back on the national bench).
 */
export function* insideByEnergy(sqlite: Database, w: WindowHours, after: JobOrderKey | null, count = Number.MAX_SAFE_INTEGER): Generator<JobWindowSums & JobOrderKey> {
  if (w.startTs >= w.completeTs) return;
  const cols = 'cluster, job_id AS jobId, account, energy_kwh AS energyKWh, idle_gpu_s AS idleGpuS, energy_kwh AS value';
  if (count <= insideScan.fewInside) {
    const rows = sqlite
      .prepare(`SELECT ${cols} FROM energy_job INDEXED BY energy_job_first WHERE first_hour_ts >= @from AND first_hour_ts < @to AND last_hour_ts < @to`)
      .all({ from: w.startTs, to: w.completeTs }) as Array<JobWindowSums & JobOrderKey>;
    yield* rows.filter((r) => after === null || before(after, r)).sort((a, b) => (before(a, b) ? -1 : 1));
    return;
  }
  const order = 'ORDER BY energy_kwh DESC, cluster DESC, job_id DESC LIMIT @n';
  const inside = 'first_hour_ts >= @from AND last_hour_ts < @to';
  const fromStart = sqlite.prepare(`SELECT ${cols} FROM energy_job INDEXED BY energy_job_energy WHERE ${inside} ${order}`);
  const fromKey = sqlite.prepare(`SELECT ${cols} FROM energy_job INDEXED BY energy_job_energy WHERE ${inside} AND (energy_kwh, cluster, job_id) < (@value, @cluster, @jobId) ${order}`);
  // Read in growing chunks rather than a row at a time: a page usually needs its first chunk only.
  let cursor = after;
  for (let n = 128; ; n = Math.min(4 * n, 8192)) {
    const p = { from: w.startTs, to: w.completeTs, n };
    const rows = (cursor ? fromKey.all({ ...p, value: cursor.value, cluster: cursor.cluster, jobId: cursor.jobId }) : fromStart.all(p)) as Array<JobWindowSums & JobOrderKey>;
    yield* rows;
    if (rows.length < n) return;
    cursor = rows.at(-1)!;
  }
}

/** Jobs of `accounts` lying inside the window's complete hours, as energy_job holds them. */
export function insideOfAccounts(sqlite: Database, w: WindowHours, accounts: string[]): JobWindowSums[] {
  if (w.startTs >= w.completeTs) return [];
  return sqlite
    .prepare(
      `SELECT cluster, job_id AS jobId, account, energy_kwh AS energyKWh, idle_gpu_s AS idleGpuS FROM energy_job INDEXED BY energy_job_account
       WHERE account IN (SELECT value FROM json_each(?)) AND first_hour_ts >= ? AND first_hour_ts < ? AND last_hour_ts < ?`,
    )
    .all(JSON.stringify(accounts), w.startTs, w.completeTs, w.completeTs) as JobWindowSums[];
}

/**
 * A list of jobs as a statement reads it: `json_each(@page) p`, each `p.value` a
 * [cluster, jobId] pair and `p.key` its place in the list; `onPageJob('h')` joins a table's
 * rows of those jobs.
 */
const pageOf = (jobs: Array<{ cluster: string; jobId: string }>) => JSON.stringify(jobs.map((j) => [j.cluster, j.jobId]));
const onPageJob = (alias: string) => `${alias}.cluster = p.value ->> 0 AND ${alias}.job_id = p.value ->> 1`;

/** A job's sums over stored hours, with its shares of those hours' figures (energy_hour). */
export interface StoredJobFigures {
  energyKWh: number;
  inferredKWh: number;
  gpuS: number;
  idleGpuS: number;
  utilPctS: number;
  overheadKWh: number;
  reusedKWh: number;
  co2Kg: number;
  /** Hour rows summed (0: the job has no energy in these hours). */
  n: number;
}

/**
 * Per job of `jobs`, its measured and inferred energy over the stored hours [fromTs, toTs)
 * and its shares of each hour's overhead, reused heat and CO2 (the job's part of the hour's
 * IT energy; an hour without figures shares nothing out), summed in two statements for the
 * whole list: a statement per job cost a tenth of a page of energy by job.
 */
export function storedJobFigures(sqlite: Database, all: Array<{ cluster: string; jobId: string }>, fromTs: number, toTs: number): StoredJobFigures[] {
  const out = all.map(() => ({ energyKWh: 0, inferredKWh: 0, gpuS: 0, idleGpuS: 0, utilPctS: 0, overheadKWh: 0, reusedKWh: 0, co2Kg: 0, n: 0 }));
  if (all.length === 0 || fromTs >= toTs) return out;
  // A job whose stored hours all lie in [fromTs, toTs) has its figures in its energy_job row
  // (one lookup); only the others are summed from their hours.
  const rows = sqlite
    .prepare(
      `SELECT p.key AS i, e.first_hour_ts AS firstHourTs, e.last_hour_ts AS lastHourTs, e.hours AS n, e.energy_kwh AS energyKWh, e.inferred_kwh AS inferredKWh,
         e.gpu_s AS gpuS, e.idle_gpu_s AS idleGpuS, e.util_pct_s AS utilPctS, e.overhead_kwh AS overheadKWh, e.reused_kwh AS reusedKWh, e.co2_kg AS co2Kg
       FROM json_each(@page) p JOIN energy_job e ON ${onPageJob('e')}`,
    )
    .all({ page: pageOf(all) }) as Array<StoredJobFigures & { i: number; firstHourTs: number; lastHourTs: number }>;
  const whole = new Set<number>();
  for (const { i, firstHourTs, lastHourTs, ...figures } of rows) {
    if (firstHourTs < fromTs || lastHourTs >= toTs) continue;
    out[i] = figures;
    whole.add(i);
  }
  const at = all.flatMap((_, i) => (whole.has(i) ? [] : [i]));
  const jobs = at.map((i) => all[i]!);
  if (jobs.length === 0) return out;
  const shares = (kwh: string) => `${shareSql(kwh, 'e')}, COUNT(*) AS n`;
  const page = pageOf(jobs);
  const measured = sqlite
    .prepare(
      `SELECT p.key AS i, TOTAL(h.energy_wh / 1000.0) AS energyKWh, TOTAL(h.gpu_s) AS gpuS, TOTAL(h.idle_gpu_s) AS idleGpuS, TOTAL(h.util_pct_s) AS utilPctS,
         ${shares('h.energy_wh / 1000.0')}
       FROM json_each(@page) p JOIN job_hour h INDEXED BY job_hour_job ON ${onPageJob('h')}
         LEFT JOIN energy_hour e ON e.hour_ts = h.hour_ts
       WHERE h.hour_ts >= @from AND h.hour_ts < @to GROUP BY p.key`,
    )
    .all({ page, from: fromTs, to: toTs }) as Array<StoredJobFigures & { i: number }>;
  const inferred = sqlite
    .prepare(
      `SELECT p.key AS i, TOTAL(x.energy_kwh) AS energyKWh, ${shares('x.energy_kwh')}
       FROM json_each(@page) p JOIN energy_job_inferred x INDEXED BY energy_job_inferred_job ON ${onPageJob('x')}
         LEFT JOIN energy_hour e ON e.hour_ts = x.hour_ts
       WHERE x.hour_ts >= @from AND x.hour_ts < @to GROUP BY p.key`,
    )
    .all({ page, from: fromTs, to: toTs }) as Array<StoredJobFigures & { i: number }>;
  for (const r of measured) Object.assign(out[at[r.i]!]!, { energyKWh: r.energyKWh, gpuS: r.gpuS, idleGpuS: r.idleGpuS, utilPctS: r.utilPctS, overheadKWh: r.overheadKWh, reusedKWh: r.reusedKWh, co2Kg: r.co2Kg, n: r.n });
  for (const r of inferred) {
    const o = out[at[r.i]!]!;
    o.energyKWh += r.energyKWh;
    o.inferredKWh += r.energyKWh;
    o.overheadKWh += r.overheadKWh;
    o.reusedKWh += r.reusedKWh;
    o.co2Kg += r.co2Kg;
    o.n += r.n;
  }
  return out;
}

/** Per job of `jobs`, its job-hours in [fromTs, toTs) (hours not yet stored), in one statement for the whole list. */
export function jobHoursOf(sqlite: Database, jobs: Array<{ cluster: string; jobId: string }>, fromTs: number, toTs: number) {
  const out = jobs.map(() => [] as Array<{ hourTs: number; energyKWh: number; gpuS: number; idleGpuS: number; utilPctS: number }>);
  if (jobs.length === 0 || fromTs >= toTs) return out;
  const rows = sqlite
    .prepare(
      `SELECT p.key AS i, h.hour_ts AS hourTs, h.energy_wh / 1000.0 AS energyKWh, h.gpu_s AS gpuS, h.idle_gpu_s AS idleGpuS, h.util_pct_s AS utilPctS
       FROM json_each(@page) p JOIN job_hour h INDEXED BY job_hour_job ON ${onPageJob('h')}
       WHERE h.hour_ts >= @from AND h.hour_ts < @to`,
    )
    .all({ page: pageOf(jobs), from: fromTs, to: toTs }) as Array<{ i: number; hourTs: number; energyKWh: number; gpuS: number; idleGpuS: number; utilPctS: number }>;
  for (const r of rows) out[r.i]!.push({ hourTs: r.hourTs, energyKWh: r.energyKWh, gpuS: r.gpuS, idleGpuS: r.idleGpuS, utilPctS: r.utilPctS });
  return out;
}

/**
 * `storedJobFigures` over complete hours of the window `w` (fromTs ≥ w.startTs, toTs at most
 * its last complete hour), kept with the window's other facts of its stored hours.
 */
export function keptJobFigures(sqlite: Database, w: WindowHours, jobs: Array<{ cluster: string; jobId: string }>, fromTs: number, toTs: number): StoredJobFigures[] {
  const kept = storedFacts(sqlite, w).figures;
  const keyOfJob = (j: { cluster: string; jobId: string }) => `${keyOf(j.cluster, j.jobId)}\u0000${fromTs}\u0000${toTs}`;
  // A client paging through a whole window would keep every job's: past a bound, start over.
  if (kept.size > 5_000) kept.clear();
  const missing = jobs.filter((j) => !kept.has(keyOfJob(j)));
  storedJobFigures(sqlite, missing, fromTs, toTs).forEach((f, i) => kept.set(keyOfJob(missing[i]!), f));
  return jobs.map((j) => kept.get(keyOfJob(j))!);
}
