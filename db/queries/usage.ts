/**
 * GPU-hours and energy by project, user, partition or day (the `/api/v1/usage` query).
 *
 * - gpuHours: allocated GPUs × running time clipped to [from, to) (as sreport and XDMoD
 *   charge), from job records; a running job counts up to `now`.
 * - energyKWh: measured GPU energy of the jobs' GPUs, from the per-job-hour rollup. It is
 *   resolved to whole hours: an hour counts when it starts inside the window, so the
 *   figure is exact for hour-aligned windows.
 *   It includes energy inferred from the scheduler's records where samples named no job
 *   (db/queries/inferred-energy.ts), shown apart as `energyInferredKWh`.
 * - measuredGpuHours / idleGpuHours: GPU time with samples, and the part of it below the
 *   idle utilisation threshold; `energyCoverage` = measured ÷ allocated GPU-hours (capped
 *   at 1), the share of the charged time whose energy was measured.
 */
import type { Database } from 'better-sqlite3';
import { jobsOverlapping } from './gpu-hours.ts';
import { inferredEnergy } from './inferred-energy.ts';

export type UsageGroup = 'project' | 'user' | 'partition' | 'day';

export interface UsageFilter {
  fromTs: number;
  toTs: number;
  nowTs: number;
  groupBy: UsageGroup;
  /** Only these accounts (null: all). */
  accounts: string[] | null;
  /** Only these users (null: all). */
  users: string[] | null;
}

export interface UsageRow {
  key: string;
  gpuHours: number;
  energyKWh: number;
  energyInferredKWh: number;
  energyCoverage: number | null;
  energyProvenance: 'integrated' | 'integrated+inferred' | null;
  measuredGpuHours: number;
  idleGpuHours: number;
  jobs: number;
}

const keyColumn: Record<Exclude<UsageGroup, 'day'>, string> = {
  project: 'j.account',
  user: 'j.user',
  partition: "COALESCE(j.partition, '(none)')",
};

const DAY_MS = 86_400_000;

/** Runs the usage query; rows sorted by GPU-hours, largest first. */
export function usageByKey(sqlite: Database, f: UsageFilter): UsageRow[] {
  const where: string[] = [];
  const params: Record<string, unknown> = { from: f.fromTs, to: f.toTs, now: f.nowTs };
  if (f.accounts) {
    where.push(`j.account IN (SELECT value FROM json_each(@accounts))`);
    params.accounts = JSON.stringify(f.accounts);
  }
  if (f.users) {
    where.push(`j.user IN (SELECT value FROM json_each(@users))`);
    params.users = JSON.stringify(f.users);
  }
  const extra = where.length ? `AND ${where.join(' AND ')}` : '';
  const rows = new Map<string, UsageRow>();
  const row = (key: string) => {
    let r = rows.get(key);
    if (!r) rows.set(key, (r = { key, gpuHours: 0, energyKWh: 0, energyInferredKWh: 0, energyCoverage: null, energyProvenance: null, measuredGpuHours: 0, idleGpuHours: 0, jobs: 0 }));
    return r;
  };

  // Jobs that ran inside the window (start < to, and still running or ended after from),
  // narrowed to what the caller may see.
  const running = `1 = 1 ${extra}`;
  if (f.groupBy === 'day') {
    const jobs = sqlite
      .prepare(`SELECT j.start_ts AS s, COALESCE(j.end_ts, @now) AS e, j.gpus AS g FROM ${jobsOverlapping} j WHERE ${running}`)
      .all(params) as Array<{ s: number; e: number; g: number }>;
    for (const job of jobs) {
      const s = Math.max(job.s, f.fromTs);
      const e = Math.min(job.e, f.toTs);
      for (let day = Math.floor(s / DAY_MS) * DAY_MS; day < e; day += DAY_MS) {
        const overlap = Math.min(e, day + DAY_MS) - Math.max(s, day);
        if (overlap <= 0) continue;
        const r = row(new Date(day).toISOString().slice(0, 10));
        r.gpuHours += (job.g * overlap) / 3_600_000;
        r.jobs++;
      }
    }
  } else {
    const key = keyColumn[f.groupBy];
    const agg = sqlite
      .prepare(
        `SELECT ${key} AS key, COUNT(*) AS jobs,
           SUM(j.gpus * (MIN(COALESCE(j.end_ts, @now), @to) - MAX(j.start_ts, @from))) / 3600000.0 AS gpuHours
         FROM ${jobsOverlapping} j WHERE ${running} GROUP BY 1`,
      )
      .all(params) as Array<{ key: string; jobs: number; gpuHours: number }>;
    for (const a of agg) Object.assign(row(a.key), { jobs: a.jobs, gpuHours: Math.max(0, a.gpuHours) });
  }

  // Summed per job (and day) first, then joined with the jobs: a fifth of the lookups of
  // joining every job-hour row.
  const dayOf = "strftime('%Y-%m-%d', hour_ts / 1000, 'unixepoch')";
  const energyKey = f.groupBy === 'day' ? 'h.day' : keyColumn[f.groupBy];
  const energy = sqlite
    .prepare(
      `SELECT ${energyKey} AS key, SUM(h.wh) / 1000.0 AS energyKWh, SUM(h.gpuS) / 3600.0 AS measured, SUM(h.idleS) / 3600.0 AS idle
       FROM (SELECT cluster, job_id, ${f.groupBy === 'day' ? dayOf : "''"} AS day,
               SUM(energy_wh) AS wh, SUM(gpu_s) AS gpuS, SUM(idle_gpu_s) AS idleS
             FROM job_hour WHERE hour_ts >= @from AND hour_ts < @to GROUP BY cluster, job_id, day) h
         JOIN jobs j ON j.cluster = h.cluster AND j.job_id = h.job_id
       WHERE 1 = 1 ${extra} GROUP BY 1`,
    )
    .all(params) as Array<{ key: string; energyKWh: number; measured: number; idle: number }>;
  for (const e of energy) Object.assign(row(e.key), { energyKWh: e.energyKWh, measuredGpuHours: e.measured, idleGpuHours: e.idle });

  const inferred = inferredEnergy(sqlite, f.fromTs, f.toTs, f.nowTs);
  if (inferred.length > 0) {
    const meta = sqlite.prepare(`SELECT ${f.groupBy === 'day' ? "'' " : keyColumn[f.groupBy]} AS key, j.account, j.user FROM jobs j WHERE j.cluster = ? AND j.job_id = ?`);
    for (const i of inferred) {
      const m = meta.get(i.cluster, i.jobId) as { key: string; account: string; user: string } | undefined;
      if (!m || (f.accounts && !f.accounts.includes(m.account)) || (f.users && !f.users.includes(m.user))) continue;
      const r = row(f.groupBy === 'day' ? new Date(i.hourTs).toISOString().slice(0, 10) : m.key);
      r.energyKWh += i.energyKWh;
      r.energyInferredKWh += i.energyKWh;
    }
  }
  for (const r of rows.values()) {
    r.energyCoverage = r.gpuHours > 0 ? Math.min(1, r.measuredGpuHours / r.gpuHours) : null;
    r.energyProvenance = r.energyKWh === 0 && r.measuredGpuHours === 0 ? null : r.energyInferredKWh > 0 ? 'integrated+inferred' : 'integrated';
  }

  const out = [...rows.values()];
  return f.groupBy === 'day' ? out.sort((a, b) => a.key.localeCompare(b.key)) : out.sort((a, b) => b.gpuHours - a.gpuHours || a.key.localeCompare(b.key));
}
