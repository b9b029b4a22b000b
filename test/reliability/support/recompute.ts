/**
 * An independent recomputation of the GPU energy rollups from raw samples, written
 * from the accounting rules (DESIGN.md) without the server's code: power varies linearly
 * between consecutive samples of a GPU (trapezoid), segments longer than the gap bound
 * are not bridged, the first half of a segment belongs to the earlier sample's jobs and
 * the second half to the later one's (shared equally), and energy falls into UTC hours.
 */
import type Database from 'better-sqlite3';

const HOUR = 3_600_000;

export interface Recomputed {
  /** Wh by `${hourTs}|${gpuId}`. */
  gpuHour: Map<string, number>;
  /** Wh by `${hourTs}|${jobId}`. */
  jobHour: Map<string, number>;
}

/** Energy (Wh) of the linear segment (t0,v0)→(t1,v1) restricted to [a,b]. */
function energyWh(t0: number, v0: number, t1: number, v1: number, a: number, b: number): number {
  const at = (t: number) => v0 + ((v1 - v0) * (t - t0)) / (t1 - t0);
  return (((at(a) + at(b)) / 2) * (b - a)) / HOUR;
}

/** Adds the energy of [a,b] of a segment to each hour it touches. */
function addByHour(out: Map<string, number>, suffix: string, share: number, seg: [number, number, number, number], a: number, b: number): void {
  for (let h = Math.floor(a / HOUR) * HOUR; h < b; h += HOUR) {
    const lo = Math.max(a, h);
    const hi = Math.min(b, h + HOUR);
    if (hi <= lo) continue;
    const key = `${h}|${suffix}`;
    out.set(key, (out.get(key) ?? 0) + energyWh(...seg, lo, hi) / share);
  }
}

/** Recomputes per-GPU-hour and per-job-hour energy from gpu_samples. */
export function recomputeFromRaw(sqlite: Database.Database, maxGapS = 300): Recomputed {
  const rows = sqlite
    .prepare('SELECT gpu_id AS gpu, ts, power_w AS p, job_ids AS jobs FROM gpu_samples ORDER BY gpu_id, ts')
    .all() as Array<{ gpu: number; ts: number; p: number | null; jobs: string | null }>;
  const gpuHour = new Map<string, number>();
  const jobHour = new Map<string, number>();
  for (let i = 1; i < rows.length; i++) {
    const p = rows[i - 1]!;
    const n = rows[i]!;
    if (p.gpu !== n.gpu || p.p === null || n.p === null) continue;
    const dt = n.ts - p.ts;
    if (dt <= 0 || dt > maxGapS * 1000) continue;
    const seg: [number, number, number, number] = [p.ts, p.p, n.ts, n.p];
    const mid = p.ts + dt / 2;
    addByHour(gpuHour, String(p.gpu), 1, seg, p.ts, n.ts);
    const pj = p.jobs ? (JSON.parse(p.jobs) as string[]) : [];
    const nj = n.jobs ? (JSON.parse(n.jobs) as string[]) : [];
    for (const j of pj) addByHour(jobHour, j, pj.length, seg, p.ts, mid);
    for (const j of nj) addByHour(jobHour, j, nj.length, seg, mid, n.ts);
  }
  return { gpuHour, jobHour };
}

/** The stored rollups in the same shape (rows with zero energy left out). */
export function storedRollups(sqlite: Database.Database): Recomputed {
  const gpuHour = new Map<string, number>();
  const jobHour = new Map<string, number>();
  for (const r of sqlite.prepare('SELECT hour_ts AS h, gpu_id AS g, energy_wh AS e FROM gpu_hour').all() as Array<{ h: number; g: number; e: number }>) {
    if (Math.abs(r.e) > 1e-9) gpuHour.set(`${r.h}|${r.g}`, r.e);
  }
  for (const r of sqlite.prepare('SELECT hour_ts AS h, job_id AS j, energy_wh AS e FROM job_hour').all() as Array<{ h: number; j: string; e: number }>) {
    if (Math.abs(r.e) > 1e-9) jobHour.set(`${r.h}|${r.j}`, r.e);
  }
  return { gpuHour, jobHour };
}

/** Differences beyond a relative 1e-9 (absolute 1e-6 Wh) between two rollup maps; [] when equal. */
export function rollupDifferences(a: Map<string, number>, b: Map<string, number>): string[] {
  const out: string[] = [];
  for (const key of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(key) ?? 0;
    const y = b.get(key) ?? 0;
    if (Math.abs(x - y) > Math.max(1e-6, 1e-9 * Math.abs(y))) out.push(`${key}: ${x} vs ${y}`);
  }
  return out;
}
