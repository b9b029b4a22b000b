/**
 * The time buckets every rollup and query cuts by (pure functions, no database): 5-minute
 * intervals, hours, UTC days, dekads (days 1-10, 11-20 and 21 to the end of a month) and UTC
 * calendar months, timestamps in epoch milliseconds.
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

/** Start of the dekad holding `ts`: the 1st, 11th or 21st of its UTC month. */
export function dekadOf(ts: number): number {
  const d = new Date(ts);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), Math.min(21, 1 + 10 * Math.floor((d.getUTCDate() - 1) / 10)));
}

/** Start of the dekad after the one holding `ts` (the 21st's ends with its month). */
export function nextDekad(ts: number): number {
  const start = dekadOf(ts);
  const day = new Date(start).getUTCDate();
  return day === 21 ? nextMonth(start) : start + 10 * DAY_MS;
}
