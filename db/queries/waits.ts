/**
 * Queue waits of jobs that started in a window: wait = start − submit, and eligible-wait =
 * start − eligible (holds and dependencies excluded). Percentiles interpolate linearly
 * between closest ranks, as SQL's percentile_cont does.
 */
import type { Database } from 'better-sqlite3';

export type WaitGroup = 'partition' | 'project' | 'gpus' | 'hourOfWeek';

export interface WaitJob {
  account: string;
  partition: string | null;
  gpus: number;
  submitTs: number;
  eligibleTs: number | null;
  startTs: number;
}

/** percentile_cont over an ascending array (p in 0-1). */
export function percentileCont(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = (sorted.length - 1) * p;
  const lo = Math.floor(rank);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

/** Summary statistics of a set of waits in seconds. */
export function waitStats(waitsS: number[]) {
  const sorted = [...waitsS].sort((a, b) => a - b);
  return {
    jobs: sorted.length,
    meanS: sorted.length ? sorted.reduce((s, w) => s + w, 0) / sorted.length : null,
    p50S: percentileCont(sorted, 0.5),
    p90S: percentileCont(sorted, 0.9),
    p99S: percentileCont(sorted, 0.99),
    maxS: sorted.length ? sorted[sorted.length - 1]! : null,
  };
}

/**
 * Jobs that started in [fromTs, toTs). Rejected submissions (start = end = submit on no
 * node) never queued and are left out.
 */
export function startedJobs(sqlite: Database, fromTs: number, toTs: number, accounts: string[] | null): WaitJob[] {
  return sqlite
    .prepare(
      `SELECT account, partition, gpus, submit_ts AS submitTs, eligible_ts AS eligibleTs, start_ts AS startTs
       FROM jobs
       WHERE start_ts >= @from AND start_ts < @to
         AND NOT (end_ts = start_ts AND start_ts = submit_ts AND nodes = '[]')
         AND (@accounts IS NULL OR account IN (SELECT value FROM json_each(@accounts)))`,
    )
    .all({ from: fromTs, to: toTs, accounts: accounts ? JSON.stringify(accounts) : null }) as WaitJob[];
}

export interface QueueJob {
  cluster: string;
  jobId: string;
  user: string;
  account: string;
  partition: string | null;
  gpus: number;
  submitTs: number;
  startTs: number | null;
  endTs: number | null;
  state: string;
}

/** Jobs of a partition submitted since `sinceTs` (pending, running or done), oldest first. */
export function partitionJobsSince(sqlite: Database, partition: string | null, sinceTs: number): QueueJob[] {
  return sqlite
    .prepare(
      `SELECT cluster, job_id AS jobId, user, account, partition, gpus, submit_ts AS submitTs, start_ts AS startTs, end_ts AS endTs, state
       FROM jobs WHERE submit_ts >= ? AND (? IS NULL OR partition = ?) ORDER BY submit_ts`,
    )
    .all(sinceTs, partition, partition) as QueueJob[];
}

/** Jobs waiting now (state PENDING), oldest first. */
export function pendingJobs(sqlite: Database): QueueJob[] {
  return sqlite
    .prepare(
      `SELECT cluster, job_id AS jobId, user, account, partition, gpus, submit_ts AS submitTs, start_ts AS startTs, end_ts AS endTs, state
       FROM jobs WHERE state = 'PENDING' ORDER BY submit_ts`,
    )
    .all() as QueueJob[];
}

/** Running jobs per partition: count and allocated GPUs. */
export function runningByPartition(sqlite: Database): Array<{ partition: string | null; jobs: number; gpus: number }> {
  return sqlite
    .prepare(`SELECT partition, COUNT(*) AS jobs, SUM(gpus) AS gpus FROM jobs WHERE state = 'RUNNING' GROUP BY partition`)
    .all() as Array<{ partition: string | null; jobs: number; gpus: number }>;
}
