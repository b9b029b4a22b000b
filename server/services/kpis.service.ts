/**
 * Facility KPIs (ISO/IEC 30134, EU Reg. 2024/1364) over a window, with their coverage and a
 * series per bucket.
 *
 * - PUE = E_DC / E_IT; ERF = E_reuse / E_DC; ERE = (E_DC − E_reuse) / E_IT; WUE = water L
 *   per IT kWh; CUE = kg CO2 per IT kWh (E_DC × grid intensity of each interval). A ratio is
 *   null where a term is missing, never 0.
 * - Emissions avoided by reused heat (reused kWh × the displaced heat's intensity) are
 *   reported beside emissions, never subtracted from them.
 */
import type { Database } from 'better-sqlite3';
import { addSums, copySums, facilitySums, type FacilityBucket, type FacilitySums } from '../../db/queries/facility-energy.ts';
import type { Visibility } from '../auth/middleware.ts';
import type { Config } from '../config.ts';
import { DomainError } from '../errors.ts';
import { DAY_MS, HOUR_MS, INTERVAL_MS } from '../../db/rules/time.ts';

export type Bucket = '5m' | 'hour' | 'day';
const bucketMs: Record<Bucket, number> = { '5m': INTERVAL_MS, hour: HOUR_MS, day: DAY_MS };

interface Deps {
  sqlite: Database;
  config: Config;
  now?: () => number;
}

const ratio = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? null : a / b);

/** A bucket's energies, summed over buckets, plus the CO2 of its facility energy. */
export type Totals = Pick<FacilityBucket, 'itEnergyKWh' | 'facilityEnergyKWh' | 'reusedHeatKWh' | 'coolingEnergyKWh' | 'heatRemovedKWh' | 'waterL'> & {
  co2Kg: number | null;
};

function addNullable(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return a + b;
}

/** Sums 5-minute buckets' energies, CO2 from each bucket's own grid intensity. */
export function sumBuckets(buckets: FacilityBucket[]): Totals {
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

/** Adds two totals, a figure null only where both are. */
export function sumTotals(a: Totals, b: Totals): Totals {
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

/** A bucket's energies with the CO2 of its facility energy at the given intensity (g/kWh). */
function totalsAt(b: FacilitySums, gridCo2GPerKWh: number | null): Totals {
  const { itEnergyKWh, facilityEnergyKWh, reusedHeatKWh, coolingEnergyKWh, heatRemovedKWh, waterL } = b;
  const co2Kg = facilityEnergyKWh !== null && gridCo2GPerKWh !== null ? (facilityEnergyKWh * gridCo2GPerKWh) / 1000 : null;
  return { itEnergyKWh, facilityEnergyKWh, reusedHeatKWh, coolingEnergyKWh, heatRemovedKWh, waterL, co2Kg };
}

/**
 * KPIs over a window with their coverage, plus a series per bucket. Whole days and hours
 * come from the facility rollups, only the window's edges from the 5-minute intervals.
 * A bucket's intensity is the mean of its intervals' intensities, and its CO2 the bucket's
 * E_DC at that mean; the window's CO2 sums each interval's own.
 */
export function getKpis({ sqlite, config }: Deps, window: { fromTs: number; toTs: number }, bucket: Bucket, vis: Visibility) {
  if (vis.role === 'researcher' || vis.role === 'pi') throw new DomainError('FORBIDDEN', 'facility KPIs are for the facility, the committee and admins');
  const { buckets, coveredS } = facilitySums(sqlite, window.fromTs, window.toTs, bucketMs[bucket]);
  const spanS = (window.toTs - window.fromTs) / 1000;
  const heatPump = sqlite.prepare('SELECT heat_pump_on_site AS onSite FROM sites LIMIT 1').get() as { onSite: number } | undefined;
  const series = buckets.map((b) => {
    const gridCo2GPerKWh = b.gridIntervals > 0 ? b.gridCo2GPerKWhSum / b.gridIntervals : null;
    return { ts: new Date(b.ts).toISOString(), ...kpis(totalsAt(b, gridCo2GPerKWh), config.displacedHeatGPerKWh), gridCo2GPerKWh };
  });
  let whole: FacilitySums | null = null;
  for (const b of buckets) {
    if (whole) addSums(whole, b);
    else whole = copySums(b);
  }
  const totals: Totals = whole
    ? { ...totalsAt(whole, null), co2Kg: whole.co2G === null ? null : whole.co2G / 1000 }
    : { itEnergyKWh: null, facilityEnergyKWh: null, reusedHeatKWh: null, coolingEnergyKWh: null, heatRemovedKWh: null, waterL: null, co2Kg: null };
  return {
    from: new Date(window.fromTs).toISOString(),
    to: new Date(window.toTs).toISOString(),
    ...kpis(totals, config.displacedHeatGPerKWh),
    ref: config.renewableShare,
    heatPumpOnSite: heatPump ? heatPump.onSite === 1 : null,
    coverage: { it: coveredS.it / spanS, facility: coveredS.facility / spanS, reuse: coveredS.reuse / spanS, grid: coveredS.grid / spanS },
    bucket,
    series,
  };
}
