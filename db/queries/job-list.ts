/**
 * A page of the job list: jobs that ran in [from, to) or wait in the queue, newest first
 * (by start, or submission for a waiting job; ties by cluster and job id, descending).
 *
 * Three index searches merged, each stopping at the page's end: jobs that started from
 * `from` less the longest run of an ended job (an ended job that started earlier ended
 * before `from`), jobs still running that started earlier, and waiting jobs.
 */
import type { Database } from 'better-sqlite3';
import { maxJobDurationMs } from '../rollups/usage.ts';

export interface ListedJob {
  cluster: string;
  jobId: string;
  project: string;
  user: string;
  partition: string | null;
  state: string;
  gpus: number;
  submitTs: number;
  startTs: number | null;
  endTs: number | null;
  /** The list's order: start, or submission while waiting. */
  sortTs: number;
}

/** The jobs table's record as the list reads it (ListedJob), for a query to complete with its WHERE. */
export const JOB_RECORD_SQL = `SELECT cluster, job_id AS jobId, account AS project, user, partition, state, gpus, submit_ts AS submitTs, start_ts AS startTs, end_ts AS endTs, start_ts AS sortTs FROM jobs`;

export interface JobListFilter {
  fromTs: number;
  toTs: number;
  nowTs: number;
  project: string | null;
  /** Only these accounts (null: all). */
  accounts: string[] | null;
  /** Only these users (null: all). */
  users: string[] | null;
}

/** Up to `limit` jobs after `after` (the last job of the previous page) in list order. */
export function jobListPage(sqlite: Database, f: JobListFilter, after: { ts: number; cluster: string; jobId: string } | null, limit: number): ListedJob[] {
  const cols = `cluster, job_id AS jobId, account AS project, user, partition, state, gpus, submit_ts AS submitTs, start_ts AS startTs, end_ts AS endTs`;
  const filters = `(@project IS NULL OR account = @project)
    AND (@accounts IS NULL OR account IN (SELECT value FROM json_each(@accounts)))
    AND (@users IS NULL OR user IN (SELECT value FROM json_each(@users)))`;
  const page = (sortCol: string) => (after ? `AND (${sortCol}, cluster, job_id) < (@afterTs, @afterCluster, @afterJob)` : '');
  const order = (sortCol: string) => `ORDER BY ${sortCol} DESC, cluster DESC, job_id DESC LIMIT @limit`;
  const params = {
    from: f.fromTs,
    to: f.toTs,
    now: f.nowTs,
    earliest: f.fromTs - maxJobDurationMs(sqlite),
    project: f.project,
    accounts: f.accounts ? JSON.stringify(f.accounts) : null,
    users: f.users ? JSON.stringify(f.users) : null,
    limit,
    ...(after ? { afterTs: after.ts, afterCluster: after.cluster, afterJob: after.jobId } : {}),
  };
  const started = sqlite
    .prepare(
      `SELECT ${cols}, start_ts AS sortTs FROM jobs INDEXED BY jobs_start
       WHERE start_ts >= @earliest AND start_ts < @to AND (end_ts > @from OR (end_ts IS NULL AND @now > @from)) AND ${filters} ${page('start_ts')}
       ${order('start_ts')}`,
    )
    .all(params) as ListedJob[];
  const longRunning = sqlite
    .prepare(
      `SELECT ${cols}, start_ts AS sortTs FROM jobs INDEXED BY jobs_end
       WHERE end_ts IS NULL AND start_ts < @earliest AND @now > @from AND ${filters} ${page('start_ts')}
       ${order('start_ts')}`,
    )
    .all(params) as ListedJob[];
  const waiting = sqlite
    .prepare(
      `SELECT ${cols}, submit_ts AS sortTs FROM jobs INDEXED BY jobs_state
       WHERE state = 'PENDING' AND start_ts IS NULL AND ${filters} ${page('submit_ts')}
       ${order('submit_ts')}`,
    )
    .all(params) as ListedJob[];
  const later = (a: ListedJob, b: ListedJob) => (a.sortTs !== b.sortTs ? b.sortTs - a.sortTs : a.cluster !== b.cluster ? (a.cluster < b.cluster ? 1 : -1) : a.jobId < b.jobId ? 1 : -1);
  return [...started, ...longRunning, ...waiting].sort(later).slice(0, limit);
}
