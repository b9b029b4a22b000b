/**
 * Plain-language efficiency flags for one ended job (issue 19: what `seff` and jobstats
 * tell CPU users, for GPUs). Pure: the report (job-report.service.ts) gives the figures.
 * Each flag has a code, its figures and an English sentence; the dashboard words it in the
 * reader's language from the code and figures.
 */

export interface GpuFigures {
  /** Share of the job's time on this GPU below the idle threshold (0–1), null without samples. */
  idleShare: number | null;
  meanUtilPct: number | null;
  peakMemMiB: number | null;
  memTotalMiB: number | null;
}

export interface FlagInput {
  gpus: number;
  perGpu: GpuFigures[];
  meanUtilPct: number | null;
  smActivePct: number | null;
  /** Whether any GPU sample named the job. */
  sampled: boolean;
}

export type Flag =
  | { code: 'idle-gpus'; idle: number; of: number; idlePct: number; ask: number; message: string }
  | { code: 'all-idle'; of: number; idlePct: number; message: string }
  | { code: 'low-memory'; peakPct: number; memTotalGB: number; message: string }
  | { code: 'low-utilisation'; meanUtilPct: number; message: string }
  | { code: 'low-sm-activity'; smActivePct: number; meanUtilPct: number; message: string }
  | { code: 'no-samples'; message: string };

/** A GPU idle this share of the job or more counts as idle for the job. */
export const IDLE_GPU_SHARE = 0.8;
/** Peak GPU memory below this share of the GPU's: a smaller GPU or a MIG slice fits. */
export const LOW_MEMORY_SHARE = 0.25;
/** Mean utilisation below this (%) on the GPUs that were not idle: the job waits on something else. */
export const LOW_UTIL_PCT = 40;
/** SM activity below this (%) while utilisation says busy (≥ 50 %): kernels keep few SMs busy. */
export const LOW_SM_PCT = 25;

const round = (v: number) => Math.round(v);

/** The flags a job earns, most costly first. */
export function efficiencyFlags(f: FlagInput): Flag[] {
  const flags: Flag[] = [];
  if (f.gpus > 0 && !f.sampled) {
    flags.push({ code: 'no-samples', message: 'No GPU sample named this job: its energy is inferred from its node, and its GPU use is unknown' });
    return flags;
  }
  const known = f.perGpu.filter((g) => g.idleShare !== null);
  const idle = known.filter((g) => g.idleShare! >= IDLE_GPU_SHARE);
  const of = Math.max(f.gpus, known.length);
  if (idle.length > 0 && idle.length === of) {
    const idlePct = round(100 * Math.min(...idle.map((g) => g.idleShare!)));
    flags.push({ code: 'all-idle', of, idlePct, message: `${of === 1 ? 'The GPU was' : `All ${of} GPUs were`} idle for ${idlePct} % of the job: check that the job uses the GPU at all` });
  } else if (idle.length > 0) {
    const idlePct = round(100 * Math.min(...idle.map((g) => g.idleShare!)));
    const ask = of - idle.length;
    flags.push({ code: 'idle-gpus', idle: idle.length, of, idlePct, ask, message: `${idle.length} of ${of} GPUs were idle for ${idlePct} % of the job: ask for ${ask} GPU${ask === 1 ? '' : 's'}` });
  }
  const mem = f.perGpu.filter((g) => g.peakMemMiB !== null && g.memTotalMiB !== null && g.memTotalMiB > 0);
  if (mem.length > 0) {
    const peak = Math.max(...mem.map((g) => g.peakMemMiB! / g.memTotalMiB!));
    if (peak < LOW_MEMORY_SHARE) {
      // In GiB, as nvidia-smi's MiB are (an H200's 143,771 MiB is 140 GB here).
      const memTotalGB = Math.round(Math.max(...mem.map((g) => g.memTotalMiB!)) / 1024);
      const peakPct = round(100 * peak);
      flags.push({ code: 'low-memory', peakPct, memTotalGB, message: `GPU memory peaked at ${peakPct} % of ${memTotalGB} GB: a smaller GPU or a MIG slice fits` });
    }
  }
  // Utilisation of the GPUs the job did use: idle ones are flagged above already.
  const busy = known.filter((g) => g.idleShare! < IDLE_GPU_SHARE && g.meanUtilPct !== null);
  const busyMean = known.length > 0 ? (busy.length > 0 ? busy.reduce((a, g) => a + g.meanUtilPct!, 0) / busy.length : null) : f.meanUtilPct;
  if (busyMean !== null && busyMean < LOW_UTIL_PCT) {
    const meanUtilPct = round(busyMean);
    flags.push({ code: 'low-utilisation', meanUtilPct, message: `The GPUs were busy ${meanUtilPct} % of the time on average: the job may wait on data loading or the CPU` });
  }
  if (f.smActivePct !== null && f.meanUtilPct !== null && f.meanUtilPct >= 50 && f.smActivePct < LOW_SM_PCT) {
    const smActivePct = round(f.smActivePct);
    const meanUtilPct = round(f.meanUtilPct);
    flags.push({ code: 'low-sm-activity', smActivePct, meanUtilPct, message: `SM activity was ${smActivePct} % while the GPUs looked busy (${meanUtilPct} %): the kernels keep few SMs busy; larger batches may help` });
  }
  return flags;
}
