/**
 * One job's efficiency report (issue 19 point 2): what it was given and what it used, per
 * GPU and in all, what it cost (GPU-hours, energy, CO2, heat sent to district heating) and
 * plain-language flags. Per-GPU figures come from job_gpu (folded on ingest, kept after the
 * raw samples are purged); energy and its shares from the attribution over the job's run.
 */
import type { Database } from 'better-sqlite3';
import { jobsDcgm } from '../../db/queries/dcgm-activity.ts';
import { JOB_RECORD_SQL, type ListedJob } from '../../db/queries/job-list.ts';
import type { Visibility } from '../auth/middleware.ts';
import type { Config } from '../config.ts';
import { DomainError } from '../errors.ts';
import { efficiencyFlags, type Flag } from './efficiency-flags.ts';
import { jobFigures, windowAttribution } from './energy.service.ts';
import { listedRow, pseudonymiser, type JobRow } from './review.service.ts';

export interface GpuRow {
  uuid: string;
  node: string;
  index: number;
  model: string | null;
  gpuHours: number;
  idleShare: number | null;
  meanUtilPct: number | null;
  peakUtilPct: number | null;
  peakMemMiB: number | null;
  memTotalMiB: number | null;
}

export interface JobReport {
  cluster: string;
  job: JobRow;
  gpuModel: string | null;
  durationS: number | null;
  peakUtilPct: number | null;
  /** The highest peak of GPU memory against that GPU's memory (0–1). */
  peakMemShare: number | null;
  perGpu: GpuRow[];
  flags: Flag[];
}

/** The report of `cluster`/`jobId`; NOT_FOUND for a job that does not exist or that the caller may not see. */
export function jobReport(deps: { sqlite: Database; config: Config; now: () => number }, cluster: string, jobId: string, vis: Visibility): JobReport {
  const { sqlite } = deps;
  const j = sqlite.prepare(`${JOB_RECORD_SQL} WHERE cluster = ? AND job_id = ?`).get(cluster, jobId) as ListedJob | undefined;
  const visible = j && (vis.accounts === null || vis.accounts.includes(j.project)) && (vis.users === null || vis.users.includes(j.user));
  if (!j || !visible) throw new DomainError('NOT_FOUND', `no job ${jobId} on ${cluster} that you may see`);
  const nowTs = deps.now();
  const fromTs = j.startTs ?? j.submitTs;
  const [report] = reportsOf(sqlite, [j], { fromTs, toTs: Math.max(fromTs + 1, j.endTs ?? nowTs) }, nowTs);
  return vis.perUser ? report! : { ...report!, job: { ...report!.job, user: pseudonymiser(sqlite)(report!.job.user) } };
}

/**
 * The reports of `jobs` over one window (their figures clipped to it; per-GPU figures and
 * flags over each whole job), with real user names: the caller decides who may see them.
 */
export function reportsOf(sqlite: Database, jobs: ListedJob[], window: { fromTs: number; toTs: number }, nowTs: number): JobReport[] {
  if (jobs.length === 0) return [];
  const w = windowAttribution(sqlite, window, nowTs);
  const figures = jobFigures(sqlite, w)(jobs);
  const dcgm = jobsDcgm(sqlite, jobs, window);
  const rows = sqlite
    .prepare(
      `SELECT p.key AS i, g.uuid, n.name AS node, g.gpu_index AS idx, g.model, g.mem_total_mib AS memTotalMiB, x.gpu_s AS gpuS, x.idle_s AS idleS,
         x.util_pct_s AS utilPctS, x.util_s AS utilS, x.util_peak_pct AS peakUtil, x.mem_peak_mib AS peakMem
       FROM json_each(@page) p JOIN job_gpu x ON x.cluster = p.value ->> 0 AND x.job_id = p.value ->> 1
       JOIN gpus g ON g.id = x.gpu_id JOIN nodes n ON n.id = g.node_id
       ORDER BY p.key, n.name, g.gpu_index`,
    )
    .all({ page: JSON.stringify(jobs.map((j) => [j.cluster, j.jobId])) }) as Array<{ i: number; uuid: string; node: string; idx: number; model: string | null; memTotalMiB: number | null; gpuS: number; idleS: number; utilPctS: number; utilS: number; peakUtil: number | null; peakMem: number | null }>;
  const perGpuOf = jobs.map((): GpuRow[] => []);
  for (const g of rows) {
    perGpuOf[g.i]!.push({
      uuid: g.uuid,
      node: g.node,
      index: g.idx,
      model: g.model,
      gpuHours: g.gpuS / 3600,
      idleShare: g.gpuS > 0 ? g.idleS / g.gpuS : null,
      meanUtilPct: g.utilS > 0 ? g.utilPctS / g.utilS : null,
      peakUtilPct: g.peakUtil,
      peakMemMiB: g.peakMem,
      memTotalMiB: g.memTotalMiB,
    });
  }
  return jobs.map((j, i) => {
    const row = listedRow(j, figures[i]!, dcgm[i] ?? null, w);
    const perGpu = perGpuOf[i]!;
    const peaks = perGpu.filter((g) => g.peakUtilPct !== null).map((g) => g.peakUtilPct!);
    const memShares = perGpu.filter((g) => g.peakMemMiB !== null && g.memTotalMiB).map((g) => g.peakMemMiB! / g.memTotalMiB!);
    const flags = j.endTs === null ? [] : efficiencyFlags({ gpus: j.gpus, perGpu, meanUtilPct: row.meanUtilPct, smActivePct: dcgm[i]?.smActivePct ?? null, sampled: perGpu.length > 0 });
    return {
      cluster: j.cluster,
      job: row,
      gpuModel: perGpu.find((g) => g.model)?.model ?? null,
      durationS: j.startTs === null ? null : ((j.endTs ?? nowTs) - j.startTs) / 1000,
      peakUtilPct: peaks.length > 0 ? Math.max(...peaks) : null,
      peakMemShare: memShares.length > 0 ? Math.max(...memShares) : null,
      perGpu,
      flags,
    };
  });
}

const hm = (s: number) => `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
const f = (v: number | null, digits = 1) => (v === null ? '–' : v.toFixed(digits));

/** The report as the CLI prints it (English). */
export function jobReportText(r: JobReport): string {
  const j = r.job;
  const lines = [
    `Job ${j.jobId} (cluster ${r.cluster}) · project ${j.project} · user ${j.user} · partition ${j.partition ?? '–'} · ${j.state}`,
    j.startTime
      ? `Ran ${j.startTime.slice(0, 16).replace('T', ' ')} → ${j.endTime ? j.endTime.slice(0, 16).replace('T', ' ') : 'now'} UTC (${hm(r.durationS ?? 0)}) after waiting ${hm(j.waitS ?? 0)}, on ${j.gpus} × ${r.gpuModel ?? 'GPU'}`
      : `Waiting since ${j.submitTime.slice(0, 16).replace('T', ' ')} UTC`,
    `GPU-hours ${f(j.gpuHours, 2)} · idle GPU-hours ${f(j.idleGpuHours, 2)} · mean GPU use ${f(j.meanUtilPct, 0)} % · peak ${f(r.peakUtilPct, 0)} %`,
    `GPU memory peak ${r.peakMemShare === null ? '–' : `${Math.round(100 * r.peakMemShare)} % of the GPU's`}`,
  ];
  if (j.dcgm) {
    const d = j.dcgm;
    lines.push(`GPU activity (DCGM): SM ${f(d.smActivePct, 0)} % · tensor ${f(d.tensorActivePct, 0)} % · DRAM ${f(d.dramActivePct, 0)} %`);
  }
  lines.push(`Energy ${f(j.energyKWh, 2)} kWh · CO2 ${f(j.co2Kg, 2)} kg · heat to district heating ${f(j.reusedHeatKWh, 2)} kWh`);
  if (r.perGpu.length > 0) {
    lines.push('Per GPU:');
    for (const g of r.perGpu) {
      lines.push(`  ${g.node} GPU ${g.index}: ${f(g.gpuHours, 2)} GPU-h, idle ${g.idleShare === null ? '–' : Math.round(100 * g.idleShare)} %, mean ${f(g.meanUtilPct, 0)} %, peak ${f(g.peakUtilPct, 0)} %, memory peak ${g.peakMemMiB === null ? '–' : `${Math.round(g.peakMemMiB)} MiB`}${g.memTotalMiB ? ` of ${Math.round(g.memTotalMiB)} MiB` : ''}`);
    }
  }
  lines.push(r.flags.length === 0 ? (j.endTime ? 'No flags: the job used what it asked for.' : 'Flags come when the job has ended.') : 'Flags:');
  for (const flag of r.flags) lines.push(`  - ${flag.message}`);
  return `${lines.join('\n')}\n`;
}
