import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { percentileCont } from './percentiles.ts';
import { kthPairOfRuns, percentileContOfRuns } from './sorted-runs.ts';

/** Random ascending runs: some empty, some tiny, values with many ties (`distinct` values from −5). */
const randomRuns = (maxCount: number, maxLength: number, distinct: number) =>
  fc.array(fc.array(fc.integer({ min: -5, max: distinct - 6 }), { maxLength }).map((r) => Float64Array.from(r).sort()), { minLength: 1, maxLength: maxCount });

describe('order statistics of sorted runs', () => {
  it('finds every rank of the merged runs, with the next value beside it', () => {
    fc.assert(
      fc.property(fc.oneof(randomRuns(12, 60, 10), randomRuns(12, 60, 1_000_000)), (runs) => {
      const merged = Float64Array.from(runs.flatMap((r) => [...r])).sort();
      for (let k = 0; k < merged.length; k++) {
        expect(kthPairOfRuns(runs, k)).toEqual([merged[k], merged[Math.min(k + 1, merged.length - 1)]]);
      }
      }),
      { numRuns: 200, seed: 7 },
    );
  });

  it('gives percentile_cont to the last bit, as percentileCont over the merged values in the unit', () => {
    fc.assert(
      fc.property(fc.oneof(randomRuns(40, 400, 259_200_000), randomRuns(40, 400, 50)), (runs) => {
      const n = runs.reduce((s, r) => s + r.length, 0);
      const seconds = runs.flatMap((r) => [...r].map((ms) => ms / 1000)).sort((a, b) => a - b);
      for (const p of [0, 0.25, 0.5, 0.75, 0.9, 0.99, 1]) {
        expect(percentileContOfRuns(runs, n, p, 1000)).toBe(percentileCont(seconds, p));
      }
      }),
      { numRuns: 300, seed: 11 },
    );
  });
});
