/**
 * Order statistics of the union of ascending runs (Float64Arrays) without merging them: a
 * year of waits is a dozen month runs and a few day runs, and a percentile needs only the
 * one or two values at its rank.
 */
import { interpolate, percentileRank } from './percentiles.ts';

/** First index in [lo, hi) of `run` whose value is ≥ x (hi if none). */
function lowerBound(run: Float64Array, x: number, lo: number, hi: number): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (run[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index in [lo, hi) of `run` whose value is > x (hi if none). */
function upperBound(run: Float64Array, x: number, lo: number, hi: number): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (run[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// Below this many undecided values, they are sorted outright.
const FEW = 64;

/** Per run: the undecided range [lo, hi), and a pivot's counts (below it, at most it). */
const bounds = (n: number) => ({ lo: new Int32Array(n), hi: new Int32Array(n), below: new Int32Array(n), atMost: new Int32Array(n) });
// Reused by every call (none runs inside another): a year's percentiles take thousands of them.
let scratch = bounds(64);

/**
 * The k-th smallest value (0-based) of the union of ascending `runs`, and the (k+1)-th
 * (the k-th again when k is the last rank). Values before `lo[i]` in run i are known to be
 * below the answer and values from `hi[i]` on above it, so counts of values below a pivot
 * are whole-run ranks. Each round takes two pivots from the widest run, where rank k
 * should fall give or take a few standard deviations (runs of waits are alike, so this
 * usually brackets it, as in Floyd and Rivest's selection), counts the values below and at
 * each in every run, and keeps the part that holds rank k; a round always drops the
 * values on one side of a pivot, so it ends even when the guess misses.
 */
export function kthPairOfRuns(runs: readonly Float64Array[], k: number): [number, number] {
  let m = runs.length;
  if (scratch.lo.length < m) scratch = bounds(2 * m);
  const { lo, hi, below, atMost } = scratch;
  // The runs whose undecided range is not empty, first m of `live`; the others only matter for the next value.
  const live = runs.slice();
  for (let i = 0; i < m; i++) {
    lo[i] = 0;
    hi[i] = runs[i]!.length;
  }
  // Runs that left `live`, all their values decided: how many lie below rank k, and where the rest start.
  let settled = 0;
  const done: Array<[Float64Array, number]> = [];
  for (;;) {
    let known = settled;
    let open = 0;
    let widest = 0;
    for (let i = 0; i < m; i++) {
      known += lo[i]!;
      open += hi[i]! - lo[i]!;
      if (hi[i]! - lo[i]! > hi[widest]! - lo[widest]!) widest = i;
    }
    if (open === 0) throw new RangeError(`rank ${k} outside the runs`);
    const r = k - known;
    if (open <= FEW) {
      const rest = new Float64Array(open);
      let n = 0;
      for (let i = 0; i < m; i++) for (let j = lo[i]!; j < hi[i]!; j++) rest[n++] = live[i]![j]!;
      rest.sort();
      return [rest[r]!, r + 1 < open ? rest[r + 1]! : (smallestFrom(live, m, hi, done) ?? rest[r]!)];
    }
    const run = live[widest]!;
    const base = lo[widest]!;
    const width = hi[widest]! - base;
    const spread = 2 * Math.sqrt(open);
    for (let side = -1; side <= 1; side += 2) {
      const pivot = run[base + Math.min(width - 1, Math.max(0, Math.floor(((r + side * spread) * width) / open)))]!;
      let less = settled;
      let notMore = settled;
      for (let i = 0; i < m; i++) {
        const b = lowerBound(live[i]!, pivot, lo[i]!, hi[i]!);
        below[i] = b;
        atMost[i] = upperBound(live[i]!, pivot, b, hi[i]!);
        less += b;
        notMore += atMost[i]!;
      }
      if (k < less) {
        hi.set(below.subarray(0, m));
        break;
      }
      if (k < notMore) return [pivot, k + 1 < notMore ? pivot : (smallestFrom(live, m, atMost, done) ?? pivot)];
      lo.set(atMost.subarray(0, m));
    }
    // Runs left with nothing undecided drop out of `live`, their decided-below values counted once.
    for (let i = 0; i < m; ) {
      if (lo[i]! < hi[i]!) {
        i++;
        continue;
      }
      settled += lo[i]!;
      done.push([live[i]!, lo[i]!]);
      m--;
      live[i] = live[m]!;
      lo[i] = lo[m]!;
      hi[i] = hi[m]!;
    }
  }
}

/** The smallest value from index at[i] on in the first m runs of `live`, and from its position on in each run of `done`. */
function smallestFrom(live: Float64Array[], m: number, at: Int32Array, done: Array<[Float64Array, number]>): number | null {
  let next: number | null = null;
  const consider = (v: number | undefined) => {
    if (v !== undefined && (next === null || v < next)) next = v;
  };
  for (let i = 0; i < m; i++) consider(live[i]![at[i]!]);
  for (const [run, at] of done) consider(run[at]);
  return next;
}

/**
 * percentile_cont (p in 0-1) of the union of ascending `runs` holding `n` values in all,
 * with each value divided by `unit` first: the same arithmetic as `percentileCont`
 * (percentiles.ts) over the merged, scaled array, so the result is identical to the last bit.
 */
export function percentileContOfRuns(runs: readonly Float64Array[], n: number, p: number, unit: number): number | null {
  if (n === 0) return null;
  const { lo, fraction } = percentileRank(n, p);
  const [a, b] = kthPairOfRuns(runs, lo);
  const low = a / unit;
  return interpolate(low, lo + 1 < n ? b / unit : low, fraction);
}
