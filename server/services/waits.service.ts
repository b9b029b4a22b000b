/**
 * Queue-wait analytics for researchers: percentiles by partition, project, GPU count and
 * hour of week (Europe/Copenhagen), the queue now, and an estimate of how long a job
 * would wait if submitted now.
 */
import type { Database } from 'better-sqlite3';
import { partitionJobsSince, pendingJobs, percentileCont, runningByPartition, startedJobs, waitStats, type QueueJob, type WaitGroup, type WaitJob } from '../../db/queries/waits.ts';
import type { Visibility } from '../auth/middleware.ts';
import { DomainError } from '../errors.ts';

const weekday = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Copenhagen', weekday: 'short', hour: '2-digit', hourCycle: 'h23' });
const dayIndex: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };

/** "d-hh" with d = 1 (Monday) … 7 (Sunday) and the local hour in Copenhagen. */
export function hourOfWeek(ts: number): string {
  const parts = weekday.formatToParts(ts);
  const d = dayIndex[parts.find((p) => p.type === 'weekday')!.value]!;
  const h = parts.find((p) => p.type === 'hour')!.value;
  return `${d}-${h}`;
}

function keyOf(job: WaitJob, groupBy: WaitGroup): string {
  if (groupBy === 'partition') return job.partition ?? '(none)';
  if (groupBy === 'project') return job.account;
  if (groupBy === 'gpus') return String(job.gpus);
  return hourOfWeek(job.submitTs);
}

/** Wait percentiles of jobs that started in the window, per group. */
export function getWaits(sqlite: Database, window: { fromTs: number; toTs: number }, groupBy: WaitGroup, vis: Visibility) {
  // Waits by partition, GPU count or hour are about the machine, not about people; by project, a member sees their own.
  const accounts = groupBy === 'project' ? vis.accounts : null;
  const groups = new Map<string, { waits: number[]; eligible: number[] }>();
  for (const job of startedJobs(sqlite, window.fromTs, window.toTs, accounts)) {
    const key = keyOf(job, groupBy);
    const g = groups.get(key) ?? { waits: [], eligible: [] };
    g.waits.push((job.startTs - job.submitTs) / 1000);
    if (job.eligibleTs !== null) g.eligible.push(Math.max(0, (job.startTs - job.eligibleTs) / 1000));
    groups.set(key, g);
  }
  const rows = [...groups].map(([key, g]) => {
    const e = waitStats(g.eligible);
    return { key, ...waitStats(g.waits), eligibleMeanS: e.meanS, eligibleP50S: e.p50S, eligibleP90S: e.p90S, eligibleP99S: e.p99S };
  });
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

const LOOKBACK_MS = 14 * 86_400_000;
const NEIGHBOURS = 40;

/**
 * How long a job with `gpus` GPUs on `partition` would wait if submitted now: the waits
 * of the recent jobs of similar size (half to double the GPUs) whose submission met the
 * queue most like today's (GPUs pending ahead of them in the partition), as percentiles,
 * with the sample size.
 */
export function estimateWait(sqlite: Database, partition: string, gpus: number, nowTs: number) {
  const jobs = partitionJobsSince(sqlite, partition, nowTs - 2 * LOOKBACK_MS);
  if (jobs.length === 0) throw new DomainError('NOT_FOUND', `no jobs seen on partition ${partition} in the last 28 days`);
  const pendingGpusAt = (ts: number) => {
    let sum = 0;
    for (const j of jobs) {
      if (j.submitTs >= ts) break;
      if (j.startTs === null ? j.state === 'PENDING' || (j.endTs !== null && j.endTs > ts) : j.startTs > ts) sum += j.gpus;
    }
    return sum;
  };
  const queueNow = pendingGpusAt(nowTs + 1);
  const similar = jobs.filter((j) => j.startTs !== null && j.submitTs >= nowTs - LOOKBACK_MS && j.gpus >= gpus / 2 && j.gpus <= gpus * 2 && j.startTs >= j.submitTs);
  const scored = similar.slice(-600).map((j) => ({ waitS: (j.startTs! - j.submitTs) / 1000, distance: Math.abs(pendingGpusAt(j.submitTs) - queueNow) }));
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
    similarJobs: similar.length,
    queueNow: { pendingGpus: queueNow },
    basis: `jobs with ${Math.ceil(gpus / 2)}-${gpus * 2} GPUs on ${partition} submitted in the last 14 days, nearest to today's queue`,
  };
}
