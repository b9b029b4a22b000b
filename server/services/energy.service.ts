/**
 * The attribution of facility energy, reused heat and CO2 to projects and jobs (the KPIs
 * themselves are in kpis.service.ts).
 *
 * - Attribution, per hour: each project keeps its measured GPU energy as IT energy; the
 *   facility overhead (E_DC − E_IT), the reused heat and the CO2 of that hour are shared in
 *   proportion to IT energy; what no job accounts for (idle GPUs, CPUs, network, storage)
 *   is the `(unattributed)` row, so every column sums to the meters' totals. The hour is
 *   the attribution interval because per-job energy is rolled up hourly; facility meters
 *   are integrated per 5 minutes and summed into the hour.
 * - Emissions avoided by reused heat (reused kWh × the displaced heat's intensity) are
 *   reported beside emissions, never subtracted from them.
 *
 * Whole hours complete before now come from the rollups of attribution-rollup.service.ts
 * (by hour, day and month); a window's partial first and last hours and the current hour
 * are computed live by the same rules, clipped to the window as the KPIs are: the meters of
 * the 5-minute intervals starting in it, and of an hour it cuts the part of each project's
 * and job's GPU energy that the IT meters' energy in it bears to the hour's
 * (attribution-rollup.service.ts `attributeWindow`). Every column of energy by project and
 * by job, with the unattributed row, then sums to /energy/kpis over the same window.
 */
import type { Database } from 'better-sqlite3';
import { attributedByAccount } from '../../db/queries/energy-by-project.ts';
import {
  before,
  countStartingIn,
  insideByEnergy,
  insideOfAccounts,
  jobHoursOf,
  keptJobFigures,
  jobsSummedLive,
  liveHourRanges,
  windowHours,
  type JobOrderKey,
  type JobWindowSums,
  type SummedJob,
  type WindowHours,
} from '../../db/queries/energy-by-job.ts';
import type { Visibility } from '../auth/middleware.ts';
import type { Config } from '../config.ts';
import { addSums, shareOf, type AttributedSums } from '../../db/rules/shares.ts';
import { monthOf, nextMonth } from '../../db/rules/time.ts';
import {
  UNATTRIBUTED,
  alignedParts,
  attributeWindow,
  settledBefore,
  shareOut,
  windowSplit,
  type HourlyAttribution,
} from '../../db/rollups/attribution.ts';

interface Deps {
  sqlite: Database;
  config: Config;
  now?: () => number;
}

export interface AttributionRow {
  key: string;
  itEnergyKWh: number;
  overheadKWh: number;
  reusedHeatKWh: number;
  co2Kg: number;
  co2AvoidedKg: number;
}

/**
 * A window's attribution: the rollups for its whole complete hours, the rest computed
 * live. `storedBeforeTs`: hours starting in the window before it come from the rollups.
 */
export interface WindowAttribution {
  fromTs: number;
  toTs: number;
  nowTs: number;
  hours: WindowHours;
  stored: [number, number] | null;
  storedBeforeTs: number;
  live: HourlyAttribution;
  /** Per hour the window cuts, the part of its GPU energy that counts (attributeWindow). */
  factor: Map<number, number>;
}

/** Reads the rollups' current hours and computes what of [fromTs, toTs) they do not hold; writes nothing. */
export function windowAttribution(sqlite: Database, window: { fromTs: number; toTs: number }, nowTs: number): WindowAttribution {
  const settled = settledBefore(sqlite, nowTs);
  const { stored, live } = windowSplit(window.fromTs, window.toTs, nowTs, settled);
  const merged: HourlyAttribution = { byHour: new Map(), byAccount: [], inferred: [] };
  const factor = new Map<number, number>();
  for (const [a, b] of live) {
    const part = attributeWindow(sqlite, a, b, nowTs, settled);
    for (const [h, s] of part.byHour) merged.byHour.set(h, s);
    merged.byAccount.push(...part.byAccount);
    merged.inferred.push(...part.inferred);
    for (const [h, f] of part.factor) factor.set(h, f);
  }
  const hours = windowHours(window.fromTs, window.toTs, nowTs, settled);
  return { ...window, nowTs, hours, stored, storedBeforeTs: stored ? stored[1] : hours.startTs, live: merged, factor };
}

/**
 * The rollup rows that sum to the stored hours [a, b). Only complete hours are stored, so
 * for a window that ends now nothing lies after b: its last month (or day) is read whole,
 * one row per project rather than a row per project for each of its days and hours.
 */
function storedParts(sqlite: Database, a: number, b: number) {
  const after = sqlite.prepare('SELECT 1 FROM energy_project_hour WHERE hour_ts >= ? LIMIT 1').get(b);
  return after !== undefined || b === monthOf(b) ? alignedParts(a, b) : alignedParts(a, nextMonth(monthOf(b)));
}

/** Attributed figures per project over the window (of `accounts`, or all; the remainder under UNATTRIBUTED). */
export function attributionByAccount(sqlite: Database, w: WindowAttribution, accounts: string[] | null = null): Map<string, AttributedSums> {
  const out = w.stored ? attributedByAccount(sqlite, storedParts(sqlite, w.stored[0], w.stored[1]), accounts) : new Map<string, AttributedSums>();
  for (const r of shareOut(w.live)) {
    if (accounts && !accounts.includes(r.account)) continue;
    const s = out.get(r.account);
    if (s) addSums(s, r);
    else out.set(r.account, { itKWh: r.itKWh, overheadKWh: r.overheadKWh, reusedKWh: r.reusedKWh, co2Kg: r.co2Kg });
  }
  return out;
}

const toRow = (key: string, s: AttributedSums, displacedG: number): AttributionRow => ({
  key,
  itEnergyKWh: s.itKWh,
  overheadKWh: s.overheadKWh,
  reusedHeatKWh: s.reusedKWh,
  co2Kg: s.co2Kg,
  co2AvoidedKg: (s.reusedKWh * displacedG) / 1000,
});

const zero = (): AttributedSums => ({ itKWh: 0, overheadKWh: 0, reusedKWh: 0, co2Kg: 0 });

/** The whole window's figures, and the remainder left once the rows of `accounts` (null: every project) are taken out. */
function totalsAndRest(byAccount: Map<string, AttributedSums>, accounts: Set<string> | null) {
  const totals = zero();
  const rest = zero();
  for (const [account, s] of byAccount) {
    addSums(totals, s);
    if (account === UNATTRIBUTED || (accounts !== null && !accounts.has(account))) addSums(rest, s);
  }
  return { totals, rest };
}

/**
 * Facility energy, reused heat and CO2 shared out per hour to projects; the
 * `(unattributed)` row closes every column to the meters' totals. A researcher or PI sees
 * only their projects' rows (the remainder then stands for everyone else).
 */
export function getAttribution(deps: Deps, window: { fromTs: number; toTs: number }, vis: Visibility) {
  const now = deps.now ?? Date.now;
  return attributionRows(deps, windowAttribution(deps.sqlite, window, now()), vis);
}

/** One project's row of the attribution over a prepared window (null: it used no energy there). */
export function projectAttribution({ sqlite, config }: Deps, w: WindowAttribution, project: string): AttributionRow | null {
  const s = attributionByAccount(sqlite, w, [project]).get(project);
  return s ? toRow(project, s, config.displacedHeatGPerKWh) : null;
}

/** getAttribution over a window already prepared. */
export function attributionRows({ sqlite, config }: Deps, w: WindowAttribution, vis: Visibility) {
  const byAccount = attributionByAccount(sqlite, w);
  const allowed = vis.accounts ? new Set(vis.accounts) : null;
  const { totals, rest } = totalsAndRest(byAccount, allowed);
  const rows = [...byAccount]
    .filter(([account]) => account !== UNATTRIBUTED && (allowed === null || allowed.has(account)))
    .map(([account, s]) => toRow(account, s, config.displacedHeatGPerKWh))
    .sort((a, b) => b.itEnergyKWh - a.itEnergyKWh || (a.key < b.key ? -1 : 1));
  rows.push(toRow(UNATTRIBUTED, rest, config.displacedHeatGPerKWh));
  return { rows, totals: totalsRow(totals, config.displacedHeatGPerKWh), intervalS: 3600 };
}

const totalsRow = (t: AttributedSums, displacedG: number) => {
  const { key: _key, ...figures } = toRow('', t, displacedG);
  return figures;
};

/** Per job over the window: its energy and its shares of the hours it has energy in (null where it has none in the window). */
export function jobFigures(sqlite: Database, w: WindowAttribution) {
  const liveInferred = new Map<string, Array<{ hourTs: number; energyKWh: number }>>();
  for (const i of w.live.inferred) {
    const k = `${i.cluster}:${i.jobId}`;
    const list = liveInferred.get(k);
    if (list) list.push(i);
    else liveInferred.set(k, [i]);
  }
  // Stored hours are summed for the whole list at once (and kept); hours not stored (the current one, those the window cuts) are read for the whole list and shared with their live figures.
  const storedTo = Math.min(w.hours.completeTs, w.storedBeforeTs);
  const liveRanges = liveHourRanges({ ...w.hours, completeTs: Math.max(w.hours.startTs, storedTo) });
  return (jobs: Array<{ cluster: string; jobId: string }>) => {
    const stored = keptJobFigures(sqlite, w.hours, jobs, w.hours.startTs, storedTo);
    const live = jobs.map(() => [] as ReturnType<typeof jobHoursOf>[number]);
    for (const [a, b] of liveRanges) jobHoursOf(sqlite, jobs, a, b).forEach((rows, i) => live[i]!.push(...rows.map((r) => scaled(r, w.factor.get(r.hourTs)))));
    return jobs.map((j, i) => {
      const s = stored[i]!;
      const shares: AttributedSums = { itKWh: s.energyKWh, overheadKWh: s.overheadKWh, reusedKWh: s.reusedKWh, co2Kg: s.co2Kg };
      const sums = { energyKWh: s.energyKWh, inferredKWh: s.inferredKWh, gpuS: s.gpuS, idleGpuS: s.idleGpuS, utilPctS: s.utilPctS };
      let n = s.n;
      const rows = live[i]!.map((r) => ({ ...r, inferred: false }));
      for (const r of liveInferred.get(`${j.cluster}:${j.jobId}`) ?? []) rows.push({ ...r, gpuS: 0, idleGpuS: 0, utilPctS: 0, inferred: true });
      for (const r of rows) {
        const h = w.live.byHour.get(r.hourTs);
        // An hour without figures shares nothing out but the job's own energy.
        addSums(shares, h ? shareOf(h, r.energyKWh) : { ...zero(), itKWh: r.energyKWh });
        sums.energyKWh += r.energyKWh;
        if (r.inferred) sums.inferredKWh += r.energyKWh;
        sums.gpuS += r.gpuS;
        sums.idleGpuS += r.idleGpuS;
        sums.utilPctS += r.utilPctS;
        n++;
      }
      return n === 0 ? null : { shares, ...sums };
    });
  };
}

/** A job-hour of an hour the window cuts, in the part `f` that the window counts (unchanged without one). */
function scaled<T extends { energyKWh: number; gpuS: number; idleGpuS: number; utilPctS: number }>(r: T, f: number | undefined): T {
  return f === undefined ? r : { ...r, energyKWh: r.energyKWh * f, gpuS: r.gpuS * f, idleGpuS: r.idleGpuS * f, utilPctS: r.utilPctS * f };
}

/** Where a page of the job list starts: after the job with this order key. */
export type JobCursor = JobOrderKey;

/** Opaque cursor text of an order key, and back (null when it does not parse). */
export const encodeCursor = (k: JobOrderKey) => Buffer.from(JSON.stringify([k.value, k.cluster, k.jobId])).toString('base64url');
export function decodeCursor(text: string): JobOrderKey | null {
  try {
    const [value, cluster, jobId] = JSON.parse(Buffer.from(text, 'base64url').toString()) as unknown[];
    return typeof value === 'number' && typeof cluster === 'string' && typeof jobId === 'string' ? { value, cluster, jobId } : null;
  } catch {
    return null;
  }
}

/**
 * The jobs with energy in the window (of `accounts`, or all), in order of a figure (more
 * first, ties by cluster and job id, descending), `limit` after `after`; plus how many
 * there are in all. Jobs inside the window are read from energy_job, the others summed.
 */
export function jobsInOrder(
  sqlite: Database,
  w: WindowAttribution,
  accounts: string[] | null,
  order: 'energy' | 'idle',
  after: JobOrderKey | null,
  limit: number,
): { page: Array<JobWindowSums & JobOrderKey>; total: number } {
  const valueOf = (j: JobWindowSums) => (order === 'energy' ? j.energyKWh : j.idleGpuS);
  const keyed = <T extends JobWindowSums>(j: T) => Object.assign(j, { value: valueOf(j) });
  const isAfter = (j: JobOrderKey) => after === null || before(after, j);
  const byOrder = (a: JobOrderKey, b: JobOrderKey) => (before(a, b) ? -1 : 1);
  const allowed = accounts ? new Set(accounts) : null;
  const { jobs: summedAll, sumExactly } = jobsSummedLive(sqlite, w.hours, w.nowTs, (h) => w.factor.get(h) ?? 1);
  const summed = [...summedAll.values()].filter((j) => allowed === null || allowed.has(j.account));
  const insideCount = countStartingIn(sqlite, w.hours, accounts);
  const total =
    insideCount +
    summed.filter((j) => j.firstHourTs === null || j.firstHourTs < w.hours.startTs || j.firstHourTs >= w.hours.completeTs).length;
  const skip = new Set(summed.map((j) => `${j.cluster}\u0000${j.jobId}`));
  // A bound after the cursor keeps its job after it; a bound before it must be summed to tell.
  const exact = (j: SummedJob) => {
    sumExactly(j);
    return keyed(j);
  };
  const live = summed.map(keyed).map((j) => (isAfter(j) ? j : exact(j))).filter(isAfter).sort(byOrder);
  // Over all projects the energy index walks in order and stops at the page's end; otherwise the few rows are sorted here.
  const inside: Iterator<JobWindowSums & JobOrderKey> =
    order === 'energy' && accounts === null
      ? insideByEnergy(sqlite, w.hours, after, insideCount)
      : (accounts === null ? [...insideByEnergy(sqlite, w.hours, null, insideCount)] : insideOfAccounts(sqlite, w.hours, accounts)).map(keyed).filter(isAfter).sort(byOrder)[Symbol.iterator]();
  const nextInside = () => {
    for (let r = inside.next(); !r.done; r = inside.next()) if (!skip.has(`${r.value.cluster}\u0000${r.value.jobId}`)) return r.value;
    return null;
  };
  // The live list's head is its largest once it is exact: every bound below it is at least the sum it bounds.
  const liveHead = () => {
    while (live.length > 0 && !live[0]!.exact) {
      const j = exact(live.shift()!);
      if (!isAfter(j)) continue;
      let at = 0;
      while (at < live.length && before(live[at]!, j)) at++;
      live.splice(at, 0, j);
    }
    return live[0] ?? null;
  };
  const page: Array<JobWindowSums & JobOrderKey> = [];
  let head = nextInside();
  for (let l = liveHead(); page.length < limit && (head || l); l = liveHead()) {
    if (head && (!l || before(head, l))) {
      page.push(head);
      head = nextInside();
    } else page.push(live.shift()!);
  }
  inside.return?.();
  return { page, total };
}

/**
 * Facility energy, reused heat and CO2 shared out per hour to jobs, most energy first,
 * `limit` rows after `cursor`. The `(unattributed)` row (every other use, and for a
 * researcher or PI every job not of their projects) is the list's last row, so all pages
 * together sum to the meters; `total` counts the rows of all pages, and `nextCursor` is
 * null on the last page.
 */
export function getJobAttribution(
  { sqlite, config, now = Date.now }: Deps,
  window: { fromTs: number; toTs: number },
  vis: Visibility,
  page: { limit: number; cursor: JobCursor | null },
) {
  const w = windowAttribution(sqlite, window, now());
  const { totals, rest } = totalsAndRest(attributionByAccount(sqlite, w), vis.accounts ? new Set(vis.accounts) : null);
  const displacedG = config.displacedHeatGPerKWh;
  const jobs = jobsInOrder(sqlite, w, vis.accounts, 'energy', page.cursor, page.limit);
  const figures = jobFigures(sqlite, w)(jobs.page);
  const rows = jobs.page.map((j, i) => toRow(`${j.cluster}:${j.jobId}`, figures[i]?.shares ?? zero(), displacedG));
  // A full page may be followed by more jobs or by the remainder alone: the next page tells.
  const full = rows.length === page.limit;
  if (!full) rows.push(toRow(UNATTRIBUTED, rest, displacedG));
  return { rows, totals: totalsRow(totals, displacedG), intervalS: 3600, total: jobs.total + 1, nextCursor: full ? encodeCursor(jobs.page.at(-1)!) : null };
}
