import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { percentileCont, percentileRank } from './percentiles.ts';

describe('percentileCont', () => {
  it('gives the middle of an odd count, and halfway between the middle two of an even one', () => {
    expect(percentileCont([10, 20, 40], 0.5)).toBe(20);
    expect(percentileCont([10, 20, 40, 80], 0.5)).toBe(30);
  });

  it('interpolates between closest ranks as percentile_cont: p90 of 1..10 is 9.1, p25 of 0,100 is 25', () => {
    // rank (10 − 1) · 0.9 = 8.1: 9 + 0.1 · (10 − 9).
    expect(percentileCont([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9)).toBeCloseTo(9.1, 12);
    expect(percentileCont([0, 100], 0.25)).toBe(25);
  });

  it('gives the least and greatest value at p 0 and 1, the one value of one, and null of none', () => {
    expect(percentileCont([3, 5, 9], 0)).toBe(3);
    expect(percentileCont([3, 5, 9], 1)).toBe(9);
    expect(percentileCont([7], 0.99)).toBe(7);
    expect(percentileCont([], 0.5)).toBeNull();
  });

  it('lies between the values at the ranks around it, and rises with p', () => {
    const sorted = fc.array(fc.integer({ min: -1e9, max: 1e9 }), { minLength: 1, maxLength: 200 }).map((a) => a.sort((x, y) => x - y));
    fc.assert(
      fc.property(sorted, fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (s, p, q) => {
        const { lo } = percentileRank(s.length, p);
        const v = percentileCont(s, p)!;
        expect(v).toBeGreaterThanOrEqual(s[lo]!);
        expect(v).toBeLessThanOrEqual(s[Math.min(lo + 1, s.length - 1)]!);
        if (p <= q) expect(v).toBeLessThanOrEqual(percentileCont(s, q)!);
      }),
    );
  });
});
