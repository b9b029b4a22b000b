/**
 * Cooling-loop figures per meter and bucket from the 5-minute facility rollup: for the
 * levels (flow, supply and return temperature) the time integral and the covered seconds,
 * so a mean is `valueS / coveredS` weighted by time; for the heat powers the integral in
 * Wh and its covered seconds.
 */
import type { Database } from 'better-sqlite3';

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

/**
 * Per meter and bucket over [fromTs, toTs), oldest first within each meter. Buckets of
 * `bucketMs` are aligned to the epoch, as the KPI series are; `bucketMs` null makes the
 * whole window one bucket, keyed `fromTs`. Only meters that report a flow or a
 * temperature are loops; a meter with heat alone is a heat meter and is left out.
 */
export function coolingLoopBuckets(sqlite: Database, fromTs: number, toTs: number, bucketMs: number | null): LoopBucket[] {
  const rows = sqlite
    .prepare(
      `SELECT interval_ts AS intervalTs, meter, quantity, SUM(integral_wh) AS integralWh, SUM(value_s) AS "valueS", SUM(covered_s) AS coveredS
       FROM facility_interval
       WHERE interval_ts >= ? AND interval_ts < ? AND quantity IN (SELECT value FROM json_each(?))
         AND meter IN (SELECT DISTINCT meter FROM facility_interval
                       WHERE interval_ts >= ? AND interval_ts < ? AND quantity IN ('flowLpm', 'supplyTempC', 'returnTempC'))
       GROUP BY 1, 2, 3`,
    )
    .all(fromTs, toTs, JSON.stringify(loopQuantities), fromTs, toTs) as Array<{ intervalTs: number; meter: string; quantity: LoopQuantity } & LoopSums>;

  const out = new Map<string, LoopBucket>();
  for (const r of rows) {
    const ts = bucketMs === null ? fromTs : Math.floor(r.intervalTs / bucketMs) * bucketMs;
    const key = `${r.meter}\u0000${ts}`;
    let b = out.get(key);
    if (!b) out.set(key, (b = { meter: r.meter, ts, sums: {} }));
    const acc = b.sums[r.quantity] ?? { integralWh: 0, valueS: 0, coveredS: 0 };
    acc.integralWh += r.integralWh;
    acc.valueS += r.valueS;
    acc.coveredS += r.coveredS;
    b.sums[r.quantity] = acc;
  }
  return [...out.values()].sort((a, b) => (a.meter < b.meter ? -1 : a.meter > b.meter ? 1 : a.ts - b.ts));
}

/**
 * Time-weighted mean of a level (e.g. `supplyTempC`) over [fromTs, toTs) across the given
 * meters, weighting each meter by its covered time; null where none has a reading.
 */
export function levelMean(sqlite: Database, quantity: LoopQuantity, meters: readonly string[], fromTs: number, toTs: number): number | null {
  if (meters.length === 0) return null;
  const row = sqlite
    .prepare(
      `SELECT SUM(value_s) AS "valueS", SUM(covered_s) AS coveredS FROM facility_interval
       WHERE interval_ts >= ? AND interval_ts < ? AND quantity = ? AND meter IN (SELECT value FROM json_each(?))`,
    )
    .get(fromTs, toTs, quantity, JSON.stringify(meters)) as { valueS: number | null; coveredS: number | null };
  return row.coveredS ? row.valueS! / row.coveredS : null;
}

/** Meters that report delivered (reused) heat, as a power or a counter, in [fromTs, toTs). */
export function reuseMeters(sqlite: Database, fromTs: number, toTs: number): string[] {
  return (
    sqlite
      .prepare(
        `SELECT DISTINCT meter FROM facility_interval
         WHERE interval_ts >= ? AND interval_ts < ? AND quantity IN ('heatReusedW', 'heatReusedKWh') ORDER BY meter`,
      )
      .all(fromTs, toTs) as Array<{ meter: string }>
  ).map((r) => r.meter);
}
