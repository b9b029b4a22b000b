/**
 * The committee's review pack for one project, and job lists. Usernames are personal data
 * (DESIGN.md): roles without per-user access see stable pseudonyms (an HMAC of the
 * username under a key kept in the database), never the names; a researcher sees their
 * own rows only, their colleagues' figures summed.
 */
import type { Database } from 'better-sqlite3';
import { jobsDcgm, projectDcgm, type DcgmFigures } from '../../db/queries/dcgm-activity.ts';
import { JOB_RECORD_SQL, jobListPage, type ListedJob } from '../../db/queries/job-list.ts';
import { usageByKey, type UsageRow } from '../../db/queries/usage.ts';
import type { Visibility } from '../auth/middleware.ts';
import type { Config } from '../config.ts';
import { csvLine } from '../csv.ts';
import { DomainError } from '../errors.ts';
import { listAllocations } from './allocation.service.ts';
import { encodeCursor, jobFigures, jobsInOrder, projectAttribution, windowAttribution, type JobCursor, type WindowAttribution } from './energy.service.ts';
import { gpuHours } from '../../db/rules/gpu-hours.ts';
import { keyedHash } from '../../db/rules/keyed-hash.ts';
import { DAY_MS } from '../../db/rules/time.ts';
import { projectWaits } from './waits.service.ts';

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

/**
 * Refuses a project the caller may not read. Membership is judged first: a caller limited
 * to their projects gets the same answer for a project that does not exist as for someone
 * else's, so that project names cannot be probed (allocation.service.ts answers alike).
 */
function assertProject(sqlite: Database, project: string, vis: Visibility): void {
  if (vis.accounts !== null && !vis.accounts.includes(project)) throw new DomainError('FORBIDDEN', `you are not a member of project ${project}`);
  if (!sqlite.prepare('SELECT 1 FROM projects WHERE name = ?').get(project)) throw new DomainError('NOT_FOUND', `no project ${project}`);
}

/** The row under which a researcher's review pack sums their colleagues' figures. */
export const OTHER_MEMBERS = '(other members)';

export interface JobRow {
  cluster: string;
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
  /** Where a DCGM source gave them: the job's GPU activity beside utilisation, and its energy's provenance. */
  dcgm: DcgmFigures | null;
  /** The job's share of the facility's CO2 and reused heat in its hours (null: no energy in the window). */
  co2Kg: number | null;
  reusedHeatKWh: number | null;
}

export const listedRow = (j: ListedJob, figures: ReturnType<ReturnType<typeof jobFigures>>[number], dcgm: DcgmFigures | null, w: { fromTs: number; toTs: number; nowTs: number }): JobRow => ({
  cluster: j.cluster,
  jobId: j.jobId,
  project: j.project,
  user: j.user,
  partition: j.partition,
  state: j.state,
  gpus: j.gpus,
  submitTime: new Date(j.submitTs).toISOString(),
  startTime: j.startTs === null ? null : new Date(j.startTs).toISOString(),
  endTime: j.endTs === null ? null : new Date(j.endTs).toISOString(),
  waitS: j.startTs === null ? null : (j.startTs - j.submitTs) / 1000,
  gpuHours: j.startTs === null ? 0 : gpuHours({ gpus: j.gpus, startTs: j.startTs, endTs: j.endTs ?? w.nowTs }, w),
  energyKWh: figures?.energyKWh ?? 0,
  energyInferredKWh: figures?.inferredKWh ?? 0,
  idleGpuHours: (figures?.idleGpuS ?? 0) / 3600,
  meanUtilPct: figures && figures.gpuS > 0 ? figures.utilPctS / figures.gpuS : null,
  dcgm,
  co2Kg: figures ? figures.shares.co2Kg : null,
  reusedHeatKWh: figures ? figures.shares.reusedKWh : null,
});

/**
 * Jobs that ran in the window (or are waiting), newest first, `limit` after `cursor`:
 * GPU-hours clipped to the window, measured and inferred energy, idle GPU-hours, mean
 * utilisation, and the job's attributed CO2 and reused heat (its share of each hour's, as
 * in the attribution).
 */
export function listJobs(deps: Deps, window: { fromTs: number; toTs: number }, vis: Visibility, filter: { project?: string; limit: number; cursor?: JobCursor | null }): { rows: JobRow[]; nextCursor: string | null } {
  const { sqlite } = deps;
  const nowTs = deps.now();
  if (filter.project) assertProject(sqlite, filter.project, vis);
  const w = windowAttribution(sqlite, window, nowTs);
  const after = filter.cursor ? { ts: filter.cursor.value, cluster: filter.cursor.cluster, jobId: filter.cursor.jobId } : null;
  const listed = jobListPage(
    sqlite,
    // A researcher sees their own jobs only.
    { ...window, nowTs, project: filter.project ?? null, accounts: vis.accounts, users: vis.role === 'researcher' ? vis.users : null },
    after,
    filter.limit + 1,
  );
  const page = listed.slice(0, filter.limit);
  const figures = jobFigures(sqlite, w)(page);
  const dcgm = jobsDcgm(sqlite, page, w);
  const pseudo = vis.perUser ? null : pseudonymiser(sqlite);
  const rows = page.map((j, i) => {
    const row = listedRow(j, figures[i]!, dcgm[i]!, w);
    return pseudo ? { ...row, user: pseudo(row.user) } : row;
  });
  const last = page.at(-1);
  return { rows, nextCursor: listed.length > filter.limit && last ? encodeCursor({ value: last.sortTs, cluster: last.cluster, jobId: last.jobId }) : null };
}

/**
 * The project's jobs that ran in the window with the most idle GPU-hours in it, at most
 * `limit`, most idle first.
 */
function mostIdleJobs(deps: Deps, w: WindowAttribution, project: string, vis: Visibility, limit: number): JobRow[] {
  const { sqlite } = deps;
  const record = sqlite.prepare(`${JOB_RECORD_SQL} WHERE cluster = ? AND job_id = ?`);
  // Idle time puts a job among those with energy in the window's hours; the list shows only jobs that ran in the window itself.
  const ran = (j: ListedJob) => j.startTs !== null && j.startTs < w.toTs && (j.endTs === null ? w.nowTs > w.fromTs : j.endTs > w.fromTs);
  // A researcher sees their own jobs only, as in the job list.
  const shown = (j: ListedJob) => ran(j) && (vis.users === null || vis.users.includes(j.user));
  const picked: ListedJob[] = [];
  // Pages grow when jobs are passed over, so that a researcher with few jobs in a busy project costs few reads.
  for (let after: JobCursor | null = null, size = 4 * limit; picked.length < limit; size *= 2) {
    const { page } = jobsInOrder(sqlite, w, [project], 'idle', after, size);
    for (const j of page) {
      if (j.idleGpuS <= 0 || picked.length === limit) break;
      const r = record.get(j.cluster, j.jobId) as ListedJob | undefined;
      if (r && shown(r)) picked.push(r);
    }
    const last = page.at(-1);
    if (page.length < size || !last || last.idleGpuS <= 0) break;
    after = last;
  }
  const figures = jobFigures(sqlite, w)(picked);
  const dcgm = jobsDcgm(sqlite, picked, w);
  const pseudo = vis.perUser ? null : pseudonymiser(sqlite);
  return picked.map((j, i) => {
    const row = listedRow(j, figures[i]!, dcgm[i]!, w);
    return pseudo ? { ...row, user: pseudo(row.user) } : row;
  });
}

/**
 * The review pack's per-user rows. Those who may see per-user detail (DESIGN.md: the user,
 * their PI, admins) get names; a researcher gets their own row under their name and their
 * colleagues' figures summed in one row, so that the rows still add up to the project;
 * the committee and the facility get pseudonyms.
 */
function usersOfReview(sqlite: Database, byUser: UsageRow[], vis: Visibility) {
  const row = (user: string, u: Pick<UsageRow, 'gpuHours' | 'energyKWh' | 'idleGpuHours' | 'jobs'>) => ({
    user,
    gpuHours: u.gpuHours,
    energyKWh: u.energyKWh,
    idleGpuHours: u.idleGpuHours,
    jobs: u.jobs,
  });
  if (!vis.perUser) {
    const pseudo = pseudonymiser(sqlite);
    return byUser.map((u) => row(pseudo(u.key), u));
  }
  if (vis.users === null) return byUser.map((u) => row(u.key, u));
  const own = vis.users;
  const others = byUser.filter((u) => !own.includes(u.key));
  const rows = byUser.filter((u) => own.includes(u.key)).map((u) => row(u.key, u));
  if (others.length > 0) {
    const sum = { gpuHours: 0, energyKWh: 0, idleGpuHours: 0, jobs: 0 };
    for (const u of others) for (const k of Object.keys(sum) as Array<keyof typeof sum>) sum[k] += u[k];
    rows.push(row(OTHER_MEMBERS, sum));
  }
  return rows;
}

/** Everything a committee reads before deciding a renewal, for one project. */
export function getReview(deps: Deps, project: string, window: { fromTs: number; toTs: number } | null, vis: Visibility) {
  const { sqlite } = deps;
  assertProject(sqlite, project, vis);
  const nowTs = deps.now();
  const allocation = listAllocations(sqlite, nowTs, vis, project).rows.at(-1) ?? null;
  const w = window ?? (allocation ? { fromTs: Date.parse(allocation.periodStart), toTs: Math.min(nowTs, Date.parse(allocation.periodEnd)) } : { fromTs: nowTs - 30 * DAY_MS, toTs: nowTs });
  const filter = { nowTs, accounts: [project], users: null };
  let cumulative = 0;
  const burnDown = usageByKey(sqlite, { ...w, ...filter, groupBy: 'day' }).map((d) => {
    cumulative += d.gpuHours;
    return { day: d.key, gpuHours: d.gpuHours, cumulativeGpuHours: cumulative, remainingGpuHours: allocation ? allocation.grantedGpuHours - cumulative : null };
  });
  const byUser = usageByKey(sqlite, { ...w, ...filter, groupBy: 'user' });
  // Every job has one user, so the project's figures, its job count too, are its users' summed.
  const totals = { gpuHours: 0, energyKWh: 0, measuredGpuHours: 0, idleGpuHours: 0, jobs: 0 };
  for (const u of byUser) for (const k of Object.keys(totals) as Array<keyof typeof totals>) totals[k] += u[k];
  const users = usersOfReview(sqlite, byUser, vis);
  // The project's waits from its own jobs; none started: the statistics of no jobs.
  const waits = projectWaits(sqlite, w, project);
  const attribution = windowAttribution(sqlite, w, nowTs);
  const energy = projectAttribution(deps, attribution, project);
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
      dcgm: projectDcgm(sqlite, project, w),
    },
    burnDown,
    waits,
    energy,
    users,
    wastefulJobs: mostIdleJobs(deps, attribution, project, vis, 10),
  };
}

/**
 * A project's members, from Slurm's associations (`source: 'slurm'`, coordinators as PIs)
 * or typed in by an administrator (`'admin'`), each list apart. Names are personal data:
 * admins, tokens and the project's PIs see them; anyone else gets FORBIDDEN.
 */
export function projectMembers(sqlite: Database, project: string, vis: Visibility) {
  assertProject(sqlite, project, vis);
  if (!vis.perUser || vis.users !== null) throw new DomainError('FORBIDDEN', `only the PIs of ${project} and administrators see its members`);
  const rows = sqlite
    .prepare(
      `SELECT u.username AS user, m.is_pi AS pi, m.source FROM project_members m JOIN projects p ON p.id = m.project_id JOIN users u ON u.id = m.user_id
       WHERE p.name = ? ORDER BY m.source, m.is_pi DESC, u.username`,
    )
    .all(project) as Array<{ user: string; pi: number; source: 'slurm' | 'admin' }>;
  const of = (source: 'slurm' | 'admin') => rows.filter((r) => r.source === source).map((r) => ({ user: r.user, pi: r.pi === 1 }));
  return { project, fromSlurm: of('slurm'), fromAdministrators: of('admin') };
}

/** The review pack's JSON shape. */
export type Review = ReturnType<typeof getReview>;

/** The review pack as CSV: one `section,key,field,value` line per figure. */
export function reviewCsv(review: ReturnType<typeof getReview>): string {
  const lines = ['section,key,field,value'];
  const put = (section: string, key: string, obj: Record<string, unknown> | null) => {
    for (const [field, value] of Object.entries(obj ?? {})) {
      if (typeof value === 'object' && value !== null) continue;
      lines.push(csvLine([section, key, field, value]));
    }
  };
  put('project', review.project, { from: review.from, to: review.to });
  put('allocation', review.project, review.allocation as unknown as Record<string, unknown>);
  put('usage', review.project, review.usage);
  put('dcgm', review.project, review.usage.dcgm as unknown as Record<string, unknown>);
  put('waits', review.project, review.waits);
  put('energy', review.project, review.energy as unknown as Record<string, unknown>);
  for (const d of review.burnDown) put('burn-down', d.day, d);
  for (const u of review.users) put('user', u.user, u);
  for (const j of review.wastefulJobs) put('wasteful-job', j.jobId, j as unknown as Record<string, unknown>);
  return `${lines.join('\n')}\n`;
}
