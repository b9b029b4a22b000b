/**
 * Issue 19 point 2: one job's efficiency report through the API and `heatledger job report`,
 * from GPU samples whose figures are chosen here: job 50 held four H200s for an hour; one
 * ran at 90 % with 13,000 MiB of memory, three stayed at 0 %.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { GpuSample } from '../../collectors/shared/wire.ts';
import { T0, iso, job, makeApp, sample } from '../support/factories.ts';

type App = ReturnType<typeof makeApp>;
const repoRoot = resolve(import.meta.dirname, '../..');

async function setUp(): Promise<App> {
  const t = makeApp();
  t.addPerson('alice', 'researcher', ['proj-a']);
  t.addPerson('bob', 'researcher', ['proj-a']);
  const jobs = [job({ jobId: '50', gpus: 4, user: 'alice', submitTime: iso(T0 - 10 * 60_000) })];
  expect((await t.client.api.v1.ingest.jobs.$post({ json: { schema: 1, cluster: 'bitten', jobs } }, t.auth(t.tokens.ingest))).status).toBe(202);
  const samples: GpuSample[] = [];
  for (let m = 0; m <= 60; m++) {
    const ts = iso(T0 + m * 60_000);
    samples.push(sample({ ts, gpuUuid: 'GPU-a', gpuIndex: 0, utilPct: 90, memUsedMiB: 13_000, powerW: 600, jobIds: ['50'] }));
    for (const [i, uuid] of ['GPU-b', 'GPU-c', 'GPU-d'].entries()) samples.push(sample({ ts, gpuUuid: uuid, gpuIndex: i + 1, utilPct: 0, memUsedMiB: 500, powerW: 100, jobIds: ['50'] }));
  }
  expect((await t.client.api.v1.ingest.gpu.$post({ json: { schema: 1, cluster: 'bitten', node: 'gpu-n01', samples } }, t.auth(t.tokens.ingest))).status).toBe(202);
  return t;
}

async function login(t: App, username: string) {
  const res = await t.client.api.v1.auth.login.$post({ json: { username, password: 'correct horse' } });
  return { headers: { cookie: res.headers.get('set-cookie')!.split(';')[0]! } };
}

interface Report {
  job: { jobId: string; user: string; gpuHours: number; idleGpuHours: number; meanUtilPct: number; energyKWh: number };
  perGpu: Array<{ uuid: string; idleShare: number; meanUtilPct: number; peakUtilPct: number; peakMemMiB: number; gpuHours: number }>;
  peakUtilPct: number;
  peakMemShare: number;
  flags: Array<{ code: string; message: string }>;
}

describe('a job’s efficiency report', () => {
  it('gives per-GPU idle share, mean and peak use, memory peak, energy, and the flags a person can act on', async () => {
    const t = await setUp();
    const res = await t.app.request('/api/v1/jobs/bitten/50/report', t.auth(t.tokens.read));
    expect(res.status).toBe(200);
    const r = (await res.json()) as Report;
    expect(r.job).toMatchObject({ jobId: '50', user: 'alice' });
    expect(r.job.gpuHours).toBeCloseTo(4, 9);
    expect(r.job.idleGpuHours).toBeCloseTo(3, 9);
    expect(r.job.meanUtilPct).toBeCloseTo(22.5, 9);
    // 600 W + 3 × 100 W for an hour.
    expect(r.job.energyKWh).toBeCloseTo(0.9, 9);
    expect(r.perGpu.map((g) => [g.uuid, g.idleShare, g.meanUtilPct, g.peakUtilPct, g.peakMemMiB])).toEqual([
      ['GPU-a', 0, 90, 90, 13_000],
      ['GPU-b', 1, 0, 0, 500],
      ['GPU-c', 1, 0, 0, 500],
      ['GPU-d', 1, 0, 0, 500],
    ]);
    expect(r.perGpu.every((g) => Math.abs(g.gpuHours - 1) < 1e-9)).toBe(true);
    expect(r.peakUtilPct).toBe(90);
    expect(r.peakMemShare).toBeCloseTo(13_000 / 143_771, 12);
    expect(r.flags.map((f) => f.message)).toEqual([
      '3 of 4 GPUs were idle for 100 % of the job: ask for 1 GPU',
      'GPU memory peaked at 9 % of 140 GB: a smaller GPU or a MIG slice fits',
    ]);
  });

  it('is the job owner’s and their PI’s to read; a colleague gets 404, the committee a pseudonym', async () => {
    const t = await setUp();
    expect((await t.app.request('/api/v1/jobs/bitten/50/report', await login(t, 'alice'))).status).toBe(200);
    const bob = await t.app.request('/api/v1/jobs/bitten/50/report', await login(t, 'bob'));
    expect(bob.status).toBe(404);
    expect(JSON.stringify(await bob.json())).not.toContain('idleShare');
    t.addPerson('kim', 'committee');
    const committee = (await (await t.app.request('/api/v1/jobs/bitten/50/report', await login(t, 'kim'))).json()) as Report;
    expect(committee.job.user).not.toBe('alice');
    expect(committee.job.user).toMatch(/^user-/);
    expect((await t.app.request('/api/v1/jobs/bitten/51/report', t.auth(t.tokens.read))).status).toBe(404);
  });

  it('prints the same report from `heatledger job report`', async () => {
    const t = await setUp();
    const file = join(mkdtempSync(join(tmpdir(), 'hl-job-report-')), 'heatledger.db');
    writeFileSync(file, t.db.$client.serialize());
    const run = spawnSync(process.execPath, [join(repoRoot, 'bin', 'heatledger.js'), 'job', 'report', '50', '--db', file], { cwd: repoRoot, encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain('Job 50 (cluster bitten) · project proj-a · user alice · partition gpu · COMPLETED');
    expect(run.stdout).toContain('GPU-hours 4.00 · idle GPU-hours 3.00 · mean GPU use 23 % · peak 90 %');
    expect(run.stdout).toContain('Energy 0.90 kWh');
    expect(run.stdout).toContain('  gpu-n01 GPU 0: 1.00 GPU-h, idle 0 %, mean 90 %, peak 90 %, memory peak 13000 MiB of 143771 MiB');
    expect(run.stdout).toContain('  - 3 of 4 GPUs were idle for 100 % of the job: ask for 1 GPU');
    const unknown = spawnSync(process.execPath, [join(repoRoot, 'bin', 'heatledger.js'), 'job', 'report', '999', '--db', file], { cwd: repoRoot, encoding: 'utf8' });
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain('no job 999');
  });
});
