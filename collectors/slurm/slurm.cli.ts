/**
 * `heatledger collect slurm` (CONTRACTS §1): prints the jobs batch once (from the local
 * Slurm or a saved file) or polls sacct/squeue and sends batches to the server.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { UsageError } from '../shared/usage-error.ts';
import { createSender, sendOnceRetry, type Sender } from '../shared/sender.ts';
import type { JobsBatch } from '../shared/wire.ts';
import type { FinishedJob } from './job-draft.ts';
import { parseSlurmOutput } from './parse-input.ts';
import { localClusterName, readLocalAssociations } from './associations.ts';
import { readLocalFairshare } from './sshare.ts';
import { readLocalSlurm, runCommand, type RunCommand } from './slurm-source.ts';

const help = `usage: heatledger collect slurm
  --once --stdout [--since ISO]            read the local sacct/squeue once and print the jobs batch
  --once --stdout --associations           read sacctmgr's associations and coordinators once and print that batch
  --once --stdout --fairshare              read sshare -a -l -P once and print the fair-share batch
  --from-file PATH --stdout                 the same from saved sacct/squeue/slurmrestd JSON or sacct -P text
  --server URL --token T [--interval 60]    poll and send (--spool-dir DIR, --state-file PATH, --overlap-min 10)
  --once --server URL --token T             one poll, then exit: 0 delivered, 75 spooled (not delivered), 1 failed
                                            (from cron or a Slurm epilog; --from-file PATH --server sends a file once)
each polling round also sends the cluster's associations (sacctmgr show associations / show account withcoord;
        --no-associations to leave memberships and grants to an administrator)
and its fair share (sshare -a -l -P, with -M CLUSTER when --cluster names one; --no-fairshare not to)
common: --cluster NAME (when the data names none), --account-map FILE (JSON {"slurm-account": "project"}),
        --tz ZONE (zone of sacct -P times without offset, default UTC), --sacct-timeout S (default 120)`;

/** Largest batch sent at once; the wire allows 100,000 but smaller bodies retry cheaper. */
const CHUNK_JOBS = 5_000;
const MAX_BACKOFF_S = 900;

/** Entry point of `heatledger collect slurm …`; returns the exit code. */
export async function slurmCli(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      options: {
        once: { type: 'boolean' },
        stdout: { type: 'boolean' },
        since: { type: 'string' },
        'from-file': { type: 'string' },
        server: { type: 'string' },
        token: { type: 'string' },
        interval: { type: 'string' },
        'spool-dir': { type: 'string' },
        'state-file': { type: 'string' },
        'overlap-min': { type: 'string' },
        cluster: { type: 'string' },
        'account-map': { type: 'string' },
        tz: { type: 'string' },
        'sacct-timeout': { type: 'string' },
        associations: { type: 'boolean' },
        'no-associations': { type: 'boolean' },
        fairshare: { type: 'boolean' },
        'no-fairshare': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError(`collect slurm: ${(error as Error).message}\n${help}`, { cause: error });
  }
  const o = parsed.values;
  if (o.help) {
    process.stdout.write(`${help}\n`);
    return 0;
  }
  const accountMap = o['account-map'] ? readAccountMap(o['account-map']) : {};
  const fallbackCluster = o.cluster ?? 'default';
  const timeoutMs = positive(o['sacct-timeout'] ?? '120', '--sacct-timeout') * 1000;
  const since = o.since ? parseIso(o.since, '--since') : null;

  if (o['from-file'] !== undefined) {
    if (!o.stdout && !o.server) throw new UsageError('collect slurm: --from-file needs --stdout or --server');
    const path = o['from-file'];
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      process.stderr.write(`collect slurm: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}\n`);
      return 1;
    }
    let jobs: FinishedJob[];
    try {
      const result = parseSlurmOutput(text, { timeZone: o.tz });
      warnAll(result.warnings, path);
      jobs = result.jobs;
    } catch (error) {
      process.stderr.write(`collect slurm: ${path} ${(error as Error).message}\n`);
      return 1;
    }
    const batches = toBatches(jobs, fallbackCluster, accountMap);
    if (o.stdout) return printBatches(batches);
    return exitCodeOf(await sendBatches(makeSender(o, { once: true }), batches));
  }

  // The polling mode's spool, watermark and overlap, shared by `--once --server` (cron) and
  // the long-running `--server` loop.
  const spoolDir = o['spool-dir'] ?? join('data', 'spool', 'slurm');
  const pollerFor = (sender: ReturnType<typeof makeSender>) =>
    createPoller({
      sender,
      stateFile: o['state-file'] ?? join('data', 'slurm-collector.state'),
      overlapMs: positive(o['overlap-min'] ?? '10', '--overlap-min') * 60_000,
      initialSince: since,
      cluster: fallbackCluster,
      accountMap,
      timeoutMs,
      associations: !o['no-associations'],
      associationsCluster: o.cluster ?? null,
      fairshare: !o['no-fairshare'],
    });

  if (o.once && o.server) {
    if (o.stdout) throw new UsageError('collect slurm: --stdout prints the batch; leave out --server');
    // One poll of the polling mode, with its spool and watermark: run from cron, each run
    // continues where the last one left off and first replays what it could not deliver.
    const sender = makeSender({ ...o, 'spool-dir': spoolDir }, { once: true });
    const poller = pollerFor(sender);
    try {
      const delivery = await poller.pollOnce();
      // Batches an earlier run left in the spool count too: delivered means none is waiting.
      const { remaining } = await sender.flush();
      return exitCodeOf({ ...delivery, spooled: remaining });
    } catch (error) {
      process.stderr.write(`collect slurm: ${(error as Error).message}\n`);
      return 1;
    }
  }

  if (o.once) {
    if (!o.stdout) throw new UsageError('collect slurm: --once needs --stdout or --server URL');
    if (o.fairshare) {
      try {
        const run = runCommand;
        process.stdout.write(`${JSON.stringify(await readLocalFairshare(o.cluster ?? null, { run, timeoutMs, accountMap, localCluster: () => localClusterName(run, timeoutMs) }))}\n`);
        return 0;
      } catch (error) {
        process.stderr.write(`collect slurm: ${(error as Error).message}\n`);
        return 1;
      }
    }
    if (o.associations) {
      try {
        process.stdout.write(`${JSON.stringify(await readLocalAssociations(o.cluster ?? null, { timeoutMs, accountMap }))}\n`);
        return 0;
      } catch (error) {
        process.stderr.write(`collect slurm: ${(error as Error).message}\n`);
        return 1;
      }
    }
    try {
      const result = await readLocalSlurm({ since: since ?? new Date(Date.now() - 24 * 3600_000), timeoutMs });
      warnAll(result.warnings, 'slurm');
      return printBatches(toBatches(result.jobs, fallbackCluster, accountMap));
    } catch (error) {
      process.stderr.write(`collect slurm: ${(error as Error).message}\n`);
      return 1;
    }
  }

  if (o.server) {
    const poller = pollerFor(makeSender({ ...o, 'spool-dir': spoolDir }));
    const intervalS = positive(o.interval ?? '60', '--interval');
    await pollForever(poller, intervalS);
    return 0;
  }
  throw new UsageError(`collect slurm: say what to do\n${help}`);
}

function makeSender(o: { server?: string; token?: string; 'spool-dir'?: string }, { once = false } = {}): Sender {
  if (!o.server || !o.token) throw new UsageError('collect slurm: --server needs --token');
  return createSender({ server: o.server, token: o.token, spoolDir: o['spool-dir'], retry: once ? sendOnceRetry : undefined });
}

/** What became of one run's batches. */
export interface Delivery {
  sent: number;
  /** Waiting in the spool: not delivered, the next run sends them first. */
  spooled: number;
  /** Neither delivered nor spooled (no spool was given): the next run reads them again. */
  failed: number;
  refused: number;
}

/** 0 only when every batch was delivered; 1 when the server refused one; 75 (EX_TEMPFAIL: try again later) when some wait. */
function exitCodeOf(d: Delivery): number {
  if (d.refused > 0) return 1;
  if (d.spooled + d.failed > 0) {
    const where = d.spooled > 0 ? `${d.spooled} batch(es) spooled` : `${d.failed} batch(es) not sent`;
    process.stderr.write(`collect slurm: not delivered: ${where}; run again when the server is back\n`);
    return 75;
  }
  return 0;
}

function positive(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`collect slurm: ${flag} must be a positive number, not '${text}'`);
  return n;
}

function parseIso(text: string, flag: string): Date {
  const ms = Date.parse(text);
  if (!Number.isFinite(ms)) throw new UsageError(`collect slurm: ${flag} '${text}' is not an ISO time`);
  return new Date(ms);
}

/** Reads the account → project mapping; a bad file stops the collector with its name. */
export function readAccountMap(path: string): Record<string, string> {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new UsageError(`collect slurm: --account-map ${path}: ${(error as Error).message}`, { cause: error });
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw new UsageError(`collect slurm: --account-map ${path}: expected a JSON object {"slurm-account": "project"}`);
  }
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string' || v.trim() === '') {
      throw new UsageError(`collect slurm: --account-map ${path}: the project for '${k}' must be a non-empty string`);
    }
  }
  return value as Record<string, string>;
}

function warnAll(warnings: string[], source: string): void {
  for (const w of warnings) process.stderr.write(`collect slurm: ${source}: ${w}\n`);
}

/** Groups records into one jobs batch per cluster, renaming accounts by the map. */
export function toBatches(jobs: FinishedJob[], fallbackCluster: string, accountMap: Record<string, string>): JobsBatch[] {
  const byCluster = new Map<string, JobsBatch>();
  for (const { cluster, job } of jobs) {
    const name = cluster ?? fallbackCluster;
    let batch = byCluster.get(name);
    if (!batch) byCluster.set(name, (batch = { schema: 1, cluster: name, jobs: [] }));
    batch.jobs.push({ ...job, account: accountMap[job.account] ?? job.account });
  }
  if (byCluster.size === 0) return [{ schema: 1, cluster: fallbackCluster, jobs: [] }];
  return [...byCluster.values()];
}

function printBatches(batches: JobsBatch[]): number {
  // One batch per line: a file that mixes clusters gives one line per cluster.
  for (const batch of batches) process.stdout.write(`${JSON.stringify(batch)}\n`);
  return 0;
}

/** Sends batches in chunks and counts what became of them; a refused batch is not sent again (that cannot help). */
async function sendBatches(sender: BatchSender, batches: JobsBatch[], log = defaultLog): Promise<Delivery> {
  const d: Delivery = { sent: 0, spooled: 0, failed: 0, refused: 0 };
  for (const batch of batches) {
    for (let i = 0; i < batch.jobs.length; i += CHUNK_JOBS) {
      const chunk = { ...batch, jobs: batch.jobs.slice(i, i + CHUNK_JOBS) };
      let outcome: Awaited<ReturnType<BatchSender['send']>>;
      try {
        outcome = await sender.send('jobs', chunk);
      } catch (error) {
        // No spool to keep it in: the batch is not delivered, and the next run reads it again.
        log(`could not send ${chunk.jobs.length} jobs of ${chunk.cluster}: ${(error as Error).message}`);
        d.failed++;
        continue;
      }
      if (outcome.status === 'sent') {
        d.sent++;
        log(`sent ${chunk.jobs.length} jobs of ${chunk.cluster} (${outcome.result.accepted} accepted, ${outcome.result.duplicates} duplicates)`);
      } else if (outcome.status === 'spooled') {
        d.spooled++;
        log(`spooled ${chunk.jobs.length} jobs of ${chunk.cluster}: ${outcome.reason}`);
      } else {
        d.refused++;
        log(`server refused ${chunk.jobs.length} jobs of ${chunk.cluster} (HTTP ${outcome.httpStatus}): ${outcome.message}`);
      }
    }
  }
  return d;
}

function defaultLog(message: string): void {
  process.stderr.write(`${new Date().toISOString()} collect slurm: ${message}\n`);
}

/** The part of the shared sender the collector uses. */
export type BatchSender = Pick<Sender, 'send'>;

export interface PollerOptions {
  sender: BatchSender;
  stateFile: string;
  overlapMs: number;
  initialSince: Date | null;
  cluster: string;
  accountMap: Record<string, string>;
  timeoutMs: number;
  /** Also send the cluster's associations each round (default on). */
  associations?: boolean;
  /** Whose associations: --cluster, else (null or absent) the local cluster as scontrol names it. */
  associationsCluster?: string | null;
  /** Also send the cluster's fair share (`sshare -a -l -P`) each round (default on). */
  fairshare?: boolean;
  run?: RunCommand;
  now?: () => Date;
  log?: (message: string) => void;
}

export interface Poller {
  /** One poll: rejects when Slurm could not be read; else what became of the batches. */
  pollOnce(): Promise<Delivery>;
  watermark(): Date;
}

/**
 * Polls from a watermark kept in a state file: each poll asks sacct for jobs since the
 * last poll minus an overlap, because records reach slurmdbd late; the server replaces
 * a job it has seen, so the overlap costs duplicates, never double counting.
 */
export function createPoller(options: PollerOptions): Poller {
  const now = options.now ?? (() => new Date());
  const log = options.log ?? defaultLog;
  let mark = loadWatermark(options.stateFile) ?? options.initialSince ?? new Date(now().getTime() - 24 * 3600_000);
  return {
    watermark: () => mark,
    async pollOnce() {
      const started = now();
      const since = new Date(mark.getTime() - options.overlapMs);
      const result = await readLocalSlurm({ since, run: options.run, timeoutMs: options.timeoutMs });
      for (const w of result.warnings) log(w);
      const delivery = await sendBatches(options.sender, toBatches(result.jobs, options.cluster, options.accountMap), log);
      if (options.associations !== false) await sendAssociations(options, delivery, log);
      if (options.fairshare !== false) await sendFairshare(options, delivery, log);
      // Sent or spooled batches are safe on disk; a refused one would be refused again. One
      // neither sent nor spooled is read again next time: the watermark stays.
      if (delivery.failed === 0) {
        mark = started;
        saveWatermark(options.stateFile, mark);
      }
      return delivery;
    },
  };
}

/**
 * Sends the cluster's associations (memberships, coordinators, limits). Slurm that cannot be
 * asked (sacctmgr missing, no permission) is logged and the jobs still count as delivered:
 * memberships then stay as the last batch left them.
 */
async function sendAssociations(options: PollerOptions, d: Delivery, log: (m: string) => void): Promise<void> {
  let batch;
  try {
    batch = await readLocalAssociations(options.associationsCluster === undefined ? options.cluster : options.associationsCluster, { run: options.run, timeoutMs: options.timeoutMs, accountMap: options.accountMap });
  } catch (error) {
    log(`associations not read: ${(error as Error).message}`);
    return;
  }
  try {
    const outcome = await options.sender.send('associations', batch);
    if (outcome.status === 'sent') {
      d.sent++;
      const r = outcome.result as typeof outcome.result & { memberships?: { added: number; removed: number }; warnings?: string[] };
      log(`sent ${batch.associations.length} associations of ${batch.cluster} (${r.memberships?.added ?? 0} memberships added, ${r.memberships?.removed ?? 0} removed)`);
      for (const w of r.warnings ?? []) log(`associations: ${w}`);
    } else if (outcome.status === 'spooled') {
      d.spooled++;
      log(`spooled the associations of ${batch.cluster}: ${outcome.reason}`);
    } else {
      d.refused++;
      log(`server refused the associations of ${batch.cluster} (HTTP ${outcome.httpStatus}): ${outcome.message}`);
    }
  } catch (error) {
    d.failed++;
    log(`could not send the associations of ${batch.cluster}: ${(error as Error).message}`);
  }
}

/**
 * Sends the cluster's fair share. Like the associations, an sshare that cannot be run or
 * read (missing, no permission, output of another shape) is logged and the jobs still count
 * as delivered; the server then keeps the last fair share it had.
 */
async function sendFairshare(options: PollerOptions, d: Delivery, log: (m: string) => void): Promise<void> {
  const run = options.run ?? runCommand;
  let batch;
  try {
    batch = await readLocalFairshare(options.associationsCluster === undefined ? options.cluster : options.associationsCluster, {
      run,
      timeoutMs: options.timeoutMs,
      accountMap: options.accountMap,
      now: options.now,
      localCluster: () => localClusterName(run, options.timeoutMs),
    });
  } catch (error) {
    log(`fair share not read: ${(error as Error).message}`);
    return;
  }
  try {
    const outcome = await options.sender.send('fairshare', batch);
    if (outcome.status === 'sent') {
      d.sent++;
      log(`sent the fair share of ${batch.cluster} (${batch.rows.length} rows)`);
    } else if (outcome.status === 'spooled') {
      d.spooled++;
      log(`spooled the fair share of ${batch.cluster}: ${outcome.reason}`);
    } else {
      d.refused++;
      log(`server refused the fair share of ${batch.cluster} (HTTP ${outcome.httpStatus}): ${outcome.message}`);
    }
  } catch (error) {
    d.failed++;
    log(`could not send the fair share of ${batch.cluster}: ${(error as Error).message}`);
  }
}

function loadWatermark(path: string): Date | null {
  if (!existsSync(path)) return null;
  try {
    const state = JSON.parse(readFileSync(path, 'utf8')) as { watermark?: string };
    const ms = Date.parse(state.watermark ?? '');
    if (Number.isFinite(ms)) return new Date(ms);
  } catch {
    // A corrupt state file costs one wider first poll, not a stop.
  }
  defaultLog(`state file ${path} is unreadable; starting from --since or 24 h ago`);
  return null;
}

function saveWatermark(path: string, mark: Date): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ watermark: mark.toISOString() })}\n`);
  renameSync(tmp, path);
}

/** Next wait after `failures` consecutive failed polls: the interval, doubled each time, capped. */
export function backoffS(intervalS: number, failures: number): number {
  return failures === 0 ? intervalS : Math.min(MAX_BACKOFF_S, intervalS * 2 ** Math.min(failures, 10));
}

async function pollForever(poller: Poller, intervalS: number): Promise<void> {
  let stop = false;
  let wake: (() => void) | null = null;
  const onSignal = () => {
    stop = true;
    wake?.();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let failures = 0;
  while (!stop) {
    try {
      const delivery = await poller.pollOnce();
      if (delivery.failed > 0) throw new Error(`${delivery.failed} batch(es) could be neither sent nor spooled`);
      failures = 0;
    } catch (error) {
      failures++;
      defaultLog(`${(error as Error).message}; retrying in ${backoffS(intervalS, failures)} s (failure ${failures})`);
    }
    if (stop) break;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, backoffS(intervalS, failures) * 1000);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
}
