/**
 * The committee's review pack for one project, and job lists. Usernames are personal data
 * (DESIGN.md): roles without per-user access see stable pseudonyms (an HMAC of the
 * username under a key kept in the database), never the names.
 */
import type { Database } from 'better-sqlite3';
import { jobsOverlapping } from '../../db/queries/gpu-hours.ts';
import { inferredEnergy } from '../../db/queries/inferred-energy.ts';
import { usageByKey } from '../../db/queries/usage.ts';
import { startedJobs, waitStats } from '../../db/queries/waits.ts';
import type { Visibility } from '../auth/middleware.ts';
import type { Config } from '../config.ts';
import { DomainError } from '../errors.ts';
import { listAllocations } from './allocation.service.ts';
import { getAttribution, hourlyShares } from './energy.service.ts';
import { keyedHash } from './keyed-hash.ts';

const DAY_MS = 86_400_000;

interface Deps {
  sqlite: Database;
  config: Config;
  now: () => number;
}

/** A stable pseudonym for a username (`user-` + 8 hex digits of a keyed hash). */
export function pseudonymiser(sqlite: Database): (username: string) => string {
  const hash = keyedHash(sqlite);
  return (username) => `user-${hash(username).slice(0, 8)}`;
}

function assertProject(sqlite: Database, project: string, vis: Visibility): void {
  if (!sqlite.prepare('SELECT 1 FROM projects WHERE name = ?').get(project)) throw new DomainError('NOT_FOUND', `no project ${project}`);
  if (vis.accounts !== null && !vis.accounts.includes(project)) throw new DomainError('FORBIDDEN', `you are not a member of project ${project}`);
}

export interface JobRow {
  jobId: string;
  project: string;
  user: string;
  partition: string | null;
  state: string;
  gpus: number;
  submitTime: string;
  startTime: string | null;
  endTime: string | null;
  waitS: number | null;
  gpuHours: number;
  /** Measured GPU energy plus energy inferred from the scheduler where samples named no job. */
  energyKWh: number;
  energyInferredKWh: number;
  idleGpuHours: number;
  meanUtilPct: number | null;
  co2Kg: number | null;
}

/**
 * Jobs that ran in the window (or are waiting), newest first: GPU-hours clipped to the
 * window, measured energy, idle GPU-hours, mean utilisation and attributed CO2.
 */
export function listJobs(deps: Deps, window: { fromTs: number; toTs: number }, vis: Visibility, filter: { project?: string; limit: number; orderBy?: 'recent' | 'idle' }): JobRow[] {
  const { sqlite } = deps;
  const nowTs = deps.now();
  if (filter.project) assertProject(sqlite, filter.project, vis);
  const rows = sqlite
    .prepare(
      `WITH e AS (
         SELECT cluster, job_id, SUM(energy_wh) AS wh, SUM(idle_gpu_s) AS idleS, SUM(util_pct_s) AS utilS, SUM(gpu_s) AS gpuS
         FROM job_hour WHERE hour_ts >= @from AND hour_ts < @to GROUP BY cluster, job_id)
       SELECT j.cluster, j.job_id AS jobId, j.account AS project, j.user, j.partition, j.state, j.gpus,
         j.submit_ts AS submitTs, j.start_ts AS startTs, j.end_ts AS endTs,
         CASE WHEN j.start_ts IS NULL THEN 0 ELSE
           j.gpus * MAX(0, MIN(COALESCE(j.end_ts, @now), @to) - MAX(j.start_ts, @from)) / 3600000.0 END AS gpuHours,
         COALESCE(e.wh, 0) / 1000.0 AS energyKWh,
         COALESCE(e.idleS, 0) / 3600.0 AS idleGpuHours,
         e.utilS / NULLIF(e.gpuS, 0) AS meanUtilPct
       FROM (SELECT * FROM ${jobsOverlapping} UNION ALL SELECT * FROM jobs WHERE state = 'PENDING' AND start_ts IS NULL) j
         LEFT JOIN e ON e.cluster = j.cluster AND e.job_id = j.job_id
       WHERE (@project IS NULL OR j.account = @project)
         AND (@accounts IS NULL OR j.account IN (SELECT value FROM json_each(@accounts)))
         AND (@users IS NULL OR j.user IN (SELECT value FROM json_each(@users)))
       ORDER BY ${filter.orderBy === 'idle' ? 'idleGpuHours DESC' : 'COALESCE(j.start_ts, j.submit_ts) DESC'} LIMIT @limit`,
    )
    .all({
      from: window.fromTs,
      to: window.toTs,
      now: nowTs,
      project: filter.project ?? null,
      accounts: vis.accounts ? JSON.stringify(vis.accounts) : null,
      // A researcher sees their own jobs only.
      users: vis.role === 'researcher' && vis.users ? JSON.stringify(vis.users) : null,
      limit: filter.limit,
    }) as Array<Omit<JobRow, 'submitTime' | 'startTime' | 'endTime' | 'waitS' | 'co2Kg' | 'energyInferredKWh'> & { cluster: string; submitTs: number; startTs: number | null; endTs: number | null }>;
  // Inferred energy per job, by hour (for its CO2) and in total.
  const inferredHours = new Map<string, Array<{ hourTs: number; kwh: number }>>();
  for (const i of inferredEnergy(sqlite, window.fromTs, window.toTs, nowTs)) {
    const key = `${i.cluster}:${i.jobId}`;
    const list = inferredHours.get(key);
    if (list) list.push({ hourTs: i.hourTs, kwh: i.energyKWh });
    else inferredHours.set(key, [{ hourTs: i.hourTs, kwh: i.energyKWh }]);
  }
  const inferred = new Map([...inferredHours].map(([key, list]) => [key, list.reduce((sum, e) => sum + e.kwh, 0)]));
  // CO2 of the listed jobs only: their energy per hour × that hour's CO2 per IT kWh.
  const shares = hourlyShares(deps, window).byHour;
  const hourly = sqlite.prepare('SELECT hour_ts AS hourTs, energy_wh / 1000.0 AS kwh FROM job_hour WHERE cluster = ? AND job_id = ? AND hour_ts >= ? AND hour_ts < ?');
  const co2Of = (cluster: string, jobId: string) => {
    const perHour = hourly.all(cluster, jobId, window.fromTs, window.toTs) as Array<{ hourTs: number; kwh: number }>;
    perHour.push(...(inferredHours.get(`${cluster}:${jobId}`) ?? []));
    if (perHour.length === 0) return null;
    return perHour.reduce((sum, e) => {
      const h = shares.get(e.hourTs);
      return sum + (h && h.itKWh > 0 ? (e.kwh / h.itKWh) * h.co2Kg : 0);
    }, 0);
  };
  const pseudo = vis.perUser ? null : pseudonymiser(sqlite);
  const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
  return rows.map(({ cluster, submitTs, startTs, endTs, ...r }) => ({
    ...r,
    energyKWh: r.energyKWh + (inferred.get(`${cluster}:${r.jobId}`) ?? 0),
    energyInferredKWh: inferred.get(`${cluster}:${r.jobId}`) ?? 0,
    user: pseudo ? pseudo(r.user) : r.user,
    submitTime: iso(submitTs)!,
    startTime: iso(startTs),
    endTime: iso(endTs),
    waitS: startTs === null ? null : (startTs - submitTs) / 1000,
    co2Kg: co2Of(cluster, r.jobId),
  }));
}

/** Everything a committee reads before deciding a renewal, for one project. */
export function getReview(deps: Deps, project: string, window: { fromTs: number; toTs: number } | null, vis: Visibility) {
  const { sqlite } = deps;
  assertProject(sqlite, project, vis);
  const nowTs = deps.now();
  const allocation = listAllocations(sqlite, nowTs, vis, project).rows.at(-1) ?? null;
  const w = window ?? (allocation ? { fromTs: Date.parse(allocation.periodStart), toTs: Math.min(nowTs, Date.parse(allocation.periodEnd)) } : { fromTs: nowTs - 30 * DAY_MS, toTs: nowTs });
  const filter = { nowTs, accounts: [project], users: null };
  const totals = usageByKey(sqlite, { ...w, ...filter, groupBy: 'project' })[0] ?? { gpuHours: 0, energyKWh: 0, measuredGpuHours: 0, idleGpuHours: 0, jobs: 0 };
  let cumulative = 0;
  const burnDown = usageByKey(sqlite, { ...w, ...filter, groupBy: 'day' }).map((d) => {
    cumulative += d.gpuHours;
    return { day: d.key, gpuHours: d.gpuHours, cumulativeGpuHours: cumulative, remainingGpuHours: allocation ? allocation.grantedGpuHours - cumulative : null };
  });
  const pseudo = vis.perUser ? (u: string) => u : pseudonymiser(sqlite);
  const users = usageByKey(sqlite, { ...w, ...filter, groupBy: 'user' }).map((u) => ({ user: pseudo(u.key), gpuHours: u.gpuHours, energyKWh: u.energyKWh, idleGpuHours: u.idleGpuHours, jobs: u.jobs }));
  const started = startedJobs(sqlite, w.fromTs, w.toTs, [project]);
  const energy = getAttribution(deps, w, 'project', { ...vis, accounts: [project] }).rows.find((r) => r.key === project) ?? null;
  return {
    project,
    from: new Date(w.fromTs).toISOString(),
    to: new Date(w.toTs).toISOString(),
    allocation,
    usage: {
      gpuHours: totals.gpuHours,
      measuredGpuHours: totals.measuredGpuHours,
      idleGpuHours: totals.idleGpuHours,
      idleShare: totals.measuredGpuHours > 0 ? totals.idleGpuHours / totals.measuredGpuHours : null,
      energyKWh: totals.energyKWh,
      energyPerGpuHourKWh: totals.measuredGpuHours > 0 ? totals.energyKWh / totals.measuredGpuHours : null,
      jobs: totals.jobs,
    },
    burnDown,
    waits: waitStats(started.map((j) => (j.startTs - j.submitTs) / 1000)),
    energy,
    users,
    wastefulJobs: listJobs(deps, w, vis, { project, limit: 10, orderBy: 'idle' }).filter((j) => j.idleGpuHours > 0),
  };
}

/** The review pack's JSON shape. */
export type Review = ReturnType<typeof getReview>;

/** The review pack as CSV: one `section,key,field,value` line per figure. */
export function reviewCsv(review: ReturnType<typeof getReview>): string {
  const lines = ['section,key,field,value'];
  const cell = (v: unknown) => {
    const s = v === null || v === undefined ? '' : String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const put = (section: string, key: string, obj: Record<string, unknown> | null) => {
    for (const [field, value] of Object.entries(obj ?? {})) {
      if (typeof value === 'object' && value !== null) continue;
      lines.push([section, key, field, value].map(cell).join(','));
    }
  };
  put('project', review.project, { from: review.from, to: review.to });
  put('allocation', review.project, review.allocation as unknown as Record<string, unknown>);
  put('usage', review.project, review.usage);
  put('waits', review.project, review.waits);
  put('energy', review.project, review.energy as unknown as Record<string, unknown>);
  for (const d of review.burnDown) put('burn-down', d.day, d);
  for (const u of review.users) put('user', u.user, u);
  for (const j of review.wastefulJobs) put('wasteful-job', j.jobId, j as unknown as Record<string, unknown>);
  return `${lines.join('\n')}\n`;
}
