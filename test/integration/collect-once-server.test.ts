/**
 * Issue 15.2: every collector runs one round with `--once --server URL --token T` (from
 * cron or a Slurm epilog) and says by its exit status whether the round was delivered:
 * 0 when the server took it, 75 (EX_TEMPFAIL) when it waits in the spool. Against the
 * real app listening on loopback, and against a port nothing listens on. Slurm's and
 * nvidia-smi's commands are small scripts on PATH that print what a site's would.
 */
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve, type ServerType } from '@hono/node-server';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { facilityCli } from '../../collectors/facility/facility.cli.ts';
import { gpuCli } from '../../collectors/gpu/gpu.cli.ts';
import { slurmCli } from '../../collectors/slurm/slurm.cli.ts';
import { captureOutput } from '../support/capture-output.ts';
import { makeApp } from '../support/factories.ts';

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const work = mkdtempSync(join(tmpdir(), 'hl-once-server-'));
const originalPath = process.env.PATH ?? '';

let t: ReturnType<typeof makeApp>;
let http: ServerType;
let serverUrl: string;
/** A loopback port with nothing listening. */
let deadUrl: string;

beforeAll(async () => {
  t = makeApp({ now: Date.now() });
  http = serve({ fetch: t.app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((ok) => (http.listening ? ok() : http.once('listening', () => ok())));
  serverUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const probe = createServer();
  await new Promise<void>((ok) => probe.listen(0, '127.0.0.1', ok));
  deadUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}`;
  await new Promise<void>((ok) => probe.close(() => ok()));
});
afterAll(async () => {
  await new Promise<void>((ok) => http.close(() => ok()));
  rmSync(work, { recursive: true, force: true });
});
afterEach(() => {
  process.env.PATH = originalPath;
  vi.restoreAllMocks();
});

/** Puts executable scripts named after the keys on PATH, each printing its file. */
function fakeCommands(name: string, outputs: Record<string, string>): void {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  for (const [command, output] of Object.entries(outputs)) {
    writeFileSync(join(dir, `${command}.out`), output);
    writeFileSync(join(dir, command), `#!/bin/sh\ncat '${join(dir, `${command}.out`)}'\n`);
    chmodSync(join(dir, command), 0o755);
  }
  // No accounting database here: the associations and fair-share reads fail as they would
  // without permission, whether or not a real Slurm is installed (CI has one).
  for (const command of ['sacctmgr', 'sshare', 'scontrol']) {
    if (command in outputs) continue;
    writeFileSync(join(dir, command), `#!/bin/sh\necho '${command}: no accounting database here' >&2\nexit 1\n`);
    chmodSync(join(dir, command), 0o755);
  }
  process.env.PATH = `${dir}:${originalPath}`;
}

const spooled = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.json'));

describe('collect slurm --once --server', () => {
  const nowS = Math.floor(Date.now() / 1000);
  // sacct --json: job 501 ran two hours on 4 GPUs and ended an hour ago; squeue --json: job 502 waits for 2.
  const sacct = JSON.stringify({
    meta: { slurm: { version: { major: '24', minor: '05' }, cluster: 'bitten' } },
    errors: [],
    jobs: [
      {
        job_id: 501, name: 'train', user: 'ann', account: 'slurm-llm', partition: 'gpu', qos: 'normal', cluster: 'bitten',
        state: { current: ['COMPLETED'] }, time: { submission: nowS - 4 * 3600, eligible: nowS - 4 * 3600, start: nowS - 3 * 3600, end: nowS - 3600 },
        tres: { allocated: [{ type: 'cpu', count: 16 }, { type: 'gres', name: 'gpu', count: 4 }], requested: [{ type: 'gres', name: 'gpu', count: 4 }] },
        nodes: 'g01', array: { job_id: 0, task_id: { set: false } }, exit_code: { status: ['SUCCESS'], return_code: { set: true, number: 0 } },
      },
    ],
  });
  const squeue = JSON.stringify({
    meta: { slurm: { version: { major: '24', minor: '05' }, cluster: 'bitten' } },
    errors: [],
    jobs: [
      {
        job_id: 502, name: 'eval', user_name: 'bo', account: 'slurm-llm', partition: 'gpu', cluster: 'bitten', job_state: ['PENDING'],
        submit_time: { set: true, number: nowS - 600 }, start_time: { set: true, number: 0 }, end_time: { set: true, number: 0 },
        tres_per_job: 'gres/gpu:2', tres_alloc_str: '', nodes: '', node_count: 1, array_job_id: { set: true, number: 0 }, array_task_id: { set: false },
      },
    ],
  });

  it('sends one poll, exits 0 when delivered, and keeps the watermark for the next run', async () => {
    fakeCommands('slurm-up', { sacct, squeue });
    const map = join(work, 'map.json');
    writeFileSync(map, JSON.stringify({ 'slurm-llm': 'dtu-llm' }));
    const spoolDir = join(work, 'slurm-spool-up');
    const stateFile = join(work, 'slurm-up.state');
    const { err } = captureOutput();
    const before = Date.now();
    const code = await slurmCli(['--once', '--server', serverUrl, '--token', t.tokens.ingest, '--account-map', map, '--spool-dir', spoolDir, '--state-file', stateFile]);
    expect(err.join('')).toMatch(/sent 2 jobs of bitten \(2 accepted, 0 duplicates\)/);
    expect(code).toBe(0);
    const rows = t.db.$client.prepare("SELECT job_id AS jobId, account, state, gpus FROM jobs WHERE cluster = 'bitten' ORDER BY job_id").all();
    expect(rows).toEqual([
      { jobId: '501', account: 'dtu-llm', state: 'COMPLETED', gpus: 4 },
      { jobId: '502', account: 'dtu-llm', state: 'PENDING', gpus: 2 },
    ]);
    expect(spooled(spoolDir)).toEqual([]);
    const mark = Date.parse((JSON.parse(readFileSync(stateFile, 'utf8')) as { watermark: string }).watermark);
    expect(mark).toBeGreaterThanOrEqual(before);
  });

  it('spools and exits 75, saying so, when the server cannot be reached; the next run delivers it', async () => {
    fakeCommands('slurm-down', { sacct, squeue });
    const spoolDir = join(work, 'slurm-spool-down');
    const stateFile = join(work, 'slurm-down.state');
    const common = ['--token', t.tokens.ingest, '--cluster', 'other', '--spool-dir', spoolDir, '--state-file', stateFile];
    const { err } = captureOutput();
    expect(await slurmCli(['--once', '--server', deadUrl, ...common])).toBe(75);
    expect(err.join('')).toMatch(/spooled 2 jobs of bitten: cannot reach/);
    expect(err.join('')).toMatch(/collect slurm: not delivered: 1 batch\(es\) spooled/);
    expect(spooled(spoolDir)).toHaveLength(1);

    // Server back: the spooled batch goes first, then this run's; nothing waits.
    t.db.$client.prepare("DELETE FROM jobs WHERE cluster = 'bitten'").run();
    expect(await slurmCli(['--once', '--server', serverUrl, ...common])).toBe(0);
    expect(spooled(spoolDir)).toEqual([]);
    expect(t.db.$client.prepare("SELECT COUNT(*) AS n FROM jobs WHERE cluster = 'bitten'").get()).toEqual({ n: 2 });
  }, 30_000);

  it('--from-file --server: a file that could not be delivered exits 75, not 0', async () => {
    const file = join(work, 'jobs.psv');
    writeFileSync(file, 'JobID|Cluster|User|Account|Partition|Submit|Start|End|State|AllocTRES|ElapsedRaw\n77|tiny|ann|a|gpu|2026-02-01T10:00:00|2026-02-01T10:00:30|2026-02-01T11:00:30|COMPLETED|gres/gpu=1|3600\n');
    const spoolDir = join(work, 'slurm-file-spool');
    const { err } = captureOutput();
    expect(await slurmCli(['--from-file', file, '--server', deadUrl, '--token', 'x', '--spool-dir', spoolDir])).toBe(75);
    expect(spooled(spoolDir)).toHaveLength(1);
    // Without a spool the batch is simply not sent: still 75, and the file can be sent again.
    expect(await slurmCli(['--from-file', file, '--server', deadUrl, '--token', 'x'])).toBe(75);
    expect(err.join('')).toMatch(/could not send 1 jobs of tiny: cannot reach/);
  }, 30_000);

  it('refuses --once --server together with --stdout', async () => {
    await expect(slurmCli(['--once', '--stdout', '--server', serverUrl, '--token', 'x'])).rejects.toThrow(/--stdout prints the batch; leave out --server/);
  });
});

describe('collect gpu --once --server', () => {
  const xml = readFileSync(join(repoRoot, 'test/fixtures/nvidia-smi/h200-x2-mig-handwritten.xml'), 'utf8');

  it('exits 0 when the batch was delivered and 75 when it was spooled', async () => {
    fakeCommands('nvidia', { 'nvidia-smi': xml });
    const spoolDir = join(work, 'gpu-spool');
    const args = ['--once', '--token', t.tokens.ingest, '--cluster', 'bitten', '--node', 'g07', '--proc-root', join(work, 'no-proc'), '--spool-dir', spoolDir];
    const { err } = captureOutput();
    expect(await gpuCli([...args, '--server', serverUrl])).toBe(0);
    // The document's two GPUs, one sample each, under node g07.
    const stored = t.db.$client
      .prepare("SELECT COUNT(*) AS n FROM gpu_samples s JOIN gpus g ON g.id = s.gpu_id JOIN nodes n ON n.id = g.node_id WHERE n.cluster = 'bitten' AND n.name = 'g07'")
      .get();
    expect(stored).toEqual({ n: 2 });
    expect(await gpuCli([...args, '--server', deadUrl])).toBe(75);
    expect(err.join('')).toMatch(/batch spooled, not delivered: cannot reach/);
    expect(spooled(spoolDir)).toHaveLength(1);
  }, 30_000);
});

describe('collect facility --once --server', () => {
  it('exits 0 when the readings were delivered and 75 when they were spooled', async () => {
    const ts = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000).toISOString();
    const file = join(work, 'meters.csv');
    writeFileSync(file, `timestamp,meter,quantity,value\n${ts},site,facilityPowerW,412000\n${ts},site,itPowerW,350000\n`);
    const spoolDir = join(work, 'facility-spool');
    const args = ['--from-file', file, '--site', 'once-site', '--once', '--token', t.tokens.ingest, '--spool-dir', spoolDir];
    const { err } = captureOutput();
    expect(await facilityCli([...args, '--server', serverUrl])).toBe(0);
    expect(t.db.$client.prepare("SELECT quantity, value FROM facility_readings WHERE site = 'once-site' ORDER BY quantity").all()).toEqual([
      { quantity: 'facilityPowerW', value: 412000 },
      { quantity: 'itPowerW', value: 350000 },
    ]);
    expect(await facilityCli([...args, '--server', deadUrl])).toBe(75);
    expect(err.join('')).toMatch(/batch spooled, not delivered: cannot reach/);
    expect(spooled(spoolDir)).toHaveLength(1);
  }, 30_000);
});
