/**
 * The time buckets every rollup and query cuts by (pure functions, no database): 5-minute
 * intervals, hours, UTC days and UTC calendar months, timestamps in epoch milliseconds.
 * Hours, days and intervals are fixed widths from the epoch (UTC has no daylight saving);
 * months are not, so they go through the calendar.
 */

export const INTERVAL_MS = 300_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

/** Start of the bucket of width `bucketMs` that contains `ts`. */
export function bucketOf(ts: number, bucketMs: number): number {
  return Math.floor(ts / bucketMs) * bucketMs;
}

/** Start of the UTC calendar month holding `ts`. */
export function monthOf(ts: number): number {
  const d = new Date(ts);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

/** Start of the UTC calendar month after the one holding `ts`. */
export function nextMonth(ts: number): number {
  const d = new Date(ts);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

/** Start of the UTC calendar month `n` months before the one holding `ts`. */
export function monthsBefore(ts: number, n: number): number {
  const d = new Date(ts);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - n, 1);
}
