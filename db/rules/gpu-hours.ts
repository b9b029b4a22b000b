/**
 * GPU-hours charged for a run (DESIGN.md, accounting rules): allocated GPUs × running time,
 * clipped to the window asked about, as Slurm's sreport and XDMoD charge. A running job
 * is charged up to now: its run ends at now. Pure functions, no database; the usage query
 * sums the same rule in SQL over many jobs (`gpuMsSql`), and gpu-hours.test.ts checks
 * that copy against `gpuSeconds`.
 */
import { DAY_MS, bucketOf } from './time.ts';

/** A run of `gpus` allocated GPUs over [startTs, endTs), epoch ms. */
export interface GpuRun {
  startTs: number;
  endTs: number;
  gpus: number;
}

/** A window [fromTs, toTs), epoch ms. */
export interface Window {
  fromTs: number;
  toTs: number;
}

const ALL_TIME: Window = { fromTs: -Infinity, toTs: Infinity };

/** Milliseconds of [startTs, endTs) inside [fromTs, toTs); 0 when they do not overlap (or the run goes backwards). */
export function clippedMs(run: Pick<GpuRun, 'startTs' | 'endTs'>, window: Window = ALL_TIME): number {
  return Math.max(0, Math.min(run.endTs, window.toTs) - Math.max(run.startTs, window.fromTs));
}

/**
 * Allocated GPU-seconds of a run inside the window (the whole run without one). GPUs ×
 * milliseconds first, then one division: exact to the last bit of the SQL copy.
 */
export function gpuSeconds(run: GpuRun, window: Window = ALL_TIME): number {
  return (run.gpus * clippedMs(run, window)) / 1000;
}

/** Allocated GPU-hours of a run inside the window (the whole run without one). */
export function gpuHours(run: GpuRun, window: Window = ALL_TIME): number {
  return gpuSeconds(run, window) / 3600;
}

/**
 * A run's allocated GPU-seconds per UTC day it ran some time in (split at midnights, as
 * sreport and XDMoD charge each day), keyed by the day's start; days in ascending order.
 */
export function gpuSecondsByDay(run: GpuRun): Map<number, number> {
  const out = new Map<number, number>();
  for (let day = bucketOf(run.startTs, DAY_MS); day < run.endTs; day += DAY_MS) {
    const ms = clippedMs(run, { fromTs: day, toTs: day + DAY_MS });
    if (ms > 0) out.set(day, (run.gpus * ms) / 1000);
  }
  return out;
}

/**
 * The same rule as an SQL expression, in GPU-milliseconds (sum them, then divide by
 * 1000.0, as `gpuSeconds` does per run): each argument is a column, parameter or
 * expression; `toTs` left out when the run's end already lies inside the window.
 */
export function gpuMsSql(a: { gpus: string; startTs: string; endTs: string; fromTs: string; toTs?: string }): string {
  const end = a.toTs === undefined ? a.endTs : `MIN(${a.endTs}, ${a.toTs})`;
  return `${a.gpus} * MAX(0, ${end} - MAX(${a.startTs}, ${a.fromTs}))`;
}
