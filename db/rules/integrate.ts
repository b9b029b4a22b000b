/**
 * Time integration of sampled quantities (pure functions, no database).
 *
 * A quantity sampled at (t0, v0) and (t1, v1) is taken to vary linearly between the two
 * samples (the trapezoid rule). Segments longer than the gap bound are not bridged: that
 * time has no coverage rather than an invented value. Segments are split at bucket
 * boundaries (hours, 5-minute intervals) so each bucket receives exactly its share.
 */

import { HOUR_MS, bucketOf } from './time.ts';

// The bucket widths and bucketOf are time.ts's; re-exported for the modules that import them from here.
export { DAY_MS, HOUR_MS, INTERVAL_MS, bucketOf } from './time.ts';

/** One piece of a segment inside one bucket: [startMs, endMs) and the integral over it. */
export interface Piece {
  bucketTs: number;
  startMs: number;
  endMs: number;
  /** ∫ v dt over the piece, in value·milliseconds. */
  integral: number;
}

/**
 * Splits the linear segment (t0, v0) → (t1, v1) at bucket boundaries and at the extra
 * break points given, returning each piece's integral. Requires t0 < t1.
 */
export function splitLinear(t0: number, v0: number, t1: number, v1: number, bucketMs: number, breaks: number[] = []): Piece[] {
  // Hot path (every sample): build the ordered cut points without sets or sorting.
  const points = [t0];
  let nextBreak = 0;
  const sortedBreaks = breaks.length > 1 ? [...breaks].sort((a, b) => a - b) : breaks;
  const push = (t: number) => {
    if (t > points[points.length - 1]! && t < t1) points.push(t);
  };
  for (let b = bucketOf(t0, bucketMs) + bucketMs; b < t1; b += bucketMs) {
    while (nextBreak < sortedBreaks.length && sortedBreaks[nextBreak]! < b) push(sortedBreaks[nextBreak++]!);
    push(b);
  }
  while (nextBreak < sortedBreaks.length) push(sortedBreaks[nextBreak++]!);
  points.push(t1);
  const slope = (v1 - v0) / (t1 - t0);
  const pieces: Piece[] = [];
  for (let i = 0; i + 1 < points.length; i++) {
    const a = points[i]!;
    const b = points[i + 1]!;
    const va = v0 + slope * (a - t0);
    const vb = v0 + slope * (b - t0);
    pieces.push({ bucketTs: bucketOf(a, bucketMs), startMs: a, endMs: b, integral: ((va + vb) / 2) * (b - a) });
  }
  return pieces;
}

/**
 * DCGM's profiling activities of a GPU (ratios 0–1), in this order: SM active, tensor pipe
 * active, graphics engine active, DRAM active; null where the source does not give one.
 */
export type Activity = [number | null, number | null, number | null, number | null];
export const ACTIVITY_METRICS = 4;

/** A GPU sample as the integrator needs it. */
export interface GpuPoint {
  ts: number;
  powerW: number | null;
  utilPct: number | null;
  jobIds: string[];
  /** The GPU's energy counter (J since the driver loaded; DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION), when the source gives it. */
  energyJ?: number | null;
  activity?: Activity | null;
}

/**
 * Power the counter may imply at most (the wire's bound on powerW): a larger difference
 * means the counter was reset or replaced, and the segment falls back to its power.
 */
const MAX_COUNTER_W = 100_000;

/** The energy (J) between two samples by the GPU's own counter, or null when it does not give one. */
export function counterJoules(p: GpuPoint, n: GpuPoint): number | null {
  if (p.energyJ == null || n.energyJ == null) return null;
  const joules = n.energyJ - p.energyJ;
  // A counter that went back was reset (driver reload): that segment's energy is its power's.
  return joules >= 0 && joules <= (MAX_COUNTER_W * (n.ts - p.ts)) / 1000 ? joules : null;
}

/** What one piece of a GPU segment adds to the rollups of its hour. */
export interface GpuPiece {
  hourTs: number;
  /** Jobs that own this piece: the jobs of the nearer sample (midpoint rule). */
  jobIds: string[];
  seconds: number;
  /** Energy in Wh, null when the power is unknown at either end. */
  energyWh: number | null;
  /** ∫ util dt in %·s, null when utilisation is unknown at either end. */
  utilPctS: number | null;
  /** Whether the owning sample was below the idle threshold. */
  idle: boolean;
  /** Of energyWh, what the GPU's energy counter measured (the rest is integrated power). */
  counterWh: number;
  /**
   * Per activity metric k (ACTIVITY_METRICS): [2k] = ∫ activity dt (ratio·s) and [2k+1] the
   * seconds it was known at both ends; null when the samples give no activity.
   */
  activity: Float64Array | null;
}

/**
 * Integrates one GPU between two consecutive samples. The first half of the segment
 * belongs to the jobs of the earlier sample and the second half to those of the later
 * one, so a job that starts or ends between samples gets the half nearest its samples.
 * Returns [] when the samples are further apart than `maxGapMs`.
 */
export function integrateGpuSegment(p: GpuPoint, n: GpuPoint, maxGapMs: number, idleUtilPct: number): GpuPiece[] {
  const dt = n.ts - p.ts;
  if (dt <= 0 || dt > maxGapMs) return [];
  const mid = p.ts + dt / 2;
  const power = p.powerW !== null && n.powerW !== null ? splitLinear(p.ts, p.powerW, n.ts, n.powerW, HOUR_MS, [mid]) : null;
  const util = p.utilPct !== null && n.utilPct !== null ? splitLinear(p.ts, p.utilPct, n.ts, n.utilPct, HOUR_MS, [mid]) : null;
  const shape = power ?? util ?? splitLinear(p.ts, 0, n.ts, 0, HOUR_MS, [mid]);
  const energy = shape.map((_, i) => (power ? power[i]!.integral / HOUR_MS : null));
  const joules = counterJoules(p, n);
  if (joules !== null) {
    // The counter's energy, spread over the pieces as the power ran (by time without power).
    const total = power ? energy.reduce<number>((a, e) => a + e!, 0) : 0;
    for (let i = 0; i < shape.length; i++) {
      const part = total > 0 ? energy[i]! / total : (shape[i]!.endMs - shape[i]!.startMs) / dt;
      energy[i] = (joules / 3600) * part;
    }
  }
  const activity = activityPieces(p, n, mid, shape.length);
  return shape.map((piece, i) => {
    const owner = piece.startMs < mid ? p : n;
    return {
      hourTs: piece.bucketTs,
      jobIds: owner.jobIds,
      seconds: (piece.endMs - piece.startMs) / 1000,
      energyWh: energy[i]!,
      utilPctS: util ? util[i]!.integral / 1000 : null,
      idle: owner.utilPct !== null && owner.utilPct < idleUtilPct,
      counterWh: joules !== null ? energy[i]! : 0,
      activity: activity?.[i] ?? null,
    };
  });
}

/** Each piece's activity integrals (see GpuPiece.activity), cut as splitLinear cuts the segment; null when none is known at both ends. */
function activityPieces(p: GpuPoint, n: GpuPoint, mid: number, pieces: number): Float64Array[] | null {
  if (!p.activity || !n.activity) return null;
  let out: Float64Array[] | null = null;
  for (let k = 0; k < ACTIVITY_METRICS; k++) {
    const a = p.activity[k];
    const b = n.activity[k];
    if (a == null || b == null) continue;
    out ??= Array.from({ length: pieces }, () => new Float64Array(2 * ACTIVITY_METRICS));
    const split = splitLinear(p.ts, a, n.ts, b, HOUR_MS, [mid]);
    for (let i = 0; i < pieces; i++) {
      out[i]![2 * k] = split[i]!.integral / 1000;
      out[i]![2 * k + 1] = (split[i]!.endMs - split[i]!.startMs) / 1000;
    }
  }
  return out;
}

/** Receives the pieces of a GPU segment one by one (see `integrateGpuSegmentEach`). */
export type GpuPieceSink = (
  hourTs: number,
  jobIds: string[],
  seconds: number,
  energyWh: number | null,
  utilPctS: number | null,
  idle: boolean,
  counterWh: number,
  activity: Float64Array | null,
) => void;

/**
 * `integrateGpuSegment` without allocating: hands each piece to `sink`. The common case, a
 * segment inside one hour, is computed inline with the same arithmetic as `splitLinear`
 * (so the figures are bit-identical); anything else (a segment across an hour, samples
 * with an energy counter or activities) goes through `integrateGpuSegment`.
 */
export function integrateGpuSegmentEach(p: GpuPoint, n: GpuPoint, maxGapMs: number, idleUtilPct: number, sink: GpuPieceSink): void {
  const t0 = p.ts;
  const t1 = n.ts;
  const dt = t1 - t0;
  if (dt <= 0 || dt > maxGapMs) return;
  const hourTs = bucketOf(t0, HOUR_MS);
  if (hourTs + HOUR_MS < t1 || p.energyJ != null || p.activity || n.energyJ != null || n.activity) {
    for (const x of integrateGpuSegment(p, n, maxGapMs, idleUtilPct)) sink(x.hourTs, x.jobIds, x.seconds, x.energyWh, x.utilPctS, x.idle, x.counterWh, x.activity);
    return;
  }
  const mid = t0 + dt / 2;
  let e1: number | null = null;
  let e2: number | null = null;
  if (p.powerW !== null && n.powerW !== null) {
    const v0 = p.powerW;
    const slope = (n.powerW - v0) / dt;
    const va = v0 + slope * (t0 - t0);
    const vm = v0 + slope * (mid - t0);
    const vb = v0 + slope * (t1 - t0);
    e1 = (((va + vm) / 2) * (mid - t0)) / HOUR_MS;
    e2 = (((vm + vb) / 2) * (t1 - mid)) / HOUR_MS;
  }
  let u1: number | null = null;
  let u2: number | null = null;
  if (p.utilPct !== null && n.utilPct !== null) {
    const v0 = p.utilPct;
    const slope = (n.utilPct - v0) / dt;
    const va = v0 + slope * (t0 - t0);
    const vm = v0 + slope * (mid - t0);
    const vb = v0 + slope * (t1 - t0);
    u1 = (((va + vm) / 2) * (mid - t0)) / 1000;
    u2 = (((vm + vb) / 2) * (t1 - mid)) / 1000;
  }
  // The midpoint may fall in the next hour only when t1 is exactly on the boundary; bucketOf(mid) is then still hourTs.
  sink(hourTs, p.jobIds, (mid - t0) / 1000, e1, u1, p.utilPct !== null && p.utilPct < idleUtilPct, 0, null);
  sink(hourTs, n.jobIds, (t1 - mid) / 1000, e2, u2, n.utilPct !== null && n.utilPct < idleUtilPct, 0, null);
}
