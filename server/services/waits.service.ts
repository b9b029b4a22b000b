/**
 * Queue-wait analytics for researchers: percentiles by partition, project, GPU count and
 * hour of week (Europe/Copenhagen), the queue now, and an estimate of how long a job
 * would wait if submitted now.
 */
import type { Database } from 'better-sqlite3';
import { partitionSeenSince, pendingJobs, projectStartedWaits, queueCandidates, runningByPartition, similarJobs, waitStats, type QueueCandidate, type QueueJob, type WaitGroup } from '../../db/queries/waits.ts';
import type { Visibility } from '../auth/middleware.ts';
import { DomainError } from '../errors.ts';
import { percentileCont } from '../../db/rules/percentiles.ts';
import { percentileContOfRuns } from '../../db/rules/sorted-runs.ts';
import { DAY_MS } from '../../db/rules/time.ts';
import { waitRunsIn } from '../../db/rollups/waits.ts';

/**
 * mean, percentile_cont 0.5/0.9/0.99 and max (seconds) of the waits held in `runs`
 * (ascending ms). The mean is the sum of whole milliseconds over the count, correctly
 * rounded; the rest equals `waitStats` over the same waits to the last bit.
 */
function statsOfRuns(runs: Float64Array[], sumMs: number) {
  const n = runs.reduce((c, r) => c + r.length, 0);
  const maxMs = runs.reduce((m, r) => (r.length && r[r.length - 1]! > m ? r[r.length - 1]! : m), -Infinity);
  return {
    jobs: n,
    meanS: n ? sumMs / (n * 1000) : null,
    p50S: percentileContOfRuns(runs, n, 0.5, 1000),
    p90S: percentileContOfRuns(runs, n, 0.9, 1000),
    p99S: percentileContOfRuns(runs, n, 0.99, 1000),
    maxS: n ? maxMs / 1000 : null,
  };
}

/**
 * One project's wait statistics over a window (the review pack), from its own jobs: the
 * same figures as its row of `getWaits` by project (one run instead of the rollup's several
 * gives the same order statistics and sums), without working out every project's.
 */
export function projectWaits(sqlite: Database, window: { fromTs: number; toTs: number }, project: string) {
  const waitsMs = projectStartedWaits(sqlite, project, window.fromTs, window.toTs);
  return statsOfRuns([waitsMs], waitsMs.reduce((s, x) => s + x, 0));
}

/**
 * Wait percentiles of jobs that started in the window, per group, from the wait rollup
 * (wait-rollup.service.ts). `nowTs` only decides which rebuilt days and months have ended
 * and may be stored.
 */
export function getWaits(sqlite: Database, window: { fromTs: number; toTs: number }, groupBy: WaitGroup, vis: Visibility, nowTs: number) {
  // Waits by partition, GPU count or hour are about the machine, not about people; by project, a member sees their own.
  const visible = groupBy === 'project' && vis.accounts !== null ? new Set(vis.accounts) : null;
  const rows = [];
  for (const [key, runs] of waitRunsIn(sqlite, window.fromTs, window.toTs, groupBy, nowTs)) {
    if (visible && !visible.has(key)) continue;
    const w = statsOfRuns(runs.map((r) => r.waitsMs), runs.reduce((s, r) => s + r.waitSumMs, 0));
    const e = statsOfRuns(runs.map((r) => r.eligibleMs), runs.reduce((s, r) => s + r.eligibleSumMs, 0));
    rows.push({ key, ...w, eligibleMeanS: e.meanS, eligibleP50S: e.p50S, eligibleP90S: e.p90S, eligibleP99S: e.p99S });
  }
  rows.sort((a, b) => (groupBy === 'gpus' ? Number(a.key) - Number(b.key) : a.key.localeCompare(b.key)));
  return { groupBy, rows };
}

/** The queue now: per partition depth and oldest wait; the waiting jobs with their ages. */
export function getQueue(sqlite: Database, nowTs: number, vis: Visibility) {
  const pending = pendingJobs(sqlite);
  const running = runningByPartition(sqlite);
  const partitions = new Map<string, { partition: string; pendingJobs: number; pendingGpus: number; oldestAgeS: number | null; runningJobs: number; runningGpus: number }>();
  const part = (name: string | null) => {
    const key = name ?? '(none)';
    let p = partitions.get(key);
    if (!p) partitions.set(key, (p = { partition: key, pendingJobs: 0, pendingGpus: 0, oldestAgeS: null, runningJobs: 0, runningGpus: 0 }));
    return p;
  };
  for (const j of pending) {
    const p = part(j.partition);
    p.pendingJobs++;
    p.pendingGpus += j.gpus;
    p.oldestAgeS = Math.max(p.oldestAgeS ?? 0, (nowTs - j.submitTs) / 1000);
  }
  for (const r of running) Object.assign(part(r.partition), { runningJobs: r.jobs, runningGpus: r.gpus });
  const mine = (j: QueueJob) => vis.accounts === null || vis.accounts.includes(j.account);
  return {
    partitions: [...partitions.values()].sort((a, b) => a.partition.localeCompare(b.partition)),
    // Individual waiting jobs: only those the caller may see; users only where per-user detail is allowed.
    pending: pending.filter(mine).map((j) => ({
      jobId: j.jobId,
      project: j.account,
      user: vis.perUser && (vis.users === null || vis.users.includes(j.user)) ? j.user : null,
      partition: j.partition,
      gpus: j.gpus,
      ageS: (nowTs - j.submitTs) / 1000,
    })),
  };
}

const LOOKBACK_MS = 14 * DAY_MS;
const NEIGHBOURS = 40;
const RECENT_SIMILAR = 600;

/**
 * GPUs waiting in the partition at each of `times`: jobs submitted before it that had not
 * started by it (never-started ones: while pending, or until they ended). Each job waits
 * over the open interval (submit, until); a time's sum is the GPUs of intervals opened
 * before it less those closed by it, from two sorted lists.
 */
function pendingGpusAt(jobs: QueueCandidate[], times: number[]): number[] {
  const opened: Array<[number, number]> = [];
  const closed: Array<[number, number]> = [];
  for (const j of jobs) {
    const until = j.startTs ?? (j.state === 'PENDING' ? Infinity : (j.endTs ?? -Infinity));
    if (until <= j.submitTs) continue;
    opened.push([j.submitTs, j.gpus]);
    if (until !== Infinity) closed.push([until, j.gpus]);
  }
  const cumulative = (list: Array<[number, number]>) => {
    list.sort((a, b) => a[0] - b[0]);
    const sums = [0];
    for (const [, gpus] of list) sums.push(sums[sums.length - 1]! + gpus);
    return { ts: list.map((x) => x[0]), sums };
  };
  const o = cumulative(opened);
  const c = cumulative(closed);
  // Number of entries of ascending `ts` below t (or at most t).
  const countBelow = (ts: number[], t: number, orEqual: boolean) => {
    let lo = 0;
    let hi = ts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ts[mid]! < t || (orEqual && ts[mid] === t)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  return times.map((t) => o.sums[countBelow(o.ts, t, false)]! - c.sums[countBelow(c.ts, t, true)]!);
}

/**
 * How long a job with `gpus` GPUs on `partition` would wait if submitted now: the waits
 * of the recent jobs of similar size (half to double the GPUs) whose submission met the
 * queue most like today's (GPUs pending ahead of them in the partition, among jobs
 * submitted in the last 28 days), as percentiles, with the sample size. Reads index
 * ranges: the similar jobs' count and newest 600, and the jobs that may have been waiting
 * since the oldest of those was submitted.
 */
export function estimateWait(sqlite: Database, partition: string, gpus: number, nowTs: number) {
  const sinceTs = nowTs - 2 * LOOKBACK_MS;
  if (!partitionSeenSince(sqlite, partition, sinceTs)) throw new DomainError('NOT_FOUND', `no jobs seen on partition ${partition} in the last 28 days`);
  const similar = similarJobs(sqlite, partition, nowTs - LOOKBACK_MS, gpus / 2, gpus * 2, RECENT_SIMILAR);
  const times = [nowTs + 1, ...similar.newest.map((j) => j.submitTs)];
  const candidates = queueCandidates(sqlite, partition, sinceTs, Math.max(...times), Math.min(...times));
  const [queueNow, ...queueAt] = pendingGpusAt(candidates, times);
  const scored = similar.newest.map((j, i) => ({ waitS: (j.startTs - j.submitTs) / 1000, distance: Math.abs(queueAt[i]! - queueNow!) }));
  scored.sort((a, b) => a.distance - b.distance);
  const nearest = scored.slice(0, NEIGHBOURS).map((s) => s.waitS).sort((a, b) => a - b);
  const stats = waitStats(nearest);
  return {
    partition,
    gpus,
    estimateS: stats.p50S,
    p25S: percentileCont(nearest, 0.25),
    p75S: percentileCont(nearest, 0.75),
    p90S: stats.p90S,
    sampleSize: nearest.length,
    similarJobs: similar.count,
    queueNow: { pendingGpus: queueNow! },
    basis: `jobs with ${Math.ceil(gpus / 2)}-${gpus * 2} GPUs on ${partition} submitted in the last 14 days, nearest to today's queue`,
  };
}
