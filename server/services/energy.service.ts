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
 */
import type { Database } from 'better-sqlite3';
import { facilityEnergy, gpuEnergyByHour, gpuTotalByHour } from '../../db/queries/facility-energy.ts';
import type { Visibility } from '../auth/middleware.ts';
import type { Config } from '../config.ts';
import { HOUR_MS, INTERVAL_MS } from './integrate.ts';
import { sumBuckets, sumTotals, type Totals } from './kpis.service.ts';

export const UNATTRIBUTED = '(unattributed)';

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
