/**
 * Facility energy per bucket (5 minutes, hour or day) from the 5-minute interval rollup:
 * E_IT, E_DC, reused heat, cooling energy, water, and the time-weighted grid intensity.
 *
 * A meter may report a power (integrated) or an energy counter (differenced) for the same
 * thing; where one meter reports both in an interval, its counter wins, so nothing is
 * counted twice. Coverage is the share of the bucket that had readings on both sides,
 * averaged over the meters of that quantity.
 */
import type { Database } from 'better-sqlite3';
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
