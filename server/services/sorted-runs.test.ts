import { describe, expect, it } from 'vitest';
import { seeded } from '../../collectors/demo/random.ts';
import { percentileCont } from '../../db/queries/waits.ts';
import { kthPairOfRuns, percentileContOfRuns } from './sorted-runs.ts';

/** Random ascending runs: some empty, some tiny, values with many ties. */
function randomRuns(random: () => number, count: number, maxLength: number, distinct: number): Float64Array[] {
  return Array.from({ length: count }, () => {
    const run = Float64Array.from({ length: Math.floor(random() * random() * maxLength) }, () => Math.floor(random() * distinct) - 5);
    return run.sort();
  });
}

describe('order statistics of sorted runs', () => {
  it('finds every rank of the merged runs, with the next value beside it', () => {
    const random = seeded(7);
    for (let trial = 0; trial < 200; trial++) {
      const runs = randomRuns(random, 1 + Math.floor(random() * 12), 60, trial % 2 ? 10 : 1_000_000);
      const merged = Float64Array.from(runs.flatMap((r) => [...r])).sort();
      for (let k = 0; k < merged.length; k++) {
        expect(kthPairOfRuns(runs, k)).toEqual([merged[k], merged[Math.min(k + 1, merged.length - 1)]]);
      }
    }
  });

  it('gives percentile_cont to the last bit, as percentileCont over the merged values in the unit', () => {
    const random = seeded(11);
    for (let trial = 0; trial < 300; trial++) {
      const runs = randomRuns(random, 1 + Math.floor(random() * 40), 400, trial % 3 ? 259_200_000 : 50);
      const n = runs.reduce((s, r) => s + r.length, 0);
      const seconds = runs.flatMap((r) => [...r].map((ms) => ms / 1000)).sort((a, b) => a - b);
      for (const p of [0, 0.25, 0.5, 0.75, 0.9, 0.99, 1]) {
        expect(percentileContOfRuns(runs, n, p, 1000)).toBe(percentileCont(seconds, p));
      }
    }
  });
});
