/**
 * End to end against a real Slurm (CI starts it with .ci/slurm/start.sh and sets
 * HEATLEDGER_SLURM=1): submits the contention workload of .ci/slurm/jobs.sh, runs the
 * polling `heatledger collect slurm --server …` process for a few polls into the real
 * `heatledger serve` process, and checks what the server holds and answers, job by job
 * and per partition, against `sacct -P` read here independently: account, partition,
 * state, GPUs and times from the database file; GPU-hours per project from
 * /api/v1/usage against AllocTRES × ElapsedRaw; wait percentiles per partition from
 * /api/v1/waits against percentile_cont over Start − Submit worked out here.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenByCli, exited, startServerProcess, type ServerProcess } from '../support/server-process.ts';
import { missing } from '../support/requirements.ts';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = join(repoRoot, 'bin', 'heatledger.js');
const hasSacct = spawnSync('sh', ['-c', 'command -v sacct'], { encoding: 'utf8' }).status === 0;
const enabled = hasSacct && process.env.HEATLEDGER_SLURM === '1';
const ciDir = process.env.SLURM_CI_DIR ?? '/tmp/heatledger-slurm';
const env = { ...process.env, SLURM_CONF: process.env.SLURM_CONF ?? join(ciDir, 'etc', 'slurm.conf'), TZ: 'UTC' };

interface SacctJob {
  jobId: string;
  account: string;
  partition: string;
  /** Base state word: `CANCELLED by 0` → `CANCELLED`. */
  state: string;
  submitMs: number;
  startMs: number | null;
  endMs: number | null;
  gpus: number;
  elapsedS: number;
  /** Refused at submission: start = end = submit and nothing allocated. */
  rejected: boolean;
}

/** `sacct -P` with a header, read by column name; times (TZ=UTC) as epoch ms. */
function readSacct(since: string): SacctJob[] {
  const text = execFileSync(
    'sacct',
    ['-a', '-X', '-P', '-S', since.replace(/Z$/, ''), '-o', 'JobID,Account,Partition,State,Submit,Start,End,AllocTRES,ElapsedRaw'],
    { env, encoding: 'utf8' },
  );
  const [header, ...lines] = text.trim().split('\n');
  const cols = header!.split('|');
  const ms = (t: string) => (/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/.test(t) ? Date.parse(`${t}Z`) : null);
  return lines.map((line) => {
    const f = Object.fromEntries(line.split('|').map((v, i) => [cols[i], v])) as Record<string, string>;
    const gpu = /(?:^|,)gres\/gpu=(\d+)/.exec(f.AllocTRES!);
    const submitMs = ms(f.Submit!)!;
    const startMs = ms(f.Start!);
    const endMs = ms(f.End!);
    return {
      jobId: f.JobID!,
      account: f.Account!,
      partition: f.Partition!,
      state: f.State!.split(' ')[0]!,
      submitMs,
      startMs,
      endMs,
      gpus: gpu ? Number(gpu[1]) : 0,
      elapsedS: Number(f.ElapsedRaw),
      rejected: f.AllocTRES === '' && startMs === submitMs && endMs === submitMs,
    };
  });
}

/** percentile_cont: linear interpolation between the closest ranks of the sorted values. */
function percentileCont(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = p * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

interface StoredJob {
  jobId: string;
  account: string;
  partition: string | null;
  state: string;
  gpus: number;
  submitTs: number;
  startTs: number | null;
  endTs: number | null;
}

const SENT = /sent (\d+) jobs of (\S+) \((\d+) accepted, (\d+) duplicates\)/g;

describe.skipIf(missing('a real Slurm (sacct on PATH and HEATLEDGER_SLURM=1)', enabled))('collect slurm (polling process) against a real Slurm into the real server', () => {
  const work = mkdtempSync(join(tmpdir(), 'hl-e2e-slurm-'));
  let server: ServerProcess | null = null;
  let collector: ChildProcess | null = null;
  let collectorLog = '';
  let collectorExit: number | null = null;
  let readToken = '';
  let since = '';
  let sacct: SacctJob[] = [];
  let stored: StoredJob[] = [];
  let fromMs = 0;
  let toMs = 0;

  beforeAll(async () => {
    const out = execFileSync(join(repoRoot, '.ci', 'slurm', 'jobs.sh'), { env, encoding: 'utf8', timeout: 150_000 });
    since = /since=(\S+)/.exec(out)![1]!;
    // Earlier runs on the same cluster may fall inside sacct's window; keep this workload's.
    sacct = readSacct(since).filter((r) => r.submitMs >= Date.parse(since));

    server = await startServerProcess();
    const ingestToken = createTokenByCli(server.dbPath, 'e2e-slurm-ingest', 'ingest');
    readToken = createTokenByCli(server.dbPath, 'e2e-slurm-read', 'read');
    collector = spawn(
      process.execPath,
      [cli, 'collect', 'slurm', '--server', server.url, '--token', ingestToken, '--interval', '2', '--since', since,
        '--state-file', join(work, 'slurm.state'), '--spool-dir', join(work, 'spool')],
      { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    collector.stdout!.on('data', (d: Buffer) => (collectorLog += d.toString()));
    collector.stderr!.on('data', (d: Buffer) => (collectorLog += d.toString()));
    // Two polls: the first sends the workload, the second sends it again from the watermark's overlap.
    const deadline = Date.now() + 60_000;
    while ([...collectorLog.matchAll(SENT)].length < 2) {
      if (Date.now() > deadline || collector.exitCode !== null) throw new Error(`collector did not poll twice:\n${collectorLog}`);
      await sleep(200);
    }
    collector.kill('SIGTERM');
    collectorExit = await exited(collector);

    const db = new Database(server.dbPath, { readonly: true, fileMustExist: true });
    try {
      stored = db
        .prepare(
          `SELECT job_id AS jobId, account, partition, state, gpus, submit_ts AS submitTs, start_ts AS startTs, end_ts AS endTs
           FROM jobs WHERE cluster = 'ci' AND submit_ts >= ?`,
        )
        .all(Date.parse(since)) as StoredJob[];
    } finally {
      db.close();
    }
    // A window that starts at this workload's first submission and ends after it.
    fromMs = Date.parse(since);
    toMs = Math.ceil((Date.now() + 60_000) / 1000) * 1000;
  }, 240_000);

  afterAll(async () => {
    if (collector && collector.exitCode === null && collector.signalCode === null) {
      collector.kill('SIGKILL');
      await exited(collector);
    }
    await server?.stop();
    rmSync(work, { recursive: true, force: true });
    if (server) rmSync(dirname(server.dbPath), { recursive: true, force: true });
  });

  async function read<T>(path: string): Promise<T> {
    const res = await fetch(`${server!.url}${path}`, { headers: { authorization: `Bearer ${readToken}` } });
    expect(res.status, path).toBe(200);
    return (await res.json()) as T;
  }
  const window = () => `from=${new Date(fromMs).toISOString()}&to=${new Date(toMs).toISOString()}`;

  it('polled, sent the workload, sent it again as duplicates, and stopped on SIGTERM', () => {
    expect(collectorExit, collectorLog).toBe(0);
    const polls = [...collectorLog.matchAll(SENT)].map((m) => ({ sent: Number(m[1]), cluster: m[2], accepted: Number(m[3]), duplicates: Number(m[4]) }));
    // The workload: 3 + 2 + fail + cancel + 2 array tasks + 1 recorded rejection.
    expect(sacct.length).toBe(10);
    // Each poll reaches back past --since by the overlap, so it may carry earlier runs' jobs too.
    expect(polls[0]!.cluster).toBe('ci');
    expect(polls[0]!.sent).toBeGreaterThanOrEqual(sacct.length);
    expect(polls[1]!.sent).toBeGreaterThanOrEqual(sacct.length);
    expect(polls[1]).toMatchObject({ accepted: 0, duplicates: polls[1]!.sent });
  });

  it('holds every job sacct knows, once, with its account, partition, state, GPUs and times', () => {
    expect(stored.map((j) => j.jobId).sort()).toEqual(sacct.map((r) => r.jobId).sort());
    for (const row of sacct) {
      const job = stored.find((j) => j.jobId === row.jobId);
      expect(job, row.jobId).toEqual({
        jobId: row.jobId,
        account: row.account,
        partition: row.partition,
        state: row.state,
        gpus: row.gpus,
        submitTs: row.submitMs,
        // A rejected submission never started (CONTRACTS §2.2: start is null until it does).
        startTs: row.rejected ? null : row.startMs,
        endTs: row.endMs,
      });
    }
    const states = new Set(sacct.map((r) => r.state));
    expect(states).toEqual(new Set(['COMPLETED', 'FAILED', 'CANCELLED']));
  });

  it('gives each project the GPU-hours that AllocTRES × ElapsedRaw give', async () => {
    const expected = new Map<string, { gpuHours: number; jobs: number }>();
    for (const r of sacct) {
      if (r.rejected || r.startMs === null) continue;
      const e = expected.get(r.account) ?? { gpuHours: 0, jobs: 0 };
      e.gpuHours += (r.gpus * r.elapsedS) / 3600;
      e.jobs++;
      expected.set(r.account, e);
    }
    // Completed jobs alone, for the record: the same sum the committee checks against sreport.
    const completedGpuS = sacct.filter((r) => r.state === 'COMPLETED').reduce((s, r) => s + r.gpus * r.elapsedS, 0);
    expect(completedGpuS).toBeGreaterThanOrEqual(3 * 2 * 4);
    const { rows } = await read<{ rows: Array<{ key: string; gpuHours: number; jobs: number }> }>(`/api/v1/usage?${window()}&groupBy=project`);
    expect(rows.map((r) => r.key).sort()).toEqual([...expected.keys()].sort());
    for (const [account, e] of expected) {
      const row = rows.find((r) => r.key === account)!;
      expect(row.gpuHours, account).toBeCloseTo(e.gpuHours, 9);
      expect(row.jobs, account).toBe(e.jobs);
    }
  });

  it('gives per partition the wait percentiles of Start − Submit over the jobs that started in the window', async () => {
    const waits = new Map<string, number[]>();
    for (const r of sacct) {
      if (r.rejected || r.startMs === null || r.startMs < fromMs || r.startMs >= toMs) continue;
      waits.set(r.partition, [...(waits.get(r.partition) ?? []), (r.startMs - r.submitMs) / 1000]);
    }
    expect([...waits.keys()].sort()).toEqual(['batch', 'gpu']);
    // Contention: some GPU job waited for GPUs.
    expect(Math.max(...waits.get('gpu')!)).toBeGreaterThanOrEqual(3);
    const { rows } = await read<{ rows: Array<{ key: string; jobs: number; meanS: number; p50S: number; p90S: number; p99S: number; maxS: number }> }>(
      `/api/v1/waits?${window()}&groupBy=partition`,
    );
    expect(rows.map((r) => r.key).sort()).toEqual([...waits.keys()].sort());
    for (const [partition, w] of waits) {
      const row = rows.find((r) => r.key === partition)!;
      expect(row.jobs, partition).toBe(w.length);
      expect(row.meanS, partition).toBeCloseTo(w.reduce((s, x) => s + x, 0) / w.length, 9);
      expect(row.p50S, partition).toBeCloseTo(percentileCont(w, 0.5), 9);
      expect(row.p90S, partition).toBeCloseTo(percentileCont(w, 0.9), 9);
      expect(row.p99S, partition).toBeCloseTo(percentileCont(w, 0.99), 9);
      expect(row.maxS, partition).toBe(Math.max(...w));
    }
  });
});
