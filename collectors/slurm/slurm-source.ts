/**
 * Reads jobs from the local Slurm: `sacct --json` for accounting (everything that ran
 * or ended since a time), `squeue --json` for the live queue, and `sacct -P` for exit
 * codes where the JSON is known to get them wrong. Merges them into one set of records.
 */
import { spawn } from 'node:child_process';
import { parseSlurmJson } from './parse-json.ts';
import { parseSacctParsable } from './parse-parsable.ts';
import type { FinishedJob } from './job-draft.ts';
import type { JobState } from '../shared/wire.ts';

/** Runs a command and returns its stdout; rejects with a message naming the command. */
export type RunCommand = (command: string, args: string[], timeoutMs: number) => Promise<string>;

/** A failure of a Slurm command, with a message fit for an operator. */
export class SlurmCommandError extends Error {}

/** Spawns `command` with TZ=UTC (so sacct reads and prints UTC) and collects stdout. */
export const runCommand: RunCommand = (command, args, timeoutMs) =>
  new Promise((resolve, reject) => {
    const shown = `${command} ${args.join(' ')}`;
    const child = spawn(command, args, { env: { ...process.env, TZ: 'UTC' }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
    }, timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new SlurmCommandError(
          error.code === 'ENOENT'
            ? `'${command}' was not found on PATH (is the Slurm client installed here?)`
            : `'${shown}' could not start: ${error.message}`,
        ),
      );
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) return reject(new SlurmCommandError(`'${shown}' did not finish within ${Math.round(timeoutMs / 1000)} s`));
      if (code !== 0) {
        const detail = Buffer.concat(err).toString('utf8').trim().split('\n').slice(0, 3).join(' / ');
        return reject(new SlurmCommandError(`'${shown}' failed (${signal ?? `exit ${code}`})${detail ? `: ${detail}` : ''}`));
      }
      resolve(Buffer.concat(out).toString('utf8'));
    });
  });

export interface ReadOptions {
  /** Jobs running or ended at or after this instant. */
  since: Date;
  run?: RunCommand;
  timeoutMs?: number;
  /** Also read the queue (pending jobs); on by default. */
  withQueue?: boolean;
}

export interface ReadResult {
  jobs: FinishedJob[];
  warnings: string[];
}

/** sacct's -S in the UTC wall-clock form it parses (TZ=UTC is set on the child). */
export function sacctTime(date: Date): string {
  return date.toISOString().slice(0, 19);
}

/** Reads jobs from the local Slurm since a time; throws SlurmCommandError when sacct fails. */
export async function readLocalSlurm(options: ReadOptions): Promise<ReadResult> {
  const run = options.run ?? runCommand;
  const timeoutMs = options.timeoutMs ?? 120_000;
  const since = sacctTime(options.since);
  const warnings: string[] = [];
  const sacctArgs = ['--json', '-a', '-S', since];
  const sacctText = await run('sacct', sacctArgs, timeoutMs);
  let accounted;
  try {
    accounted = parseSlurmJson(sacctText);
  } catch (error) {
    throw new SlurmCommandError(`'sacct ${sacctArgs.join(' ')}' gave output that ${(error as Error).message}`, { cause: error });
  }
  warnings.push(...accounted.warnings);

  // Slurm ≤ 22.05 reports exit code 0 in JSON for failed jobs; sacct -P has them right.
  if (accounted.jobs.some(({ job }) => job.exitCode === null && job.endTime !== null)) {
    try {
      const psv = await run('sacct', ['-a', '-X', '-P', '-S', since, '-o', 'JobID,State,Submit,User,ExitCode'], timeoutMs);
      const codes = new Map(parseSacctParsable(psv).jobs.map(({ job }) => [job.jobId, job.exitCode]));
      for (const { job } of accounted.jobs) if (job.exitCode === null) job.exitCode = codes.get(job.jobId) ?? null;
    } catch (error) {
      warnings.push(`exit codes stay unknown for some jobs: ${(error as Error).message}`);
    }
  }

  let queued: FinishedJob[] = [];
  if (options.withQueue ?? true) {
    try {
      const q = parseSlurmJson(await run('squeue', ['--json'], timeoutMs));
      queued = q.jobs;
      warnings.push(...q.warnings);
    } catch (error) {
      // Accounting is the source of truth; a queue we cannot read only delays pending jobs.
      warnings.push(`pending jobs not read: ${(error as Error).message}`);
    }
  }
  return { jobs: mergeJobs(accounted.jobs, queued), warnings };
}

const TERMINAL = new Set<JobState>([
  'COMPLETED', 'CANCELLED', 'FAILED', 'TIMEOUT', 'NODE_FAIL', 'PREEMPTED', 'BOOT_FAIL',
  'DEADLINE', 'OUT_OF_MEMORY', 'REVOKED', 'SPECIAL_EXIT', 'REQUEUED',
]);

function progress(state: JobState): number {
  if (state === 'PENDING') return 0;
  return TERMINAL.has(state) ? 2 : 1;
}

/**
 * One record per (cluster, jobId): the one further along (the queue can be ahead of the
 * database by a few seconds, the database ahead of the queue once a job has left it);
 * at equal progress the accounting record wins.
 */
export function mergeJobs(accounted: FinishedJob[], queued: FinishedJob[]): FinishedJob[] {
  const byKey = new Map<string, FinishedJob>();
  const key = (j: FinishedJob) => `${j.cluster ?? ''}\u0000${j.job.jobId}`;
  for (const j of accounted) byKey.set(key(j), j);
  for (const j of queued) {
    const existing = byKey.get(key(j));
    if (!existing || progress(j.job.state) > progress(existing.job.state)) byKey.set(key(j), j);
  }
  return [...byKey.values()];
}
