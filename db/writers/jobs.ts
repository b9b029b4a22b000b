/**
 * Job record ingest. A job sent again with newer fields replaces its older record (a job
 * moves PENDING → RUNNING → COMPLETED); an identical record counts as a duplicate.
 *
 * The usage rollups (usage-rollup.service.ts) hold allocated GPU-seconds and counts of
 * ended jobs. When a record changes, its old contribution is subtracted and the new one
 * added, so the rollups stay exact however often a job is re-sent; a job's measured energy
 * moves in when its record first arrives. Running jobs are counted live by the queries.
 *
 * Two records never replace a newer one: a record of an earlier stage of the job's life
 * (PENDING or RUNNING) after the stored one has ended (a poll's overlap, a replayed spool),
 * and a record naming a user who asked to be forgotten (it is stored under their pseudonym).
 *
 * A job record names its account and user, and both are created on first sight, but it
 * never makes the user a member of the account: membership grants access to a project's
 * figures, so it comes from an administrator (or the scheduler's associations), never from
 * what an ingest token sends (DESIGN.md, security).
 */
import { createHash } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import type { IngestContext } from './context.ts';
import type { JobIn, JobsBatchIn } from './records.ts';
import { keyedHash } from '../rules/keyed-hash.ts';
import { NO_PARTITION, type RolledJob, type UsageRollup } from '../rollups/usage.ts';

interface StoredJob {
  state: string;
  account: string;
  user: string;
  partition: string;
  startTs: number | null;
  endTs: number | null;
  gpus: number;
  recordHash: string;
}

/** Prepared statements and caches for job ingest, built once per database. */
export class JobsIngestor {
  private readonly st: Record<string, Statement>;
  private readonly knownProjects = new Set<string>();
  private readonly knownUsers = new Set<string>();
  private readonly nameHash: (name: string) => string;

  constructor(
    ctx: IngestContext,
    private readonly usage: UsageRollup,
  ) {
    const db = ctx.sqlite;
    this.nameHash = keyedHash(db);
    this.st = {
      forgotten: db.prepare('SELECT pseudonym FROM forgotten_users WHERE name_hash = ?'),
      get: db.prepare(
        `SELECT state, account, user, COALESCE(partition, '${NO_PARTITION}') AS partition, start_ts AS startTs, end_ts AS endTs, gpus, record_hash AS recordHash FROM jobs WHERE cluster = ? AND job_id = ?`,
      ),
      upsert: db.prepare(
        `INSERT INTO jobs (cluster, job_id, array_job_id, name, user, account, partition, qos, state, submit_ts, eligible_ts,
           start_ts, end_ts, gpus, gpu_type, cpus, nodes, exit_code, record_hash, updated_ts)
         VALUES (@cluster, @jobId, @arrayJobId, @name, @user, @account, @partition, @qos, @state, @submitTs, @eligibleTs,
           @startTs, @endTs, @gpus, @gpuType, @cpus, @nodes, @exitCode, @recordHash, @updatedTs)
         ON CONFLICT (cluster, job_id) DO UPDATE SET array_job_id = excluded.array_job_id, name = excluded.name,
           user = excluded.user, account = excluded.account, partition = excluded.partition, qos = excluded.qos,
           state = excluded.state, submit_ts = excluded.submit_ts, eligible_ts = excluded.eligible_ts,
           start_ts = excluded.start_ts, end_ts = excluded.end_ts, gpus = excluded.gpus, gpu_type = excluded.gpu_type,
           cpus = excluded.cpus, nodes = excluded.nodes, exit_code = excluded.exit_code,
           record_hash = excluded.record_hash, updated_ts = excluded.updated_ts`,
      ),
      projectIns: db.prepare('INSERT OR IGNORE INTO projects (name, created_ts) VALUES (?, ?)'),
      userIns: db.prepare("INSERT OR IGNORE INTO users (username, role, created_ts) VALUES (?, 'researcher', ?)"),
    };
  }

  /** Stores one validated batch; must run inside a transaction. */
  ingest(batch: JobsBatchIn, nowMs: number): { accepted: number; duplicates: number } {
    let accepted = 0;
    let duplicates = 0;
    for (const incoming of batch.jobs) {
      const pseudonym = (this.st.forgotten.get(this.nameHash(incoming.user)) as { pseudonym: string } | undefined)?.pseudonym;
      const job = pseudonym ? { ...incoming, user: pseudonym } : incoming;
      const row = toRow(batch.cluster, job, nowMs);
      const old = this.st.get.get(batch.cluster, job.jobId) as StoredJob | undefined;
      if (old && (old.recordHash === row.recordHash || isRegression(old, row))) {
        duplicates++;
        continue;
      }
      const next: RolledJob = { ...row, partition: row.partition ?? NO_PARTITION };
      if (old) this.usage.addJob(old, -1);
      this.st.upsert.run(row);
      this.usage.addJob(next, 1);
      this.usage.moveEnergy(batch.cluster, job.jobId, old ?? null, next);
      this.ensureNames(job.account, job.user, nowMs);
      accepted++;
    }
    return { accepted, duplicates };
  }

  /** Forgets cached state after a rolled-back transaction. */
  resetCaches(): void {
    this.knownProjects.clear();
    this.knownUsers.clear();
  }

  private ensureNames(account: string, user: string, nowMs: number): void {
    // Slurm accounts become projects, and their users scheduler users (who cannot log in), on first sight.
    if (!this.knownProjects.has(account)) {
      this.st.projectIns.run(account, nowMs);
      this.knownProjects.add(account);
    }
    if (!this.knownUsers.has(user)) {
      this.st.userIns.run(user, nowMs);
      this.knownUsers.add(user);
    }
  }
}

/**
 * Stages of a job's life, in order: waiting, running (or held on its nodes), ended. A record
 * never replaces one of a later stage: a RUNNING record after a COMPLETED one is a poll's
 * overlap or a replayed spool, whatever times it carries (issue 15.10: a RUNNING record with
 * an end time replaced a COMPLETED one). The cost: a job Slurm requeues after it ended
 * (same id) keeps its ended record here; one requeued while running is followed once it runs again.
 */
const STAGE: Record<JobIn['state'], 0 | 1 | 2> = {
  PENDING: 0, REQUEUED: 0,
  RUNNING: 1, SUSPENDED: 1, CONFIGURING: 1, COMPLETING: 1, RESIZING: 1, STOPPED: 1,
  COMPLETED: 2, CANCELLED: 2, FAILED: 2, TIMEOUT: 2, NODE_FAIL: 2, PREEMPTED: 2, BOOT_FAIL: 2,
  DEADLINE: 2, OUT_OF_MEMORY: 2, REVOKED: 2, SPECIAL_EXIT: 2,
};

/** Whether `next` describes an earlier stage of the job than its stored record. */
function isRegression(stored: StoredJob, next: { state: JobIn['state'] }): boolean {
  return STAGE[next.state] < (STAGE[stored.state as JobIn['state']] ?? 0);
}

function toRow(cluster: string, job: JobIn, nowMs: number) {
  const ms = (iso: string | null) => (iso === null ? null : Date.parse(iso));
  const row = {
    cluster,
    jobId: job.jobId,
    arrayJobId: job.arrayJobId,
    name: job.name,
    user: job.user,
    account: job.account,
    partition: job.partition,
    qos: job.qos,
    state: job.state,
    submitTs: Date.parse(job.submitTime),
    eligibleTs: ms(job.eligibleTime),
    // A waiting job's start and a running job's end are the scheduler's forecasts (squeue
    // shows both), not times the job started or ended: they must not count as use.
    startTs: job.state === 'PENDING' ? null : ms(job.startTime),
    endTs: STAGE[job.state] === 1 && job.state !== 'COMPLETING' ? null : ms(job.endTime),
    gpus: job.gpus,
    gpuType: job.gpuType,
    cpus: job.cpus,
    nodes: JSON.stringify(job.nodes),
    exitCode: job.exitCode,
  };
  const recordHash = createHash('sha256').update(JSON.stringify(row)).digest('hex');
  return { ...row, recordHash, updatedTs: nowMs };
}
