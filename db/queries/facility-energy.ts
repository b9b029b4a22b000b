/**
 * Facility energy per bucket (5 minutes, hour or day) from the 5-minute interval rollup:
 * E_IT, E_DC, reused heat, cooling energy, water, and the time-weighted grid intensity.
 *
 * A meter may report a power (integrated) or an energy counter (differenced) for the same
 * thing; where one meter reports both in an interval, its counter wins, so nothing is
 * counted twice. Coverage is the share of the bucket that had readings on both sides,
 * averaged over the meters of that quantity.
 *
 * Those rules hold per 5-minute interval, so the hourly and daily rollups
 * (facility_energy_hour/_day) store sums of the intervals' figures (FacilitySums), which
 * add up to any whole hour or day; `facilitySums` reads a window from them.
 */
import type { Database } from 'better-sqlite3';
import { INTERVAL_MS } from '../rules/time.ts';
import { windowParts } from './facility-rollup.ts';
import { inferredEnergy } from './inferred-energy.ts';

export interface FacilityBucket {
  ts: number;
  itEnergyKWh: number | null;
  facilityEnergyKWh: number | null;
  reusedHeatKWh: number | null;
  coolingEnergyKWh: number | null;
  heatRemovedKWh: number | null;
  waterL: number | null;
  /** Time-weighted mean grid intensity (g/kWh) over the covered part of the bucket. */
  gridCo2GPerKWh: number | null;
  /** Covered share of the bucket, 0-1, per family. */
  coverage: { it: number; facility: number; reuse: number; grid: number };
}

const families = {
  it: { power: 'itPowerW', counter: 'itEnergyKWh' },
  facility: { power: 'facilityPowerW', counter: 'facilityEnergyKWh' },
  reuse: { power: 'heatReusedW', counter: 'heatReusedKWh' },
  cooling: { power: 'coolingPowerW', counter: null },
  heat: { power: 'heatRemovedW', counter: null },
} as const;

interface RawRow {
  intervalTs: number;
  meter: string;
  quantity: string;
  integralWh: number;
  increase: number;
  valueS: number;
  coveredS: number;
}

/** Facility energy per bucket of `bucketMs` over [fromTs, toTs), oldest first. */
export function facilityEnergy(sqlite: Database, site: string | null, fromTs: number, toTs: number, bucketMs: number): FacilityBucket[] {
  const rows = sqlite
    .prepare(
      `SELECT interval_ts AS intervalTs, meter, quantity, integral_wh AS integralWh, increase, value_s AS "valueS", covered_s AS coveredS
       FROM facility_interval WHERE interval_ts >= ? AND interval_ts < ? AND (? IS NULL OR site = ?)`,
    )
    .all(fromTs, toTs, site, site) as RawRow[];

  // (bucket → quantity → meter → sums)
  const byBucket = new Map<number, Map<string, Map<string, { wh: number; inc: number; valueS: number; coveredS: number }>>>();
  for (const r of rows) {
    const bucket = Math.floor(r.intervalTs / bucketMs) * bucketMs;
    let q = byBucket.get(bucket);
    if (!q) byBucket.set(bucket, (q = new Map()));
    let m = q.get(r.quantity);
    if (!m) q.set(r.quantity, (m = new Map()));
    const acc = m.get(r.meter) ?? { wh: 0, inc: 0, valueS: 0, coveredS: 0 };
    acc.wh += r.integralWh;
    acc.inc += r.increase;
    acc.valueS += r.valueS;
    acc.coveredS += r.coveredS;
    m.set(r.meter, acc);
  }

  const out: FacilityBucket[] = [];
  for (const [ts, q] of [...byBucket].sort((a, b) => a[0] - b[0])) {
    const span = (Math.min(ts + bucketMs, toTs) - Math.max(ts, fromTs)) / 1000;
    const family = (f: { power: string; counter: string | null }) => {
      const power = q.get(f.power);
      const counter = f.counter ? q.get(f.counter) : undefined;
      const meters = new Set([...(power?.keys() ?? []), ...(counter?.keys() ?? [])]);
      if (meters.size === 0) return { kwh: null, coverage: 0 };
      let kwh = 0;
      let covered = 0;
      for (const meter of meters) {
        const c = counter?.get(meter);
        if (c && c.coveredS > 0) {
          kwh += c.inc;
          covered += c.coveredS;
        } else {
          const p = power?.get(meter);
          kwh += (p?.wh ?? 0) / 1000;
          covered += p?.coveredS ?? 0;
        }
      }
      return { kwh, coverage: Math.min(1, covered / (meters.size * span)) };
    };
    const it = family(families.it);
    const facility = family(families.facility);
    const reuse = family(families.reuse);
    const cooling = family(families.cooling);
    const heat = family(families.heat);
    const water = q.get('waterL');
    const grid = q.get('gridCo2GPerKWh');
    let gridValueS = 0;
    let gridCoveredS = 0;
    for (const g of grid?.values() ?? []) {
      gridValueS += g.valueS;
      gridCoveredS += g.coveredS;
    }
    out.push({
      ts,
      itEnergyKWh: it.kwh,
      facilityEnergyKWh: facility.kwh,
      reusedHeatKWh: reuse.kwh,
      coolingEnergyKWh: cooling.kwh,
      heatRemovedKWh: heat.kwh,
      waterL: water ? [...water.values()].reduce((s, w) => s + w.inc, 0) : null,
      gridCo2GPerKWh: gridCoveredS > 0 ? gridValueS / gridCoveredS : null,
      coverage: {
        it: it.coverage,
        facility: facility.coverage,
        reuse: reuse.coverage,
        grid: grid ? Math.min(1, gridCoveredS / (grid.size * span)) : 0,
      },
    });
  }
  return out;
}

type Family = 'it' | 'facility' | 'reuse' | 'grid';

/** Sums of whole 5-minute intervals' figures: a rollup row, or a bucket of a window. */
export interface FacilitySums extends Pick<FacilityBucket, 'ts' | 'itEnergyKWh' | 'facilityEnergyKWh' | 'reusedHeatKWh' | 'coolingEnergyKWh' | 'heatRemovedKWh' | 'waterL'> {
  /** E_DC × the interval's own grid intensity, summed over intervals (g); null where no interval had both. */
  co2G: number | null;
  /** The intervals' grid intensities summed, and how many had one: a bucket's mean intensity. */
  gridCo2GPerKWhSum: number;
  gridIntervals: number;
  /** Coverage × 300 s summed over intervals, per family. */
  coveredS: Record<Family, number>;
}

const INTERVAL_S = INTERVAL_MS / 1000;

const addNullable = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : a + b);

/** One interval's figures as sums. */
export function intervalSums(b: FacilityBucket): FacilitySums {
  const grid = b.gridCo2GPerKWh;
  return {
    ts: b.ts,
    itEnergyKWh: b.itEnergyKWh,
    facilityEnergyKWh: b.facilityEnergyKWh,
    reusedHeatKWh: b.reusedHeatKWh,
    coolingEnergyKWh: b.coolingEnergyKWh,
    heatRemovedKWh: b.heatRemovedKWh,
    waterL: b.waterL,
    co2G: b.facilityEnergyKWh !== null && grid !== null ? b.facilityEnergyKWh * grid : null,
    gridCo2GPerKWhSum: grid ?? 0,
    gridIntervals: grid === null ? 0 : 1,
    coveredS: {
      it: b.coverage.it * INTERVAL_S,
      facility: b.coverage.facility * INTERVAL_S,
      reuse: b.coverage.reuse * INTERVAL_S,
      grid: b.coverage.grid * INTERVAL_S,
    },
  };
}

/** Adds `b` into `a`. */
export function addSums(a: FacilitySums, b: FacilitySums): void {
  a.itEnergyKWh = addNullable(a.itEnergyKWh, b.itEnergyKWh);
  a.facilityEnergyKWh = addNullable(a.facilityEnergyKWh, b.facilityEnergyKWh);
  a.reusedHeatKWh = addNullable(a.reusedHeatKWh, b.reusedHeatKWh);
  a.coolingEnergyKWh = addNullable(a.coolingEnergyKWh, b.coolingEnergyKWh);
  a.heatRemovedKWh = addNullable(a.heatRemovedKWh, b.heatRemovedKWh);
  a.waterL = addNullable(a.waterL, b.waterL);
  a.co2G = addNullable(a.co2G, b.co2G);
  a.gridCo2GPerKWhSum += b.gridCo2GPerKWhSum;
  a.gridIntervals += b.gridIntervals;
  a.coveredS.it += b.coveredS.it;
  a.coveredS.facility += b.coveredS.facility;
  a.coveredS.reuse += b.coveredS.reuse;
  a.coveredS.grid += b.coveredS.grid;
}

/** A fresh copy of `b` (to add into) keyed `ts`. */
export const copySums = (b: FacilitySums, ts = b.ts): FacilitySums => ({ ...b, ts, coveredS: { ...b.coveredS } });

interface SumsRow extends Omit<FacilitySums, 'coveredS'> {
  itCoveredS: number;
  facilityCoveredS: number;
  reuseCoveredS: number;
  gridCoveredS: number;
}

const sumsColumns = `it_energy_kwh AS itEnergyKWh, facility_energy_kwh AS facilityEnergyKWh, reused_heat_kwh AS reusedHeatKWh,
  cooling_energy_kwh AS coolingEnergyKWh, heat_removed_kwh AS heatRemovedKWh, water_l AS waterL, co2_g AS co2G,
  grid_co2_g_per_kwh_sum AS gridCo2GPerKWhSum, grid_intervals AS gridIntervals, it_covered_s AS itCoveredS,
  facility_covered_s AS facilityCoveredS, reuse_covered_s AS reuseCoveredS, grid_covered_s AS gridCoveredS`;

function fromRow({ itCoveredS, facilityCoveredS, reuseCoveredS, gridCoveredS, ...r }: SumsRow): FacilitySums {
  return { ...r, coveredS: { it: itCoveredS, facility: facilityCoveredS, reuse: reuseCoveredS, grid: gridCoveredS } };
}

/**
 * The facility's figures over [fromTs, toTs) as sums per epoch-aligned bucket of
 * `bucketMs` (5 minutes, an hour or a day), oldest first, read from the day and hour
 * rollups and, at the window's edges, from the intervals. `coveredS` is the window's
 * covered seconds per family, where the last interval counts only up to `toTs`.
 */
export function facilitySums(sqlite: Database, fromTs: number, toTs: number, bucketMs: number): { buckets: FacilitySums[]; coveredS: Record<Family, number> } {
  const parts = windowParts(fromTs, toTs, bucketMs);
  const pieces: FacilitySums[] = [];
  const coveredS = { it: 0, facility: 0, reuse: 0, grid: 0 };
  for (const [a, b] of parts.fine) {
    for (const f of facilityEnergy(sqlite, null, a, b, INTERVAL_MS)) {
      pieces.push(intervalSums(f));
      const spanS = (Math.min(f.ts + INTERVAL_MS, b) - f.ts) / 1000;
      for (const k of ['it', 'facility', 'reuse', 'grid'] as const) coveredS[k] += f.coverage[k] * spanS;
    }
  }
  const read = (table: string, tsColumn: string, ranges: Array<[number, number]>) => {
    if (ranges.length === 0) return;
    const stmt = sqlite.prepare(`SELECT ${tsColumn} AS ts, ${sumsColumns} FROM ${table} WHERE ${tsColumn} >= ? AND ${tsColumn} < ?`);
    for (const [a, b] of ranges) {
      for (const row of stmt.all(a, b) as SumsRow[]) {
        const s = fromRow(row);
        pieces.push(s);
        for (const k of ['it', 'facility', 'reuse', 'grid'] as const) coveredS[k] += s.coveredS[k];
      }
    }
  };
  read('facility_energy_hour', 'hour_ts', parts.hours);
  read('facility_energy_day', 'day_ts', parts.days);
  pieces.sort((a, b) => a.ts - b.ts);

  const buckets: FacilitySums[] = [];
  for (const p of pieces) {
    const ts = Math.floor(p.ts / bucketMs) * bucketMs;
    const last = buckets[buckets.length - 1];
    if (last?.ts === ts) addSums(last, p);
    else buckets.push(copySums(p, ts));
  }
  return { buckets, coveredS };
}

/** GPU energy (kWh, measured plus inferred) per hour and key (project or job) over [fromTs, toTs). */
export function gpuEnergyByHour(
  sqlite: Database,
  fromTs: number,
  toTs: number,
  by: 'project' | 'job',
  accounts: string[] | null,
  nowTs: number,
): Array<{ hourTs: number; key: string; energyKWh: number }> {
  const key = by === 'project' ? 'j.account' : "j.cluster || ':' || j.job_id";
  const measured = sqlite
    .prepare(
      `SELECT h.hour_ts AS hourTs, ${key} AS key, SUM(h.energy_wh) / 1000.0 AS energyKWh
       FROM job_hour h JOIN jobs j ON j.cluster = h.cluster AND j.job_id = h.job_id
       WHERE h.hour_ts >= @from AND h.hour_ts < @to
         AND (@accounts IS NULL OR j.account IN (SELECT value FROM json_each(@accounts)))
       GROUP BY 1, 2`,
    )
    .all({ from: fromTs, to: toTs, accounts: accounts ? JSON.stringify(accounts) : null }) as Array<{ hourTs: number; key: string; energyKWh: number }>;
  const inferred = inferredEnergy(sqlite, fromTs, toTs, nowTs);
  if (inferred.length === 0) return measured;
  const account = sqlite.prepare('SELECT account FROM jobs WHERE cluster = ? AND job_id = ?');
  const merged = new Map(measured.map((m) => [`${m.hourTs}|${m.key}`, m]));
  for (const i of inferred) {
    const a = (account.get(i.cluster, i.jobId) as { account: string } | undefined)?.account;
    if (!a || (accounts && !accounts.includes(a))) continue;
    const k = by === 'project' ? a : `${i.cluster}:${i.jobId}`;
    const m = merged.get(`${i.hourTs}|${k}`);
    if (m) m.energyKWh += i.energyKWh;
    else merged.set(`${i.hourTs}|${k}`, { hourTs: i.hourTs, key: k, energyKWh: i.energyKWh });
  }
  return [...merged.values()];
}

/** Energy of all GPUs (kWh) per hour over [fromTs, toTs), with a job or not. */
export function gpuTotalByHour(sqlite: Database, fromTs: number, toTs: number): Map<number, number> {
  const rows = sqlite
    .prepare('SELECT hour_ts AS hourTs, SUM(energy_wh) / 1000.0 AS kwh FROM gpu_hour WHERE hour_ts >= ? AND hour_ts < ? GROUP BY 1')
    .all(fromTs, toTs) as Array<{ hourTs: number; kwh: number }>;
  return new Map(rows.map((r) => [r.hourTs, r.kwh]));
}
