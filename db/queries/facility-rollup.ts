/**
 * Reading the facility rollups: a window is cut into whole UTC days (facility_*_day), whole
 * hours (facility_*_hour) and the 5-minute intervals at its edges (facility_interval).
 * An interval belongs to a window when it starts in it, as in every facility query, so
 * the parts together hold exactly the window's intervals, whatever its alignment.
 */
import type { Database } from 'better-sqlite3';
import { DAY_MS, HOUR_MS } from '../rules/time.ts';

/** [fromTs, toTs) */
export type Range = [number, number];

export interface WindowParts {
  fine: Range[];
  hours: Range[];
  days: Range[];
}

const ceilTo = (ts: number, ms: number) => Math.ceil(ts / ms) * ms;
const floorTo = (ts: number, ms: number) => Math.floor(ts / ms) * ms;

/**
 * [fromTs, toTs) as intervals, hours and days, using no span coarser than `coarsestMs`
 * (a series bucket's width, so that no part straddles two buckets; Infinity for none).
 */
export function windowParts(fromTs: number, toTs: number, coarsestMs: number): WindowParts {
  const parts: WindowParts = { fine: [], hours: [], days: [] };
  const push = (list: Range[], a: number, b: number) => {
    if (a < b) list.push([a, b]);
  };
  const h0 = ceilTo(fromTs, HOUR_MS);
  const h1 = floorTo(toTs, HOUR_MS);
  if (coarsestMs < HOUR_MS || h0 >= h1) {
    push(parts.fine, fromTs, toTs);
    return parts;
  }
  push(parts.fine, fromTs, h0);
  push(parts.fine, h1, toTs);
  const d0 = ceilTo(h0, DAY_MS);
  const d1 = floorTo(h1, DAY_MS);
  if (coarsestMs < DAY_MS || d0 >= d1) {
    push(parts.hours, h0, h1);
    return parts;
  }
  push(parts.hours, h0, d0);
  push(parts.hours, d1, h1);
  push(parts.days, d0, d1);
  return parts;
}

/** Sums of one quantity of one meter at one site over one part of a window. */
export interface QuantityRow {
  ts: number;
  meter: string;
  quantity: string;
  integralWh: number;
  increase: number;
  valueS: number;
  coveredS: number;
}

/**
 * The given quantities per site, meter and part (interval, hour or day, keyed by its
 * start) over [fromTs, toTs), from the finest table each part needs; oldest part first.
 */
export function quantityRows(sqlite: Database, fromTs: number, toTs: number, coarsestMs: number, quantities: readonly string[]): QuantityRow[] {
  const parts = windowParts(fromTs, toTs, coarsestMs);
  const q = JSON.stringify(quantities);
  const read = (table: string, tsColumn: string, ranges: Range[]) => {
    if (ranges.length === 0) return [];
    const stmt = sqlite.prepare(
      `SELECT ${tsColumn} AS ts, meter, quantity, integral_wh AS integralWh, increase, value_s AS "valueS", covered_s AS coveredS
       FROM ${table} WHERE ${tsColumn} >= ? AND ${tsColumn} < ? AND quantity IN (SELECT value FROM json_each(?))`,
    );
    return ranges.flatMap(([a, b]) => stmt.all(a, b, q) as QuantityRow[]);
  };
  return [
    ...read('facility_interval', 'interval_ts', parts.fine),
    ...read('facility_quantity_hour', 'hour_ts', parts.hours),
    ...read('facility_quantity_day', 'day_ts', parts.days),
  ].sort((a, b) => a.ts - b.ts);
}
