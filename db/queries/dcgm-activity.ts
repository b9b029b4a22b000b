/**
 * What a DCGM source adds to a job's or a project's figures: its GPUs' profiling activity
 * (SM, tensor pipe, graphics engine, DRAM) beside utilisation, and how much of the energy
 * its GPUs' energy counters measured rather than integrated power.
 *
 * Read from the job-hours a DCGM source covered (the partial indexes job_hour_dcgm_*, empty
 * at a site without one, so these reads cost nothing there), over the hours the window
 * touches: activities are means, so a window that cuts an hour takes that hour's mean.
 */
import type { Database } from 'better-sqlite3';
import { HOUR_MS, bucketOf } from '../rules/time.ts';

/** Mean activities in % of the GPU-time they were known (null: not given), and the energy's provenance. */
export interface DcgmFigures {
  smActivePct: number | null;
  tensorActivePct: number | null;
  grEngineActivePct: number | null;
  dramActivePct: number | null;
  /** GPU-hours a profiling activity was known for. */
  profiledGpuHours: number;
  /** Of the energy measured in the hours a DCGM source covered, the part its energy counters measured (kWh) and that part's share. */
  counterKWh: number;
  counterShare: number | null;
}

/** The partial indexes' condition, written as they are (SQLite uses a partial index only for a query that says it). */
const DCGM_ROW = 'h.counter_wh + h.sm_s + h.tensor_s + h.gr_s + h.dram_s > 0';
const SUMS = `TOTAL(h.counter_wh) AS counterWh, TOTAL(h.energy_wh) AS energyWh,
  TOTAL(h.sm_active_s) AS smA, TOTAL(h.sm_s) AS smS, TOTAL(h.tensor_active_s) AS tensorA, TOTAL(h.tensor_s) AS tensorS,
  TOTAL(h.gr_active_s) AS grA, TOTAL(h.gr_s) AS grS, TOTAL(h.dram_active_s) AS dramA, TOTAL(h.dram_s) AS dramS`;

interface Sums {
  counterWh: number;
  energyWh: number;
  smA: number;
  smS: number;
  tensorA: number;
  tensorS: number;
  grA: number;
  grS: number;
  dramA: number;
  dramS: number;
}

/** A mean in % where it was known for at least a millisecond of GPU-time (late-sample arithmetic leaves crumbs). */
const pct = (active: number, seconds: number) => (seconds > 1e-3 ? (100 * active) / seconds : null);

function figures(s: Sums | undefined): DcgmFigures | null {
  if (!s || (s.counterWh <= 0 && s.smS + s.tensorS + s.grS + s.dramS <= 1e-3)) return null;
  return {
    smActivePct: pct(s.smA, s.smS),
    tensorActivePct: pct(s.tensorA, s.tensorS),
    grEngineActivePct: pct(s.grA, s.grS),
    dramActivePct: pct(s.dramA, s.dramS),
    profiledGpuHours: Math.max(s.smS, s.tensorS, s.grS, s.dramS) / 3600,
    counterKWh: s.counterWh / 1000,
    counterShare: s.energyWh > 0 ? Math.min(1, s.counterWh / s.energyWh) : null,
  };
}

const hoursOf = (w: { fromTs: number; toTs: number }) => ({ from: bucketOf(w.fromTs, HOUR_MS), to: w.toTs });

/** Each job's DCGM figures over the hours [fromTs, toTs) touches, in the order given (null: no DCGM source covered it). */
export function jobsDcgm(sqlite: Database, jobs: Array<{ cluster: string; jobId: string }>, w: { fromTs: number; toTs: number }): Array<DcgmFigures | null> {
  if (jobs.length === 0) return [];
  const rows = sqlite
    .prepare(
      `SELECT p.key AS i, ${SUMS} FROM json_each(@page) p
       JOIN job_hour h INDEXED BY job_hour_dcgm_job ON h.cluster = p.value ->> 0 AND h.job_id = p.value ->> 1
       WHERE h.hour_ts >= @from AND h.hour_ts < @to AND ${DCGM_ROW}
       GROUP BY p.key`,
    )
    .all({ page: JSON.stringify(jobs.map((j) => [j.cluster, j.jobId])), ...hoursOf(w) }) as Array<Sums & { i: number }>;
  const out: Array<DcgmFigures | null> = jobs.map(() => null);
  for (const r of rows) out[r.i] = figures(r);
  return out;
}

/** A project's (Slurm account's) DCGM figures over the hours [fromTs, toTs) touches, or null. */
export function projectDcgm(sqlite: Database, project: string, w: { fromTs: number; toTs: number }): DcgmFigures | null {
  const row = sqlite
    .prepare(
      `SELECT ${SUMS} FROM job_hour h INDEXED BY job_hour_dcgm_hour
       JOIN jobs j ON j.cluster = h.cluster AND j.job_id = h.job_id
       WHERE h.hour_ts >= @from AND h.hour_ts < @to AND ${DCGM_ROW} AND j.account = @project`,
    )
    .get({ project, ...hoursOf(w) }) as Sums | undefined;
  return figures(row);
}
