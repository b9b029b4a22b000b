/**
 * The GPU collector end to end: the real node-nvidia-smi against a fake `nvidia-smi` on
 * PATH that prints a recorded document, a fake /proc for Slurm jobs, the CLI as a child
 * process, and the sending loop against a local HTTP server that goes away for a while.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { sampleGpus } from '../../collectors/gpu/sample.ts';
import { gpuBatchSchema, type GpuBatch } from '../../collectors/shared/wire.ts';
import { missing } from '../support/requirements.ts';

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const ownDoc = join(repoRoot, 'test/fixtures/nvidia-smi/h200-x2-mig-handwritten.xml');
const sharedDoc = resolve(repoRoot, '../shared/fixtures/nvidia-smi/xml/datakit_tesla-v100-pcie-32gb_460.39_v11dtd.xml');
const work = mkdtempSync(join(tmpdir(), 'heatledger-gpu-it-'));
const originalPath = process.env.PATH ?? '';
afterAll(() => rmSync(work, { recursive: true, force: true }));
afterEach(() => {
  process.env.PATH = originalPath;
});

/** A directory holding an executable `nvidia-smi` that runs `body`. */
function fakeNvidiaSmiDir(name: string, body: string): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'nvidia-smi'), `#!/bin/sh\n${body}\n`);
  chmodSync(join(dir, 'nvidia-smi'), 0o755);
  return dir;
}

/** A fake /proc: pid 4242 in job 12345 (cgroup v1), 5555 in job 777 (cgroup v2), 4343 gone. */
function fakeProc(): string {
  const proc = join(work, 'proc');
  mkdirSync(join(proc, '4242'), { recursive: true });
  writeFileSync(join(proc, '4242', 'cgroup'), '11:memory:/slurm/uid_1000/job_12345/step_0/task_0\n4:devices:/slurm/uid_1000/job_12345/step_0\n');
  mkdirSync(join(proc, '5555'), { recursive: true });
  writeFileSync(join(proc, '5555', 'cgroup'), '0::/system.slice/slurmstepd.scope/job_777/step_0/user/task_0\n');
  return proc;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(args: string[], pathPrefix: string | null): Promise<Run> & { child: ReturnType<typeof spawn> } {
  const child = spawn(process.execPath, [join(repoRoot, 'bin/heatledger.js'), ...args], {
    cwd: repoRoot,
    env: { ...process.env, PATH: pathPrefix === null ? join(work, 'nothing-here') : `${pathPrefix}:${originalPath}` },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<Run>((res) => child.on('close', (code) => res({ code, stdout, stderr })));
  return Object.assign(done, { child });
}

// What the hand-written document says, read off the XML: GPU 0 (minor 3) reports no
// power_draw, so average 612.40 W; GPU 1 (minor 5) has average N/A, so instant 233.50 W;
// limits are current_power_limit; module and memory power are ignored.
function expectOwnDocument(batch: GpuBatch): void {
  expect(gpuBatchSchema.safeParse(batch).success).toBe(true);
  const [a, b] = batch.samples;
  expect(batch.samples).toHaveLength(2);
  expect(a).toMatchObject({
    gpuUuid: 'GPU-0a0a0a0a-1111-2222-3333-444444444444', gpuIndex: 3, model: 'NVIDIA H200', utilPct: 87,
    memUsedMiB: 70123, memTotalMiB: 143771, powerW: 612.4, powerLimitW: 700, tempC: 61,
    processes: [{ pid: 4242, usedMemMiB: 70000, jobId: '12345' }, { pid: 4343, usedMemMiB: null, jobId: null }],
    jobIds: ['12345'],
  });
  expect(a.migDevices).toBeUndefined();
  expect(b).toMatchObject({
    gpuUuid: 'GPU-0b0b0b0b-1111-2222-3333-444444444444', gpuIndex: 5, utilPct: null,
    memUsedMiB: 30014, memTotalMiB: 143771, powerW: 233.5, powerLimitW: 700, tempC: 44,
    processes: [{ pid: 5555, usedMemMiB: 29980, jobId: '777' }], jobIds: ['777'],
    migDevices: [
      { gpuInstanceId: 2, computeInstanceId: 0, memUsedMiB: 30001, memTotalMiB: 71424, processes: [{ pid: 5555, usedMemMiB: 29980, jobId: '777' }] },
      { gpuInstanceId: 9, computeInstanceId: 0, memUsedMiB: 13, memTotalMiB: 35584, processes: [] },
    ],
  });
}

describe('sampling through node-nvidia-smi and a fake nvidia-smi', () => {
  it('samples the recorded document with jobs from the fake /proc', async () => {
    process.env.PATH = `${fakeNvidiaSmiDir('own', `cat '${ownDoc}'`)}:${originalPath}`;
    const samples = await sampleGpus({ procRoot: fakeProc(), now: () => new Date('2026-11-28T10:00:00.000Z') });
    expectOwnDocument({ schema: 1, cluster: 'c', node: 'n', samples });
    expect(samples.map((s) => s.ts)).toEqual(['2026-11-28T10:00:00.000Z', '2026-11-28T10:00:00.000Z']);
  });

  it.skipIf(missing('../shared/fixtures/nvidia-smi', existsSync(sharedDoc)))('samples a real V100 capture from the shared corpus', async () => {
    process.env.PATH = `${fakeNvidiaSmiDir('v100', `cat '${sharedDoc}'`)}:${originalPath}`;
    const [sample] = await sampleGpus({ procRoot: join(work, 'empty-proc') });
    // From the capture: 91 %, 12311/32510 MiB, 170.16 W of 250 W, 66 C, four processes.
    expect(sample).toMatchObject({ gpuUuid: 'GPU-e77ce5d8-8b63-c936-3c1b-839d45bcd0f2', utilPct: 91, memUsedMiB: 12311, memTotalMiB: 32510, powerW: 170.16, powerLimitW: 250, tempC: 66, jobIds: [] });
    expect(sample.processes?.map((p) => p.pid)).toEqual([4027538, 4027590, 4157880, 4165319]);
  });
});

describe('heatledger collect gpu (child process)', () => {
  it('--once --stdout prints one GPU batch', async () => {
    const dir = fakeNvidiaSmiDir('cli', `cat '${ownDoc}'`);
    const before = Date.now();
    const run = await runCli(['collect', 'gpu', '--once', '--stdout', '--cluster', 'bitten', '--node', 'gpu-n01', '--proc-root', fakeProc()], dir);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout.trim().split('\n')).toHaveLength(1);
    const batch = JSON.parse(run.stdout) as GpuBatch;
    expect(batch).toMatchObject({ schema: 1, cluster: 'bitten', node: 'gpu-n01' });
    expectOwnDocument(batch);
    // Stamped by the collector's clock, in UTC with Z.
    const ts = batch.samples[0].ts;
    expect(ts).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Date.parse(ts)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(ts)).toBeLessThanOrEqual(Date.now());
  });

  it('exits non-zero with one line naming nvidia-smi when it is missing', async () => {
    const run = await runCli(['collect', 'gpu', '--once', '--stdout'], null);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/nvidia-smi was not found on PATH/);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it('exits non-zero when nvidia-smi hangs past --nvidia-smi-timeout', async () => {
    const dir = fakeNvidiaSmiDir('hang', 'exec sleep 30');
    const started = Date.now();
    const run = await runCli(['collect', 'gpu', '--once', '--stdout', '--nvidia-smi-timeout', '1'], dir);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/nvidia-smi did not answer within 1 s/);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('refuses bad flags with exit code 2', async () => {
    const run = await runCli(['collect', 'gpu', '--interval', 'soon', '--server', 'http://x', '--token', 't'], null);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--interval must be a positive number/);
    const unknown = await runCli(['collect', 'gpu', '--frobnicate'], null);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/frobnicate/);
  });

  it('keeps sampling while the server is away, then delivers every batch once, oldest first, and flushes on SIGTERM', async () => {
    let mode: 'down' | 'up' = 'down';
    const received: { status: number; key: string; ts: string; auth: string | undefined }[] = [];
    const server: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const batch = JSON.parse(body) as GpuBatch;
        const status = mode === 'up' ? 202 : 503;
        received.push({ status, key: String(req.headers['idempotency-key']), ts: batch.samples[0].ts, auth: req.headers.authorization });
        res.writeHead(status, { 'content-type': 'application/json' }).end(status === 202 ? '{"accepted":2,"duplicates":0}' : '{"error":{"code":"DOWN","message":"maintenance"}}');
      });
    });
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const spoolDir = join(work, 'spool');
    const tokenFile = join(work, 'token');
    writeFileSync(tokenFile, 'secret-ingest-token\n');
    const dir = fakeNvidiaSmiDir('loop', `cat '${ownDoc}'`);
    const run = runCli(['collect', 'gpu', '--server', url, '--token-file', tokenFile, '--interval', '0.2', '--max-backoff', '0.4',
      '--spool-dir', spoolDir, '--cluster', 'bitten', '--node', 'gpu-n01', '--proc-root', fakeProc()], dir);
    const waitFor = async (what: () => boolean) => {
      const deadline = Date.now() + 20_000;
      while (!what()) {
        if (Date.now() > deadline) throw new Error(`timed out; received ${JSON.stringify(received)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      await waitFor(() => received.filter((r) => r.status === 503).length >= 2);
      await waitFor(() => readdirSync(spoolDir).filter((f) => f.endsWith('.json')).length >= 3);
      mode = 'up';
      await waitFor(() => received.filter((r) => r.status === 202).length >= 6);
      run.child.kill('SIGTERM');
      const result = await run;
      expect(result.code).toBe(0);
    } finally {
      run.child.kill('SIGKILL');
      await new Promise<void>((res) => server.close(() => res()));
    }
    const accepted = received.filter((r) => r.status === 202);
    // Every batch refused with 503 arrived later under the same key, and none twice.
    for (const r of received.filter((x) => x.status === 503)) expect(accepted.map((a) => a.key)).toContain(r.key);
    expect(new Set(accepted.map((a) => a.key)).size).toBe(accepted.length);
    // Oldest first: the sampling times arrive in strictly increasing order.
    const times = accepted.map((a) => Date.parse(a.ts));
    expect(times).toEqual([...times].sort((x, y) => x - y));
    expect(new Set(times).size).toBe(times.length);
    expect(received.every((r) => r.auth === 'Bearer secret-ingest-token')).toBe(true);
    expect(readdirSync(spoolDir).filter((f) => f.endsWith('.json'))).toEqual([]);
  });
});
