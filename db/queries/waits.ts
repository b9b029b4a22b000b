/**
 * Queue waits of jobs that started in a window: wait = start − submit, and eligible-wait =
 * start − eligible (holds and dependencies excluded). Percentiles interpolate linearly
 * between closest ranks, as SQL's percentile_cont does.
 */
import type { Database } from 'better-sqlite3';
import { percentileCont } from '../rules/percentiles.ts';

// The rule lives in db/rules/percentiles.ts; re-exported for the modules that import it from here.
export { percentileCont };

export type WaitGroup = 'partition' | 'project' | 'gpus' | 'hourOfWeek';

export interface WaitJob {
  account: string;
  partition: string | null;
  gpus: number;
  submitTs: number;
  eligibleTs: number | null;
  startTs: number;
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
 * Jobs that queued: rejected submissions (start = end = submit on no node) never did. The
 * triggers that version the wait rollup (migration 0011) test the same condition: change
 * both together.
 */
export const QUEUED = "NOT (end_ts = start_ts AND start_ts = submit_ts AND nodes = '[]')";

/** Jobs that started in [fromTs, toTs) and queued (QUEUED). */
export function startedJobs(sqlite: Database, fromTs: number, toTs: number, accounts: string[] | null): WaitJob[] {
  return sqlite
    .prepare(
      `SELECT account, partition, gpus, submit_ts AS submitTs, eligible_ts AS eligibleTs, start_ts AS startTs
       FROM jobs
       WHERE start_ts >= @from AND start_ts < @to AND ${QUEUED}
         AND (@accounts IS NULL OR account IN (SELECT value FROM json_each(@accounts)))`,
    )
    .all({ from: fromTs, to: toTs, accounts: accounts ? JSON.stringify(accounts) : null }) as WaitJob[];
}

/**
 * The waits (ms, ascending) of one project's jobs that started in [fromTs, toTs) and
 * queued, found through the project's own jobs (jobs_account): for one project this reads
 * its jobs, not every job of the window's days.
 */
export function projectStartedWaits(sqlite: Database, account: string, fromTs: number, toTs: number): Float64Array {
  const waits = sqlite
    .prepare(
      `SELECT start_ts - submit_ts FROM jobs INDEXED BY jobs_account
       WHERE account = @account AND start_ts >= @from AND start_ts < @to AND ${QUEUED}`,
    )
    .pluck()
    .all({ account, from: fromTs, to: toTs }) as number[];
  return Float64Array.from(waits).sort();
}

/** The stamp each stored span was built at, by "grouping|span|startTs" (no blobs read). */
export function storedWaitStamps(sqlite: Database): Map<string, number> {
  const rows = sqlite.prepare("SELECT grouping || '|' || span || '|' || start_ts, stamp FROM wait_runs").raw().all() as Array<[string, number]>;
  return new Map(rows);
}

/** One stored span of the wait rollup: its keys, and per key the count and ascending values (ms). */
export interface WaitRunsRow {
  grouping: WaitGroup;
  span: 'day' | 'month';
  startTs: number;
  stamp: number;
  /** JSON array of the keys, in the order of the counts. */
  keys: string;
  /** Uint32 per key: how many waits it has in `waits`. */
  waitCounts: Buffer;
  /** Float64 waits, ascending within each key, keys one after another. */
  waits: Buffer;
  eligibleCounts: Buffer;
  eligible: Buffer;
}

/** The stored runs of one grouping and span, if any. */
export function readWaitRuns(sqlite: Database, grouping: WaitGroup, span: 'day' | 'month', startTs: number): WaitRunsRow | undefined {
  return sqlite
    .prepare(
      `SELECT grouping, span, start_ts AS startTs, stamp, keys, wait_counts AS waitCounts, waits, eligible_counts AS eligibleCounts, eligible
       FROM wait_runs WHERE grouping = ? AND span = ? AND start_ts = ?`,
    )
    .get(grouping, span, startTs) as WaitRunsRow | undefined;
}

/** Stores (or replaces) the runs of one grouping and span. */
export function writeWaitRuns(sqlite: Database, row: WaitRunsRow): void {
  sqlite
    .prepare(
      `INSERT INTO wait_runs (grouping, span, start_ts, stamp, keys, wait_counts, waits, eligible_counts, eligible)
       VALUES (@grouping, @span, @startTs, @stamp, @keys, @waitCounts, @waits, @eligibleCounts, @eligible)
       ON CONFLICT (grouping, span, start_ts) DO UPDATE SET stamp = excluded.stamp, keys = excluded.keys, wait_counts = excluded.wait_counts,
         waits = excluded.waits, eligible_counts = excluded.eligible_counts, eligible = excluded.eligible`,
    )
    .run(row);
}

/** Forgets every stored span (before a rebuild). */
export function clearWaitRuns(sqlite: Database): void {
  sqlite.prepare('DELETE FROM wait_runs').run();
}

/** Whether any job of `partition` was submitted at or after `sinceTs`. */
export function partitionSeenSince(sqlite: Database, partition: string, sinceTs: number): boolean {
  return sqlite.prepare('SELECT 1 FROM jobs INDEXED BY jobs_partition_submit WHERE partition = ? AND submit_ts >= ? LIMIT 1').get(partition, sinceTs) !== undefined;
}

export interface SimilarJob {
  submitTs: number;
  startTs: number;
}

// Started jobs of a partition and GPU range submitted since a time, not started before their submission.
const similarWhere = `partition = @partition AND submit_ts >= @since AND gpus >= @minGpus AND gpus <= @maxGpus AND start_ts >= submit_ts`;

/**
 * Jobs of `partition` submitted since `sinceTs` with `minGpus`-`maxGpus` GPUs that started
 * (not before their submission): how many, and the newest `limit` of them oldest first.
 * Equal submission times are ordered by rowid, the order a scan of jobs sorted by
 * submission gives them. Reads only the index (partition, submit_ts, gpus, start_ts).
 */
export function similarJobs(sqlite: Database, partition: string, sinceTs: number, minGpus: number, maxGpus: number, limit: number): { count: number; newest: SimilarJob[] } {
  const p = { partition, since: sinceTs, minGpus, maxGpus };
  const { n } = sqlite.prepare(`SELECT COUNT(*) AS n FROM jobs INDEXED BY jobs_partition_submit WHERE ${similarWhere}`).get(p) as { n: number };
  // The submission time of the limit-th newest: everything from it on, ties included, then the rowid order.
  const edge = sqlite
    .prepare(`SELECT submit_ts AS ts FROM jobs INDEXED BY jobs_partition_submit WHERE ${similarWhere} ORDER BY submit_ts DESC LIMIT 1 OFFSET @skip`)
    .get({ ...p, skip: limit - 1 }) as { ts: number } | undefined;
  const rows = sqlite
    .prepare(`SELECT submit_ts AS submitTs, start_ts AS startTs FROM jobs INDEXED BY jobs_partition_submit WHERE ${similarWhere} AND submit_ts >= @edge ORDER BY submit_ts, rowid`)
    .all({ ...p, edge: edge?.ts ?? sinceTs }) as SimilarJob[];
  return { count: n, newest: rows.slice(-limit) };
}

export interface QueueCandidate {
  submitTs: number;
  startTs: number | null;
  endTs: number | null;
  state: string;
  gpus: number;
}

/**
 * Jobs of `partition` submitted in [sinceTs, beforeTs) that may have been waiting at some
 * time after `afterTs`: those that started after it and those that never started. Any
 * other job of the partition had started by then.
 */
export function queueCandidates(sqlite: Database, partition: string, sinceTs: number, beforeTs: number, afterTs: number): QueueCandidate[] {
  return sqlite
    .prepare(
      `SELECT submit_ts AS submitTs, start_ts AS startTs, end_ts AS endTs, state, gpus FROM jobs INDEXED BY jobs_partition_submit
       WHERE partition = ? AND submit_ts >= ? AND submit_ts < ? AND (start_ts > ? OR start_ts IS NULL)`,
    )
    .all(partition, sinceTs, beforeTs, afterTs) as QueueCandidate[];
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
