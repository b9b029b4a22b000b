/**
 * Cooling-loop figures per meter and bucket from the facility rollups (whole days and hours
 * from facility_quantity_day/_hour, the window's edges from facility_interval): for the
 * levels (flow, supply and return temperature) the time integral and the covered seconds,
 * so a mean is `valueS / coveredS` weighted by time; for the heat powers the integral in
 * Wh and its covered seconds.
 */
import type { Database } from 'better-sqlite3';
import { quantityRows } from './facility-rollup.ts';

/** The quantities a cooling loop reports (CONTRACTS §2.3). */
export const loopQuantities = ['flowLpm', 'supplyTempC', 'returnTempC', 'heatRemovedW', 'heatReusedW'] as const;
export type LoopQuantity = (typeof loopQuantities)[number];

/** Sums of one quantity of one meter over one bucket. */
export interface LoopSums {
  integralWh: number;
  valueS: number;
  coveredS: number;
}

export interface LoopBucket {
  meter: string;
  ts: number;
  sums: Partial<Record<LoopQuantity, LoopSums>>;
}

const levelQuantities: readonly string[] = ['flowLpm', 'supplyTempC', 'returnTempC'];

/**
 * Per meter and bucket over [fromTs, toTs), oldest first within each meter. Buckets of
 * `bucketMs` are aligned to the epoch, as the KPI series are; `bucketMs` null makes the
 * whole window one bucket, keyed `fromTs`. Only meters that report a flow or a
 * temperature are loops; a meter with heat alone is a heat meter and is left out.
 */
export function coolingLoopBuckets(sqlite: Database, fromTs: number, toTs: number, bucketMs: number | null): LoopBucket[] {
  const rows = quantityRows(sqlite, fromTs, toTs, bucketMs ?? Infinity, loopQuantities);
  const loops = new Set(rows.filter((r) => levelQuantities.includes(r.quantity)).map((r) => r.meter));
  const out = new Map<string, LoopBucket>();
  for (const r of rows) {
    if (!loops.has(r.meter)) continue;
    const ts = bucketMs === null ? fromTs : Math.floor(r.ts / bucketMs) * bucketMs;
    const key = `${r.meter}\u0000${ts}`;
    let b = out.get(key);
    if (!b) out.set(key, (b = { meter: r.meter, ts, sums: {} }));
    const quantity = r.quantity as LoopQuantity;
    const acc = b.sums[quantity] ?? { integralWh: 0, valueS: 0, coveredS: 0 };
    acc.integralWh += r.integralWh;
    acc.valueS += r.valueS;
    acc.coveredS += r.coveredS;
    b.sums[quantity] = acc;
  }
  return [...out.values()].sort((a, b) => (a.meter < b.meter ? -1 : a.meter > b.meter ? 1 : a.ts - b.ts));
}

/**
 * Time-weighted mean of a level (e.g. `supplyTempC`) over [fromTs, toTs) across the given
 * meters, weighting each meter by its covered time; null where none has a reading.
 */
export function levelMean(sqlite: Database, quantity: LoopQuantity, meters: readonly string[], fromTs: number, toTs: number): number | null {
  if (meters.length === 0) return null;
  const wanted = new Set(meters);
  let valueS = 0;
  let coveredS = 0;
  for (const r of quantityRows(sqlite, fromTs, toTs, Infinity, [quantity])) {
    if (!wanted.has(r.meter)) continue;
    valueS += r.valueS;
    coveredS += r.coveredS;
  }
  return coveredS ? valueS / coveredS : null;
}

/** Meters that report delivered (reused) heat, as a power or a counter, in [fromTs, toTs). */
export function reuseMeters(sqlite: Database, fromTs: number, toTs: number): string[] {
  return [...new Set(quantityRows(sqlite, fromTs, toTs, Infinity, ['heatReusedW', 'heatReusedKWh']).map((r) => r.meter))].sort();
}
