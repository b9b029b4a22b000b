/**
 * Energy attribution rollups (DESIGN.md, accounting rules: Attribution). Per complete hour
 * they hold the facility overhead, reused heat and CO2 shared out to projects in proportion
 * to their GPU energy, with the hour's unattributed remainder as a row of its own
 * (energy_project_hour, summed into energy_project_day and energy_project_month), the
 * hour's figures themselves (energy_hour), the energy inferred per job (energy_job_inferred)
 * and per job its sums and span of hours (energy_job). A year of attribution then reads a
 * few thousand rows, and every column still sums to the meters: each hour's rows do.
 *
 * An hour's attribution is a pure function of that hour's facility intervals, GPU-hours,
 * job-hours and the records of the jobs in it, so it is stored per hour and recomputed when
 * any of those change: triggers (migration 0009) put the hour into energy_dirty_hour, and
 * the compactor (db/store.ts) calls `refreshAttribution`; reads compute the hours still
 * marked live (`settledBefore`). Only complete hours are stored; the current hour
 * is computed live, because energy inferred for a running job grows with the clock.
 */
import type { Database, Statement } from 'better-sqlite3';
import { allGpusByHour, measuredByHourAndAccount, type AlignedParts } from '../queries/energy-by-project.ts';
import { facilityEnergy } from '../queries/facility-energy.ts';
import { inferredEnergy } from '../queries/inferred-energy.ts';
import { hourShares, shareOut as shareOutWith, shareSql, sharedItKWh, type HourShares, type HourRow, type MeteredHour } from '../rules/shares.ts';
import { DAY_MS, HOUR_MS, INTERVAL_MS, bucketOf, monthOf, nextMonth } from '../rules/time.ts';

export const UNATTRIBUTED = '(unattributed)';

/** The inputs of attribution per hour over a window. */
export interface HourlyAttribution {
  byHour: Map<number, HourShares>;
  /** GPU energy (measured plus inferred) per hour and project, of jobs whose record is known. */
  byAccount: Array<{ hourTs: number; account: string; energyKWh: number }>;
  /** Energy inferred per hour and job (db/queries/inferred-energy.ts). */
  inferred: Array<{ hourTs: number; cluster: string; jobId: string; account: string; energyKWh: number }>;
}

/** The facility meters per hour (the sums of the 5-minute intervals starting in [fromTs, toTs)), the CO2 at each interval's grid intensity. */
function meteredHours(sqlite: Database, fromTs: number, toTs: number): Map<number, MeteredHour> {
  const facility = new Map<number, MeteredHour>();
  for (const b of facilityEnergy(sqlite, null, fromTs, toTs, INTERVAL_MS)) {
    const hour = bucketOf(b.ts, HOUR_MS);
    let f = facility.get(hour);
    if (!f) facility.set(hour, (f = { itKWh: null, facilityKWh: null, reusedKWh: 0, co2Kg: 0 }));
    if (b.itEnergyKWh !== null) f.itKWh = (f.itKWh ?? 0) + b.itEnergyKWh;
    if (b.facilityEnergyKWh !== null) {
      f.facilityKWh = (f.facilityKWh ?? 0) + b.facilityEnergyKWh;
      if (b.gridCo2GPerKWh !== null) f.co2Kg += (b.facilityEnergyKWh * b.gridCo2GPerKWh) / 1000;
    }
    f.reusedKWh += b.reusedHeatKWh ?? 0;
  }
  return facility;
}

/**
 * Per hour over [fromTs, toTs): the IT energy to share by (the meters' E_IT, but never less
 * than the GPUs' own energy), the overhead E_DC − E_IT, the reused heat and the CO2 of
 * each 5-minute interval's facility energy at that interval's grid intensity; and the GPU
 * energy per project that shares them. Facility intervals count from `fromTs`; GPU and job
 * hours count when they start in the window.
 */
export function attributeHours(sqlite: Database, fromTs: number, toTs: number, nowTs: number): HourlyAttribution {
  const facility = meteredHours(sqlite, fromTs, toTs);

  const byKey = new Map<string, { hourTs: number; account: string; energyKWh: number }>();
  for (const m of measuredByHourAndAccount(sqlite, fromTs, toTs)) byKey.set(`${m.hourTs}\u0000${m.account}`, m);
  const accountOf = sqlite.prepare('SELECT account FROM jobs WHERE cluster = ? AND job_id = ?');
  const inferred: HourlyAttribution['inferred'] = [];
  for (const i of inferredEnergy(sqlite, fromTs, toTs, nowTs)) {
    const account = (accountOf.get(i.cluster, i.jobId) as { account: string } | undefined)?.account;
    if (account === undefined) continue;
    inferred.push({ ...i, account });
    const k = `${i.hourTs}\u0000${account}`;
    const m = byKey.get(k);
    if (m) m.energyKWh += i.energyKWh;
    else byKey.set(k, { hourTs: i.hourTs, account, energyKWh: i.energyKWh });
  }
  const byAccount = [...byKey.values()];
  const gpusTotal = new Map<number, number>();
  for (const m of byAccount) gpusTotal.set(m.hourTs, (gpusTotal.get(m.hourTs) ?? 0) + m.energyKWh);
  const allGpus = allGpusByHour(sqlite, fromTs, toTs);

  const byHour = new Map<number, HourShares>();
  for (const hour of new Set([...facility.keys(), ...gpusTotal.keys(), ...allGpus.keys()])) {
    const f = facility.get(hour);
    byHour.set(hour, hourShares(f, sharedItKWh(f?.itKWh ?? null, gpusTotal.get(hour) ?? 0, allGpus.get(hour) ?? 0)));
  }
  return { byHour, byAccount, inferred };
}

/** Attribution of a window that cuts hours: `factor` holds, per hour not wholly in it, the part of the hour's GPU energy that counts. */
export interface ClippedAttribution extends HourlyAttribution {
  factor: Map<number, number>;
}

/**
 * Attribution over any [fromTs, toTs), clipped to it the way the facility KPIs are: the
 * meters count the 5-minute intervals starting in the window. Hours wholly in it are
 * attributeHours' hours. Of an hour the window cuts, GPU energy is known per hour only, so
 * each project's (and job's) GPU energy of the hour counts in the proportion the IT meters'
 * energy of the intervals in the window bears to theirs over the hour (so far), or, with no
 * IT meter reading, the proportion of the hour's elapsed time in the window; that part is
 * then shared out as an hour is: every column of it still sums to the meters of the part.
 */
export function attributeWindow(sqlite: Database, fromTs: number, toTs: number, nowTs: number, storedBeforeTs = bucketOf(nowTs, HOUR_MS)): ClippedAttribution {
  const hoursFrom = bucketOf(fromTs, HOUR_MS);
  const hoursTo = Math.ceil(toTs / HOUR_MS) * HOUR_MS;
  const factor = new Map<number, number>();
  if (fromTs === hoursFrom && toTs === hoursTo) return { ...attributeHours(sqlite, fromTs, toTs, nowTs), factor };
  // A cut hour that is complete and stored current (before `storedBeforeTs`, settledBefore) is read from the rollups; others are worked out here.
  const storedTo = Math.min(storedBeforeTs, bucketOf(nowTs, HOUR_MS));
  const cut = [...new Set([fromTs > hoursFrom ? hoursFrom : null, toTs < hoursTo ? hoursTo - HOUR_MS : null])].filter(
    (h): h is number => h !== null && h + HOUR_MS <= storedTo,
  );
  let liveFrom = hoursFrom;
  let liveTo = hoursTo;
  while (cut.includes(liveFrom) && liveFrom < liveTo) liveFrom += HOUR_MS;
  while (cut.includes(liveTo - HOUR_MS) && liveTo > liveFrom) liveTo -= HOUR_MS;
  const a: HourlyAttribution = liveFrom < liveTo ? attributeHours(sqlite, liveFrom, liveTo, nowTs) : { byHour: new Map(), byAccount: [], inferred: [] };
  for (const hour of cut) storedHour(sqlite, hour, a);
  const whole = meteredHours(sqlite, hoursFrom, hoursTo);
  const part = meteredHours(sqlite, fromTs, toTs);
  for (const [hour, h] of a.byHour) {
    if (hour >= fromTs && hour + HOUR_MS <= toTs) continue;
    const meteredKWh = whole.get(hour)?.itKWh ?? 0;
    const seenTo = Math.min(hour + HOUR_MS, Math.max(nowTs, hour + INTERVAL_MS));
    const f =
      meteredKWh > 0
        ? (part.get(hour)?.itKWh ?? 0) / meteredKWh
        : Math.max(0, Math.min(toTs, seenTo) - Math.max(fromTs, hour)) / (seenTo - hour);
    factor.set(hour, f);
    a.byHour.set(hour, hourShares(part.get(hour), h.itKWh * f));
  }
  const scale = <T extends { hourTs: number; energyKWh: number }>(r: T): T => {
    const f = factor.get(r.hourTs);
    return f === undefined ? r : { ...r, energyKWh: r.energyKWh * f };
  };
  return { byHour: a.byHour, byAccount: a.byAccount.map(scale), inferred: a.inferred.map(scale), factor };
}

/** Adds a stored hour's attribution inputs to `a`, as attributeHours found them when it stored the hour. */
function storedHour(sqlite: Database, hourTs: number, a: HourlyAttribution): void {
  const h = sqlite.prepare('SELECT it_kwh AS itKWh, overhead_kwh AS overheadKWh, reused_kwh AS reusedKWh, co2_kg AS co2Kg FROM energy_hour WHERE hour_ts = ?').get(hourTs) as
    | HourShares
    | undefined;
  if (!h) return;
  a.byHour.set(hourTs, h);
  const accounts = sqlite.prepare('SELECT account, it_kwh AS energyKWh FROM energy_project_hour WHERE hour_ts = ? AND account != ?').all(hourTs, UNATTRIBUTED) as Array<{
    account: string;
    energyKWh: number;
  }>;
  for (const r of accounts) a.byAccount.push({ hourTs, ...r });
  for (const i of storedInferred(sqlite, hourTs, hourTs + HOUR_MS)) if (i.account !== null) a.inferred.push({ ...i, account: i.account });
}

/** Energy inferred per job over the stored hours [fromTs, toTs) (energy_job_inferred), with the job's project. */
export function storedInferred(sqlite: Database, fromTs: number, toTs: number): Array<{ hourTs: number; cluster: string; jobId: string; account: string | null; energyKWh: number }> {
  return sqlite
    .prepare(
      `SELECT i.hour_ts AS hourTs, i.cluster, i.job_id AS jobId, j.account, i.energy_kwh AS energyKWh
       FROM energy_job_inferred i LEFT JOIN jobs j ON j.cluster = i.cluster AND j.job_id = i.job_id WHERE i.hour_ts >= ? AND i.hour_ts < ?`,
    )
    .all(fromTs, toTs) as Array<{ hourTs: number; cluster: string; jobId: string; account: string | null; energyKWh: number }>;
}

/** Each project's share of each hour, and per hour the remainder as the unattributed row (db/rules/shares.ts). */
export function shareOut(a: HourlyAttribution): HourRow[] {
  return shareOutWith(a, UNATTRIBUTED);
}

/**
 * Splits [fromTs, toTs) into the part the rollups hold (whole hours, complete before
 * `nowTs` and before `storedBeforeTs`, `settledBefore`) and the edges computed live: the
 * partial hours at either end, the hours not yet complete and those the compactor has not
 * yet recomputed.
 */
export function windowSplit(
  fromTs: number,
  toTs: number,
  nowTs: number,
  storedBeforeTs = bucketOf(nowTs, HOUR_MS),
): { stored: [number, number] | null; live: Array<[number, number]> } {
  const a = Math.ceil(fromTs / HOUR_MS) * HOUR_MS;
  const b = Math.min(bucketOf(toTs, HOUR_MS), bucketOf(nowTs, HOUR_MS), storedBeforeTs);
  if (a >= b) return { stored: null, live: toTs > fromTs ? [[fromTs, toTs]] : [] };
  const live: Array<[number, number]> = [];
  if (fromTs < a) live.push([fromTs, a]);
  if (b < toTs) live.push([b, toTs]);
  return { stored: [a, b], live };
}

/** Whole calendar months, then whole days, then hours that make up an hour-aligned [fromTs, toTs). */
export function alignedParts(fromTs: number, toTs: number): AlignedParts {
  const parts: AlignedParts = { hours: [], days: [], months: [] };
  const firstDay = Math.ceil(fromTs / DAY_MS) * DAY_MS;
  const lastDay = bucketOf(toTs, DAY_MS);
  if (firstDay >= lastDay) {
    parts.hours.push([fromTs, toTs]);
    return parts;
  }
  if (fromTs < firstDay) parts.hours.push([fromTs, firstDay]);
  const firstMonth = monthOf(firstDay) === firstDay ? firstDay : nextMonth(firstDay);
  const lastMonth = monthOf(lastDay);
  if (firstMonth < lastMonth) {
    if (firstDay < firstMonth) parts.days.push([firstDay, firstMonth]);
    parts.months.push([firstMonth, lastMonth]);
    if (lastMonth < lastDay) parts.days.push([lastMonth, lastDay]);
  } else {
    parts.days.push([firstDay, lastDay]);
  }
  if (lastDay < toTs) parts.hours.push([lastDay, toTs]);
  return parts;
}

/** Hours recomputed at most per pass, so a backfill of months is read a day at a time. */
const CHUNK_MS = DAY_MS;

class Writer {
  readonly st: Record<string, Statement>;

  constructor(private readonly sqlite: Database) {
    const sums = 'it_kwh, overhead_kwh, reused_kwh, co2_kg';
    const sumsOf = 'TOTAL(it_kwh), TOTAL(overhead_kwh), TOTAL(reused_kwh), TOTAL(co2_kg)';
    this.st = {
      hourDel: sqlite.prepare('DELETE FROM energy_hour WHERE hour_ts >= ? AND hour_ts < ?'),
      hourIns: sqlite.prepare(`INSERT INTO energy_hour (hour_ts, ${sums}) VALUES (?, ?, ?, ?, ?)`),
      projectDel: sqlite.prepare('DELETE FROM energy_project_hour WHERE hour_ts >= ? AND hour_ts < ?'),
      // A project literally named like the remainder shares its row rather than failing the key.
      projectIns: sqlite.prepare(
        `INSERT INTO energy_project_hour (hour_ts, account, ${sums}) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (hour_ts, account) DO UPDATE SET it_kwh = it_kwh + excluded.it_kwh, overhead_kwh = overhead_kwh + excluded.overhead_kwh,
           reused_kwh = reused_kwh + excluded.reused_kwh, co2_kg = co2_kg + excluded.co2_kg`,
      ),
      inferredJobs: sqlite.prepare('SELECT DISTINCT cluster, job_id AS jobId FROM energy_job_inferred WHERE hour_ts >= ? AND hour_ts < ?'),
      measuredJobs: sqlite.prepare('SELECT DISTINCT cluster, job_id AS jobId FROM job_hour WHERE hour_ts >= ? AND hour_ts < ?'),
      inferredDel: sqlite.prepare('DELETE FROM energy_job_inferred WHERE hour_ts >= ? AND hour_ts < ?'),
      inferredIns: sqlite.prepare('INSERT INTO energy_job_inferred (hour_ts, cluster, job_id, energy_kwh) VALUES (?, ?, ?, ?)'),
      dayDel: sqlite.prepare('DELETE FROM energy_project_day WHERE day_ts = ?'),
      dayIns: sqlite.prepare(
        `INSERT INTO energy_project_day (day_ts, account, ${sums})
         SELECT @day, account, ${sumsOf} FROM energy_project_hour WHERE hour_ts >= @day AND hour_ts < @day + ${DAY_MS} GROUP BY account`,
      ),
      monthDel: sqlite.prepare('DELETE FROM energy_project_month WHERE month_ts = ?'),
      monthIns: sqlite.prepare(
        `INSERT INTO energy_project_month (month_ts, account, ${sums})
         SELECT @month, account, ${sumsOf} FROM energy_project_day WHERE day_ts >= @month AND day_ts < @next GROUP BY account`,
      ),
      jobAccount: sqlite.prepare('SELECT account FROM jobs WHERE cluster = ? AND job_id = ?'),
      // A job's hours, complete ones only (see energy_job in db/schema.ts).
      jobSums: sqlite.prepare(
        `SELECT MIN(u.hour_ts) AS firstHourTs, MAX(u.hour_ts) AS lastHourTs, COUNT(DISTINCT u.hour_ts) AS hours, ${JOB_FIGURES}
         FROM (SELECT hour_ts, energy_wh / 1000.0 AS kwh, 0 AS inferred, gpu_s AS gpu, util_pct_s AS util, idle_gpu_s AS idle FROM job_hour
                 WHERE cluster = @cluster AND job_id = @jobId AND hour_ts < @before
               UNION ALL SELECT hour_ts, energy_kwh, energy_kwh, 0, 0, 0 FROM energy_job_inferred WHERE cluster = @cluster AND job_id = @jobId) u
           LEFT JOIN energy_hour e ON e.hour_ts = u.hour_ts`,
      ),
      jobPut: sqlite.prepare(
        `INSERT INTO energy_job (cluster, job_id, account, first_hour_ts, last_hour_ts, hours, energy_kwh, idle_gpu_s, gapped, ${JOB_FIGURE_COLUMNS})
         VALUES (@cluster, @jobId, @account, @firstHourTs, @lastHourTs, @hours, @energyKWh, @idleGpuS, @gapped, @inferredKWh, @gpuS, @utilPctS, @overheadKWh, @reusedKWh, @co2Kg)
         ON CONFLICT (cluster, job_id) DO UPDATE SET account = excluded.account, first_hour_ts = excluded.first_hour_ts,
           last_hour_ts = excluded.last_hour_ts, hours = excluded.hours, energy_kwh = excluded.energy_kwh,
           idle_gpu_s = excluded.idle_gpu_s, gapped = excluded.gapped, ${JOB_FIGURE_COLUMNS.split(', ').map((c) => `${c} = excluded.${c}`).join(', ')}`,
      ),
      jobDel: sqlite.prepare('DELETE FROM energy_job WHERE cluster = ? AND job_id = ?'),
    };
  }

  /** Recomputes the complete hours [fromTs, toTs); adds the jobs whose sums may have changed to `jobs`. */
  hours(fromTs: number, toTs: number, nowTs: number, jobs: Map<string, { cluster: string; jobId: string }> | null): void {
    const touch = (rows: Array<{ cluster: string; jobId: string }>) => {
      for (const r of rows) jobs?.set(`${r.cluster}\u0000${r.jobId}`, { cluster: r.cluster, jobId: r.jobId });
    };
    if (jobs) {
      touch(this.st.inferredJobs.all(fromTs, toTs) as Array<{ cluster: string; jobId: string }>);
      touch(this.st.measuredJobs.all(fromTs, toTs) as Array<{ cluster: string; jobId: string }>);
    }
    const a = attributeHours(this.sqlite, fromTs, toTs, nowTs);
    this.st.hourDel.run(fromTs, toTs);
    for (const [hourTs, h] of a.byHour) this.st.hourIns.run(hourTs, h.itKWh, h.overheadKWh, h.reusedKWh, h.co2Kg);
    this.st.projectDel.run(fromTs, toTs);
    for (const r of shareOut(a)) this.st.projectIns.run(r.hourTs, r.account, r.itKWh, r.overheadKWh, r.reusedKWh, r.co2Kg);
    this.st.inferredDel.run(fromTs, toTs);
    for (const i of a.inferred) this.st.inferredIns.run(i.hourTs, i.cluster, i.jobId, i.energyKWh);
    touch(a.inferred);
  }

  /** Re-sums the days holding `hours`, then their months. */
  daysAndMonths(hours: number[]): void {
    const days = new Set(hours.map((h) => bucketOf(h, DAY_MS)));
    for (const day of days) {
      this.st.dayDel.run(day);
      this.st.dayIns.run({ day });
    }
    for (const month of new Set([...days].map(monthOf))) {
      this.st.monthDel.run(month);
      this.st.monthIns.run({ month, next: nextMonth(month) });
    }
  }

  /** Re-reads one job's sums over the hours complete before `beforeTs`. */
  job(cluster: string, jobId: string, beforeTs: number): void {
    const account = (this.st.jobAccount.get(cluster, jobId) as { account: string } | undefined)?.account;
    const s = this.st.jobSums.get({ cluster, jobId, before: beforeTs }) as { firstHourTs: number | null; lastHourTs: number; hours: number } & Record<string, number>;
    if (account === undefined || s.firstHourTs === null) {
      this.st.jobDel.run(cluster, jobId);
      return;
    }
    const gapped = (s.lastHourTs - s.firstHourTs) / HOUR_MS + 1 > s.hours ? 1 : 0;
    this.st.jobPut.run({ cluster, jobId, account, ...s, gapped });
  }
}

/**
 * A job's figures over its hours `u` (kwh, inferred, gpu, util, idle) with each hour's
 * figures `e` (energy_hour): its energy, inferred part, GPU-, utilisation- and idle
 * GPU-seconds, and its shares of the hours' overhead, reused heat and CO2 (db/rules/shares.ts).
 */
const JOB_FIGURES = `TOTAL(u.kwh) AS energyKWh, TOTAL(u.idle) AS idleGpuS, TOTAL(u.inferred) AS inferredKWh, TOTAL(u.gpu) AS gpuS, TOTAL(u.util) AS utilPctS,
     ${shareSql('u.kwh', 'e')}`;
const JOB_FIGURE_NAMES = 'inferredKWh, gpuS, utilPctS, overheadKWh, reusedKWh, co2Kg';
const JOB_FIGURE_COLUMNS = 'inferred_kwh, gpu_s, util_pct_s, overhead_kwh, reused_kwh, co2_kg';

/** Runs of consecutive hours in sorted `hours`, each at most CHUNK_MS long. */
function runs(hours: number[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const h of hours) {
    const last = out[out.length - 1];
    if (last && last[1] === h && h - last[0] < CHUNK_MS) last[1] = h + HOUR_MS;
    else out.push([h, h + HOUR_MS]);
  }
  return out;
}

const isBuilt = (sqlite: Database) => sqlite.prepare("SELECT 1 FROM settings WHERE key = 'attributionRollupBuilt'").get() !== undefined;

/**
 * Where the stored hours stop being current at `nowTs`: the first complete hour whose
 * inputs changed since it was stored (still in energy_dirty_hour), else the hour of `nowTs`.
 * Reads take the stored hours before it and compute the rest live; they never write.
 */
export function settledBefore(sqlite: Database, nowTs: number): number {
  const hour = bucketOf(nowTs, HOUR_MS);
  const first = sqlite.prepare('SELECT MIN(hour_ts) FROM energy_dirty_hour WHERE hour_ts < ?').pluck().get(hour) as number | null;
  return first ?? hour;
}

/** Whether the attribution rollups were never built (a database that predates them). */
export const attributionMissing = (sqlite: Database) => !isBuilt(sqlite);

/**
 * Rollup upkeep (the compactor, never a read): recomputes the dirty hours that are
 * complete at `nowTs`. Returns the hours recomputed.
 */
export function refreshAttribution(sqlite: Database, nowTs: number): number {
  if (!isBuilt(sqlite)) return rebuildAttribution(sqlite, nowTs).hours;
  const before = bucketOf(nowTs, HOUR_MS);
  const dirty = (sqlite.prepare('SELECT hour_ts AS hourTs FROM energy_dirty_hour WHERE hour_ts < ? ORDER BY hour_ts').all(before) as Array<{ hourTs: number }>).map(
    (r) => r.hourTs,
  );
  if (dirty.length === 0) return 0;
  sqlite.transaction(() => {
    const w = new Writer(sqlite);
    const jobs = new Map<string, { cluster: string; jobId: string }>();
    for (const [a, b] of runs(dirty)) w.hours(a, b, nowTs, jobs);
    w.daysAndMonths(dirty);
    for (const j of jobs.values()) w.job(j.cluster, j.jobId, before);
    sqlite.prepare('DELETE FROM energy_dirty_hour WHERE hour_ts < ?').run(before);
  }).immediate();
  return dirty.length;
}

/**
 * Rebuilds every attribution rollup from job_hour, gpu_hour, facility_interval and the job
 * records: for a database that predates them, after a restore or a fix. Incremental
 * refreshes give the same figures.
 */
export function rebuildAttribution(sqlite: Database, nowTs: number): { hours: number; jobs: number } {
  const before = bucketOf(nowTs, HOUR_MS);
  return sqlite.transaction(() => {
    for (const t of ['energy_hour', 'energy_project_hour', 'energy_project_day', 'energy_project_month', 'energy_job_inferred', 'energy_job', 'energy_dirty_hour']) {
      sqlite.prepare(`DELETE FROM ${t}`).run();
    }
    const first = sqlite
      .prepare(
        `SELECT MIN(t) AS t FROM (SELECT MIN(hour_ts) AS t FROM job_hour UNION ALL SELECT MIN(hour_ts) FROM gpu_hour
           UNION ALL SELECT MIN(interval_ts) FROM facility_interval)`,
      )
      .get() as { t: number | null };
    const w = new Writer(sqlite);
    let hours = 0;
    if (first.t !== null) {
      for (let a = bucketOf(first.t, DAY_MS); a < before; a += CHUNK_MS) {
        const b = Math.min(a + CHUNK_MS, before);
        w.hours(a, b, nowTs, null);
        hours += (b - a) / HOUR_MS;
      }
    }
    const sums = 'it_kwh, overhead_kwh, reused_kwh, co2_kg';
    const sumsOf = 'TOTAL(it_kwh), TOTAL(overhead_kwh), TOTAL(reused_kwh), TOTAL(co2_kg)';
    sqlite.exec(`
      INSERT INTO energy_project_day (day_ts, account, ${sums})
        SELECT (hour_ts / ${DAY_MS}) * ${DAY_MS}, account, ${sumsOf} FROM energy_project_hour GROUP BY 1, 2;
      INSERT INTO energy_project_month (month_ts, account, ${sums})
        SELECT CAST(strftime('%s', day_ts / 1000, 'unixepoch', 'start of month') AS INTEGER) * 1000, account, ${sumsOf}
        FROM energy_project_day GROUP BY 1, 2`);
    const jobs = sqlite
      .prepare(
        `INSERT INTO energy_job (cluster, job_id, account, first_hour_ts, last_hour_ts, hours, energy_kwh, idle_gpu_s, gapped, ${JOB_FIGURE_COLUMNS})
         SELECT cluster, job_id, account, firstHourTs, lastHourTs, hours, energyKWh, idleGpuS, gapped, ${JOB_FIGURE_NAMES} FROM (
           SELECT u.cluster, u.job_id, j.account, MIN(u.hour_ts) AS firstHourTs, MAX(u.hour_ts) AS lastHourTs, COUNT(DISTINCT u.hour_ts) AS hours,
             (MAX(u.hour_ts) - MIN(u.hour_ts)) / ${HOUR_MS} + 1 > COUNT(DISTINCT u.hour_ts) AS gapped, ${JOB_FIGURES}
           FROM (SELECT hour_ts, cluster, job_id, energy_wh / 1000.0 AS kwh, 0 AS inferred, gpu_s AS gpu, util_pct_s AS util, idle_gpu_s AS idle FROM job_hour WHERE hour_ts < @before
                 UNION ALL SELECT hour_ts, cluster, job_id, energy_kwh, energy_kwh, 0, 0, 0 FROM energy_job_inferred) u
             JOIN jobs j ON j.cluster = u.cluster AND j.job_id = u.job_id
             LEFT JOIN energy_hour e ON e.hour_ts = u.hour_ts
           GROUP BY u.cluster, u.job_id)`,
      )
      .run({ before }).changes;
    // Hours not yet complete that already hold data (possibly from before the triggers existed) wait to be computed.
    sqlite
      .prepare(
        `INSERT INTO energy_dirty_hour (hour_ts)
         SELECT hour_ts FROM job_hour WHERE hour_ts >= @before UNION SELECT hour_ts FROM gpu_hour WHERE hour_ts >= @before
         UNION SELECT (interval_ts / ${HOUR_MS}) * ${HOUR_MS} FROM facility_interval WHERE interval_ts >= @before`,
      )
      .run({ before });
    sqlite.prepare("INSERT INTO settings (key, value) VALUES ('attributionRollupBuilt', '1') ON CONFLICT (key) DO NOTHING").run();
    return { hours, jobs };
  }).immediate();
}
