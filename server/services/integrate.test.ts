import { describe, expect, it } from 'vitest';
import { HOUR_MS, integrateGpuSegment, splitLinear } from './integrate.ts';

describe('splitLinear', () => {
  it('integrates a constant over a segment inside one bucket', () => {
    const pieces = splitLinear(1000, 100, 11_000, 100, HOUR_MS);
    expect(pieces).toHaveLength(1);
    expect(pieces[0]!.integral).toBe(100 * 10_000);
  });

  it('splits a ramp at an hour boundary into exact trapezoids', () => {
    // 0 W at 00:59:00 rising to 120 W at 01:01:00: 60 W at the boundary.
    const t0 = HOUR_MS - 60_000;
    const pieces = splitLinear(t0, 0, HOUR_MS + 60_000, 120, HOUR_MS);
    expect(pieces.map((p) => p.bucketTs)).toEqual([0, HOUR_MS]);
    expect(pieces[0]!.integral).toBeCloseTo(30 * 60_000, 6);
    expect(pieces[1]!.integral).toBeCloseTo(90 * 60_000, 6);
  });
});

describe('integrateGpuSegment', () => {
  const base = { utilPct: 50, jobIds: ['1'] };

  it('gives a 600 W GPU over 10 s 600*10/3600 Wh', () => {
    const pieces = integrateGpuSegment({ ...base, ts: 0, powerW: 600 }, { ...base, ts: 10_000, powerW: 600 }, 300_000, 5);
    const wh = pieces.reduce((s, p) => s + (p.energyWh ?? 0), 0);
    expect(wh).toBeCloseTo((600 * 10) / 3600, 9);
  });

  it('gives each half of the segment to the jobs of the nearer sample', () => {
    const p = { ts: 0, powerW: 100, utilPct: 0, jobIds: [] };
    const n = { ts: 20_000, powerW: 300, utilPct: 100, jobIds: ['7'] };
    const pieces = integrateGpuSegment(p, n, 300_000, 5);
    // Midpoint power 200 W: first half (100+200)/2*10 s, second half (200+300)/2*10 s.
    expect(pieces.map((x) => x.jobIds)).toEqual([[], ['7']]);
    expect(pieces[0]!.energyWh).toBeCloseTo(1500 / 3600, 9);
    expect(pieces[1]!.energyWh).toBeCloseTo(2500 / 3600, 9);
    expect(pieces[0]!.idle).toBe(true);
    expect(pieces[1]!.idle).toBe(false);
  });

  it('does not bridge a gap longer than the bound', () => {
    const p = { ...base, ts: 0, powerW: 100 };
    expect(integrateGpuSegment(p, { ...base, ts: 300_001, powerW: 100 }, 300_000, 5)).toEqual([]);
    expect(integrateGpuSegment(p, { ...base, ts: 300_000, powerW: 100 }, 300_000, 5)).not.toEqual([]);
  });

  it('keeps time but no energy when power is unknown', () => {
    const pieces = integrateGpuSegment({ ...base, ts: 0, powerW: null }, { ...base, ts: 10_000, powerW: 50 }, 300_000, 5);
    expect(pieces.every((x) => x.energyWh === null)).toBe(true);
    expect(pieces.reduce((s, x) => s + x.seconds, 0)).toBe(10);
  });
});

describe('splitLinear cut points', () => {
  it('orders bucket boundaries and break points together and ignores breaks outside the segment', () => {
    const pieces = splitLinear(HOUR_MS - 100, 0, 2 * HOUR_MS + 100, 0, HOUR_MS, [2 * HOUR_MS + 50, HOUR_MS - 50, 5 * HOUR_MS, HOUR_MS]);
    expect(pieces.map((p) => [p.startMs, p.endMs])).toEqual([
      [HOUR_MS - 100, HOUR_MS - 50],
      [HOUR_MS - 50, HOUR_MS],
      [HOUR_MS, 2 * HOUR_MS],
      [2 * HOUR_MS, 2 * HOUR_MS + 50],
      [2 * HOUR_MS + 50, 2 * HOUR_MS + 100],
    ]);
  });
});
