/**
 * Facility KPIs (ISO/IEC 30134, EU Reg. 2024/1364) and the attribution of facility energy,
 * reused heat and CO2 to projects and jobs.
 *
 * - PUE = E_DC / E_IT; ERF = E_reuse / E_DC; ERE = (E_DC − E_reuse) / E_IT; WUE = water L
 *   per IT kWh; CUE = kg CO2 per IT kWh (E_DC × grid intensity of each interval). A ratio is
 *   null where a term is missing, never 0.
 * - Attribution, per hour: each project keeps its measured GPU energy as IT energy; the
 *   facility overhead (E_DC − E_IT), the reused heat and the CO2 of that hour are shared in
 *   proportion to IT energy; what no job accounts for (idle GPUs, CPUs, network, storage)
 *   is the `(unattributed)` row, so every column sums to the meters' totals. The hour is
 *   the attribution interval because per-job energy is rolled up hourly; facility meters
 *   are integrated per 5 minutes and summed into the hour.
 * - Emissions avoided by reused heat (reused kWh × the displaced heat's intensity) are
 *   reported beside emissions, never subtracted from them.
 */
import type { Database } from 'better-sqlite3';
import { facilityEnergy, gpuEnergyByHour, gpuTotalByHour, type FacilityBucket } from '../../db/queries/facility-energy.ts';
import type { Visibility } from '../auth/middleware.ts';
import type { Config } from '../config.ts';
import { DomainError } from '../errors.ts';
import { HOUR_MS, INTERVAL_MS } from './integrate.ts';

export const UNATTRIBUTED = '(unattributed)';
export type Bucket = '5m' | 'hour' | 'day';
const bucketMs: Record<Bucket, number> = { '5m': INTERVAL_MS, hour: HOUR_MS, day: 24 * HOUR_MS };

interface Deps {
  sqlite: Database;
  config: Config;
  now?: () => number;
}

const ratio = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? null : a / b);

/** A bucket's energies, summed over buckets, plus the CO2 of its facility energy. */
type Totals = Pick<FacilityBucket, 'itEnergyKWh' | 'facilityEnergyKWh' | 'reusedHeatKWh' | 'coolingEnergyKWh' | 'heatRemovedKWh' | 'waterL'> & {
  co2Kg: number | null;
};

function addNullable(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return a + b;
}

function sumBuckets(buckets: FacilityBucket[]): Totals {
  const t: Totals = { itEnergyKWh: null, facilityEnergyKWh: null, reusedHeatKWh: null, coolingEnergyKWh: null, heatRemovedKWh: null, waterL: null, co2Kg: null };
  for (const b of buckets) {
    t.itEnergyKWh = addNullable(t.itEnergyKWh, b.itEnergyKWh);
    t.facilityEnergyKWh = addNullable(t.facilityEnergyKWh, b.facilityEnergyKWh);
    t.reusedHeatKWh = addNullable(t.reusedHeatKWh, b.reusedHeatKWh);
    t.coolingEnergyKWh = addNullable(t.coolingEnergyKWh, b.coolingEnergyKWh);
    t.heatRemovedKWh = addNullable(t.heatRemovedKWh, b.heatRemovedKWh);
    t.waterL = addNullable(t.waterL, b.waterL);
    if (b.facilityEnergyKWh !== null && b.gridCo2GPerKWh !== null) t.co2Kg = addNullable(t.co2Kg, (b.facilityEnergyKWh * b.gridCo2GPerKWh) / 1000);
  }
  return t;
}

function sumTotals(a: Totals, b: Totals): Totals {
  return {
    itEnergyKWh: addNullable(a.itEnergyKWh, b.itEnergyKWh),
    facilityEnergyKWh: addNullable(a.facilityEnergyKWh, b.facilityEnergyKWh),
    reusedHeatKWh: addNullable(a.reusedHeatKWh, b.reusedHeatKWh),
    coolingEnergyKWh: addNullable(a.coolingEnergyKWh, b.coolingEnergyKWh),
    heatRemovedKWh: addNullable(a.heatRemovedKWh, b.heatRemovedKWh),
    waterL: addNullable(a.waterL, b.waterL),
    co2Kg: addNullable(a.co2Kg, b.co2Kg),
  };
}

function kpis(t: Totals, displacedG: number) {
  return {
    ...t,
    pue: ratio(t.facilityEnergyKWh, t.itEnergyKWh),
    erf: ratio(t.reusedHeatKWh, t.facilityEnergyKWh),
    ere: t.facilityEnergyKWh === null || t.reusedHeatKWh === null ? null : ratio(t.facilityEnergyKWh - t.reusedHeatKWh, t.itEnergyKWh),
    wue: ratio(t.waterL, t.itEnergyKWh),
    cue: ratio(t.co2Kg, t.itEnergyKWh),
    co2AvoidedKg: t.reusedHeatKWh === null ? null : (t.reusedHeatKWh * displacedG) / 1000,
  };
}

/** KPIs over a window with their coverage, plus a series per bucket. */
export function getKpis({ sqlite, config }: Deps, window: { fromTs: number; toTs: number }, bucket: Bucket, vis: Visibility) {
  if (vis.role === 'researcher' || vis.role === 'pi') throw new DomainError('FORBIDDEN', 'facility KPIs are for the facility, the committee and admins');
  const fine = facilityEnergy(sqlite, null, window.fromTs, window.toTs, INTERVAL_MS);
  const spanS = (window.toTs - window.fromTs) / 1000;
  const covered = (f: keyof FacilityBucket['coverage']) =>
    fine.reduce((s, b) => s + b.coverage[f] * ((Math.min(b.ts + INTERVAL_MS, window.toTs) - Math.max(b.ts, window.fromTs)) / 1000), 0) / spanS;
  const heatPump = sqlite.prepare('SELECT heat_pump_on_site AS onSite FROM sites LIMIT 1').get() as { onSite: number } | undefined;
  const series = regroup(fine, bucketMs[bucket]).map((b) => ({ ts: new Date(b.ts).toISOString(), ...kpis(sumBuckets([b]), config.displacedHeatGPerKWh), gridCo2GPerKWh: b.gridCo2GPerKWh }));
  return {
    from: new Date(window.fromTs).toISOString(),
    to: new Date(window.toTs).toISOString(),
    ...kpis(sumBuckets(fine), config.displacedHeatGPerKWh),
    ref: config.renewableShare,
    heatPumpOnSite: heatPump ? heatPump.onSite === 1 : null,
    coverage: { it: covered('it'), facility: covered('facility'), reuse: covered('reuse'), grid: covered('grid') },
    bucket,
    series,
  };
}

/** Merges 5-minute buckets into coarser ones (energies add; intensity time-weighted by facility energy). */
function regroup(fine: FacilityBucket[], ms: number): FacilityBucket[] {
  if (ms === INTERVAL_MS) return fine;
  const out = new Map<number, FacilityBucket[]>();
  for (const b of fine) {
    const k = Math.floor(b.ts / ms) * ms;
    const list = out.get(k);
    if (list) list.push(b);
    else out.set(k, [b]);
  }
  return [...out].map(([ts, list]) => {
    const t = sumBuckets(list);
    const withGrid = list.filter((b) => b.gridCo2GPerKWh !== null);
    return {
      ts,
      itEnergyKWh: t.itEnergyKWh,
      facilityEnergyKWh: t.facilityEnergyKWh,
      reusedHeatKWh: t.reusedHeatKWh,
      coolingEnergyKWh: t.coolingEnergyKWh,
      heatRemovedKWh: t.heatRemovedKWh,
      waterL: t.waterL,
      gridCo2GPerKWh: withGrid.length ? withGrid.reduce((s, b) => s + b.gridCo2GPerKWh!, 0) / withGrid.length : null,
      coverage: {
        it: list.reduce((s, b) => s + b.coverage.it, 0) / (ms / INTERVAL_MS),
        facility: list.reduce((s, b) => s + b.coverage.facility, 0) / (ms / INTERVAL_MS),
        reuse: list.reduce((s, b) => s + b.coverage.reuse, 0) / (ms / INTERVAL_MS),
        grid: list.reduce((s, b) => s + b.coverage.grid, 0) / (ms / INTERVAL_MS),
      },
    };
  });
}

export interface AttributionRow {
  key: string;
  itEnergyKWh: number;
  overheadKWh: number;
  reusedHeatKWh: number;
  co2Kg: number;
  co2AvoidedKg: number;
}

/** Adds a row's IT energy and its share of an hour's overhead, reused heat and CO2. */
function addShare(target: AttributionRow, itKWh: number, h: HourShares, share: number): void {
  target.itEnergyKWh += itKWh;
  target.overheadKWh += h.overheadKWh * share;
  target.reusedHeatKWh += h.reusedKWh * share;
  target.co2Kg += h.co2Kg * share;
  target.co2AvoidedKg += h.avoidedKg * share;
}

interface HourShares {
  itKWh: number;
  overheadKWh: number;
  reusedKWh: number;
  co2Kg: number;
  avoidedKg: number;
}

/**
 * Per hour: the IT energy to share by (the meters' E_IT, but never less than the GPUs'
 * own energy), the overhead, reused heat, CO2 and avoided CO2 to share out, and the GPU
 * energy per project that shares them.
 */
export function hourlyShares({ sqlite, config, now = Date.now }: Deps, window: { fromTs: number; toTs: number }) {
  // Hourly sums of the 5-minute figures, CO2 from each 5-minute interval's own intensity.
  const facilityByHour = new Map<number, Totals>();
  for (const b of facilityEnergy(sqlite, null, window.fromTs, window.toTs, INTERVAL_MS)) {
    const hour = Math.floor(b.ts / HOUR_MS) * HOUR_MS;
    const prev = facilityByHour.get(hour);
    const t = sumBuckets([b]);
    facilityByHour.set(hour, prev ? sumTotals(prev, t) : t);
  }
  const measuredByProject = gpuEnergyByHour(sqlite, window.fromTs, window.toTs, 'project', null, now());
  const measuredTotal = new Map<number, number>();
  for (const m of measuredByProject) measuredTotal.set(m.hourTs, (measuredTotal.get(m.hourTs) ?? 0) + m.energyKWh);
  const gpuTotal = gpuTotalByHour(sqlite, window.fromTs, window.toTs);
  const byHour = new Map<number, HourShares>();
  for (const hour of new Set([...facilityByHour.keys(), ...measuredTotal.keys(), ...gpuTotal.keys()])) {
    const f = facilityByHour.get(hour);
    // Meters that read less than the GPUs alone (a missing meter, a gap) cannot be right: all GPUs' own energy is then the floor.
    const itKWh = Math.max(f?.itEnergyKWh ?? 0, measuredTotal.get(hour) ?? 0, gpuTotal.get(hour) ?? 0);
    const reusedKWh = f?.reusedHeatKWh ?? 0;
    byHour.set(hour, {
      itKWh,
      overheadKWh: f?.facilityEnergyKWh != null ? Math.max(0, f.facilityEnergyKWh - itKWh) : 0,
      reusedKWh,
      co2Kg: f?.co2Kg ?? 0,
      avoidedKg: (reusedKWh * config.displacedHeatGPerKWh) / 1000,
    });
  }
  return { byHour, measuredByProject };
}

/**
 * Facility energy, reused heat and CO2 shared out per hour to projects (or jobs); the
 * `(unattributed)` row closes every column to the meters' totals. A researcher or PI sees
 * only their projects' rows (the remainder then stands for everyone else).
 */
export function getAttribution({ sqlite, config, now = Date.now }: Deps, window: { fromTs: number; toTs: number }, by: 'project' | 'job', vis: Visibility) {
  const hours = hourlyShares({ sqlite, config, now }, window);
  const measured = by === 'project' ? hours.measuredByProject : gpuEnergyByHour(sqlite, window.fromTs, window.toTs, by, null, now());
  const rows = new Map<string, AttributionRow>();
  const row = (key: string) => {
    let r = rows.get(key);
    if (!r) rows.set(key, (r = { key, itEnergyKWh: 0, overheadKWh: 0, reusedHeatKWh: 0, co2Kg: 0, co2AvoidedKg: 0 }));
    return r;
  };
  // What the named rows took from each hour; the remainder of the hour is unattributed.
  const given = new Map<number, AttributionRow>();
  for (const m of measured) {
    const h = hours.byHour.get(m.hourTs)!;
    const share = h.itKWh > 0 ? m.energyKWh / h.itKWh : 0;
    let g = given.get(m.hourTs);
    if (!g) given.set(m.hourTs, (g = { key: '', itEnergyKWh: 0, overheadKWh: 0, reusedHeatKWh: 0, co2Kg: 0, co2AvoidedKg: 0 }));
    addShare(row(m.key), m.energyKWh, h, share);
    addShare(g, m.energyKWh, h, share);
  }
  const rest = row(UNATTRIBUTED);
  for (const [hour, h] of hours.byHour) {
    const g = given.get(hour);
    rest.itEnergyKWh += h.itKWh - (g?.itEnergyKWh ?? 0);
    rest.overheadKWh += h.overheadKWh - (g?.overheadKWh ?? 0);
    rest.reusedHeatKWh += h.reusedKWh - (g?.reusedHeatKWh ?? 0);
    rest.co2Kg += h.co2Kg - (g?.co2Kg ?? 0);
    rest.co2AvoidedKg += h.avoidedKg - (g?.co2AvoidedKg ?? 0);
  }

  let out = [...rows.values()].sort((a, b) => (a.key === UNATTRIBUTED ? 1 : b.key === UNATTRIBUTED ? -1 : b.itEnergyKWh - a.itEnergyKWh));
  if (vis.accounts) {
    // Others' rows fold into the remainder so a member sees their share of the whole, not other projects.
    const allowed = new Set(vis.accounts);
    const keyProject = (key: string) => (by === 'project' ? key : (jobAccounts(sqlite, [key]).get(key) ?? ''));
    const visible = out.filter((r) => r.key !== UNATTRIBUTED && allowed.has(keyProject(r.key)));
    const others = out.filter((r) => !visible.includes(r));
    const rest: AttributionRow = { key: UNATTRIBUTED, itEnergyKWh: 0, overheadKWh: 0, reusedHeatKWh: 0, co2Kg: 0, co2AvoidedKg: 0 };
    for (const o of others) {
      rest.itEnergyKWh += o.itEnergyKWh;
      rest.overheadKWh += o.overheadKWh;
      rest.reusedHeatKWh += o.reusedHeatKWh;
      rest.co2Kg += o.co2Kg;
      rest.co2AvoidedKg += o.co2AvoidedKg;
    }
    out = [...visible, rest];
  }
  const totals = out.reduce(
    (t, r) => ({
      itEnergyKWh: t.itEnergyKWh + r.itEnergyKWh,
      overheadKWh: t.overheadKWh + r.overheadKWh,
      reusedHeatKWh: t.reusedHeatKWh + r.reusedHeatKWh,
      co2Kg: t.co2Kg + r.co2Kg,
      co2AvoidedKg: t.co2AvoidedKg + r.co2AvoidedKg,
    }),
    { itEnergyKWh: 0, overheadKWh: 0, reusedHeatKWh: 0, co2Kg: 0, co2AvoidedKg: 0 },
  );
  return { rows: out, totals, intervalS: 3600 };
}

function jobAccounts(sqlite: Database, keys: string[]): Map<string, string> {
  const stmt = sqlite.prepare('SELECT account FROM jobs WHERE cluster = ? AND job_id = ?');
  const out = new Map<string, string>();
  for (const key of keys) {
    const colon = key.indexOf(':');
    const row = stmt.get(key.slice(0, colon), key.slice(colon + 1)) as { account: string } | undefined;
    if (row) out.set(key, row.account);
  }
  return out;
}
