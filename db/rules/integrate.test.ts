import { describe, expect, it } from 'vitest';
import { HOUR_MS, integrateGpuSegment, integrateGpuSegmentEach, splitLinear } from './integrate.ts';

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

describe('integrateGpuSegmentEach', () => {
  const collect = (p: Parameters<typeof integrateGpuSegmentEach>[0], n: Parameters<typeof integrateGpuSegmentEach>[1]) => {
    const out: Array<{ hourTs: number; jobIds: string[]; seconds: number; energyWh: number | null; utilPctS: number | null; idle: boolean }> = [];
    integrateGpuSegmentEach(p, n, 300_000, 5, (hourTs, jobIds, seconds, energyWh, utilPctS, idle) => out.push({ hourTs, jobIds, seconds, energyWh, utilPctS, idle }));
    return out;
  };

  it('splits a segment inside one hour at its midpoint between the two samples\' jobs', () => {
    // 100 W → 300 W over 20 s: 200 W at the midpoint; halves (100+200)/2·10 s and (200+300)/2·10 s.
    const pieces = collect({ ts: 0, powerW: 100, utilPct: 0, jobIds: [] }, { ts: 20_000, powerW: 300, utilPct: 100, jobIds: ['7'] });
    expect(pieces.map((x) => [x.hourTs, x.jobIds, x.seconds, x.idle])).toEqual([[0, [], 10, true], [0, ['7'], 10, false]]);
    expect(pieces[0]!.energyWh).toBeCloseTo(1500 / 3600, 12);
    expect(pieces[1]!.energyWh).toBeCloseTo(2500 / 3600, 12);
    // Utilisation 0 → 100 %: 25 %·10 s and 75 %·10 s.
    expect(pieces.map((x) => x.utilPctS)).toEqual([250, 750]);
  });

  it('keeps a segment that ends exactly on the hour in that hour, and splits one across it', () => {
    const p = { ts: HOUR_MS - 10_000, powerW: 0, utilPct: null, jobIds: ['1'] };
    expect(collect(p, { ts: HOUR_MS, powerW: 120, utilPct: null, jobIds: ['1'] }).map((x) => x.hourTs)).toEqual([0, 0]);
    // 0 W → 120 W from 00:59:50 to 01:00:10: 60 W at the hour; 60·10/2 and 180·10/2 W·s.
    const across = collect(p, { ts: HOUR_MS + 10_000, powerW: 120, utilPct: null, jobIds: ['1'] });
    expect(across.map((x) => x.hourTs)).toEqual([0, HOUR_MS]);
    expect(across[0]!.energyWh).toBeCloseTo(300 / 3600, 12);
    expect(across[1]!.energyWh).toBeCloseTo(900 / 3600, 12);
    expect(across.every((x) => x.utilPctS === null)).toBe(true);
  });

  it('hands over nothing across a gap longer than the bound', () => {
    expect(collect({ ts: 0, powerW: 1, utilPct: 1, jobIds: [] }, { ts: 300_001, powerW: 1, utilPct: 1, jobIds: [] })).toEqual([]);
  });
});

describe('a segment with an energy counter or activities', () => {
  const base = { utilPct: 50, jobIds: ['1'] };

  it('spreads the counter’s energy over the hours as the power ran, and marks it as the counter’s', () => {
    // 100 W at 00:59 rising to 300 W at 01:01 (200 W at the boundary): power says 150 W × 60 s
    // before and 250 W × 60 s after, so 3/8 and 5/8 of the energy.
    // The counter says 36 kJ = 10 Wh for the two minutes.
    const p = { ...base, ts: HOUR_MS - 60_000, powerW: 100, energyJ: 5000 };
    const n = { ...base, ts: HOUR_MS + 60_000, powerW: 300, energyJ: 41_000 };
    const pieces = integrateGpuSegment(p, n, 300_000, 5);
    const byHour = (h: number) => pieces.filter((x) => x.hourTs === h).reduce((s, x) => s + x.energyWh!, 0);
    expect(byHour(0)).toBeCloseTo(3.75, 9);
    expect(byHour(HOUR_MS)).toBeCloseTo(6.25, 9);
    expect(pieces.reduce((s, x) => s + x.counterWh, 0)).toBeCloseTo(10, 9);
    // The one-hour fast path hands the same pieces to a sink.
    const sunk: number[] = [];
    integrateGpuSegmentEach(p, n, 300_000, 5, (_h, _j, _s, e, _u, _i, c) => sunk.push(e!, c));
    expect(sunk).toEqual(pieces.flatMap((x) => [x.energyWh, x.counterWh]));
  });

  it('uses power where the counter went back or implies more than 100 kW, and time where there is no power', () => {
    const reset = integrateGpuSegment({ ...base, ts: 0, powerW: 360, energyJ: 9e9 }, { ...base, ts: 10_000, powerW: 360, energyJ: 3 }, 300_000, 5);
    expect(reset.reduce((s, x) => s + x.energyWh!, 0)).toBeCloseTo(1, 9);
    expect(reset.every((x) => x.counterWh === 0)).toBe(true);
    const absurd = integrateGpuSegment({ ...base, ts: 0, powerW: 360, energyJ: 0 }, { ...base, ts: 10_000, powerW: 360, energyJ: 1_000_001 }, 300_000, 5);
    expect(absurd.every((x) => x.counterWh === 0)).toBe(true);
    // No power at all (a vGPU): the counter's 7.2 kJ = 2 Wh, half to each owner by time.
    const noPower = integrateGpuSegment({ ...base, ts: 0, powerW: null, energyJ: 0 }, { ...base, ts: 10_000, powerW: null, energyJ: 7200 }, 300_000, 5);
    expect(noPower.map((x) => x.energyWh)).toEqual([1, 1]);
  });

  it('integrates each activity known at both ends, and leaves the others unknown', () => {
    const p = { ...base, ts: 0, powerW: 100, activity: [0.2, null, 1, 0.5] as [number, null, number, number] };
    const n = { ...base, ts: 20_000, powerW: 100, activity: [0.6, 0.9, null, 0.5] as [number, number, null, number] };
    const pieces = integrateGpuSegment(p, n, 300_000, 5);
    const sum = (k: number) => pieces.reduce((s, x) => s + x.activity![k]!, 0);
    // SM: mean 0.4 over 20 s; tensor and graphics known at one end only; DRAM 0.5.
    expect(sum(0)).toBeCloseTo(8, 9);
    expect(sum(1)).toBeCloseTo(20, 9);
    expect(sum(2) + sum(3) + sum(4) + sum(5)).toBe(0);
    expect(sum(6)).toBeCloseTo(10, 9);
    expect(sum(7)).toBeCloseTo(20, 9);
  });
});
