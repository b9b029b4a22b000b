/**
 * Percentiles as SQL's percentile_cont (and PostgreSQL, numpy's default 'linear') compute
 * them: the value at rank (n − 1) · p of the ascending values, interpolated linearly
 * between the two closest ranks. Pure functions, no database; sorted-runs.ts applies the
 * same arithmetic to values it never merges.
 */

/** Where percentile p (0-1) of n ascending values lies: the rank below it and the fraction of the way to the next. */
export function percentileRank(n: number, p: number): { lo: number; fraction: number } {
  const rank = (n - 1) * p;
  const lo = Math.floor(rank);
  return { lo, fraction: rank - lo };
}

/** percentile_cont's value between the values at rank lo and lo + 1 (`high` is `low` at the last rank). */
export function interpolate(low: number, high: number, fraction: number): number {
  return low + (high - low) * fraction;
}

/** percentile_cont over an ascending array (p in 0-1); null when it is empty. */
export function percentileCont(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const { lo, fraction } = percentileRank(sorted.length, p);
  return interpolate(sorted[lo]!, sorted[Math.min(lo + 1, sorted.length - 1)]!, fraction);
}
