/**
 * End to end against a real Slurm (CI starts it with .ci/slurm/start.sh and sets
 * HEATLEDGER_SLURM=1): submits the contention workload of .ci/slurm/jobs.sh, runs the
 * real `heatledger collect slurm --once --stdout`, and checks every job against
 * `sacct -P` read here independently, GPU-hours from AllocTRES × ElapsedRaw.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { jobsBatchSchema, type JobRecord } from '../../collectors/shared/wire.ts';
import { missing } from '../support/requirements.ts';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const hasSacct = spawnSync('sh', ['-c', 'command -v sacct'], { encoding: 'utf8' }).status === 0;
const enabled = hasSacct && process.env.HEATLEDGER_SLURM === '1';
const ciDir = process.env.SLURM_CI_DIR ?? '/tmp/heatledger-slurm';
const env = { ...process.env, SLURM_CONF: process.env.SLURM_CONF ?? join(ciDir, 'etc', 'slurm.conf'), TZ: 'UTC' };

interface SacctRow {
  jobId: string;
  name: string;
  account: string;
  partition: string;
  state: string;
  submit: string;
  start: string;
  end: string;
  gpus: number;
  elapsedS: number;
}

/** sacct -P read without the collector's parser: header names → fields, times as UTC. */
function readSacct(since: string): SacctRow[] {
  const text = execFileSync(
    'sacct',
    ['-a', '-X', '-P', '-S', since.replace(/Z$/, ''), '-o', 'JobID,JobName,Account,Partition,State,Submit,Start,End,AllocTRES,ElapsedRaw'],
    { env, encoding: 'utf8' },
  );
  const [header, ...lines] = text.trim().split('\n');
  const cols = header.split('|');
  return lines.map((line) => {
    const f = Object.fromEntries(line.split('|').map((v, i) => [cols[i], v]));
    const gpu = /(?:^|,)gres\/gpu=(\d+)/.exec(f.AllocTRES);
    const utc = (t: string) => (/^\d{4}-/.test(t) ? `${t}.000Z` : null);
    return {
      jobId: f.JobID, name: f.JobName, account: f.Account, partition: f.Partition, state: f.State,
      submit: utc(f.Submit)!, start: utc(f.Start)!, end: utc(f.End)!,
      gpus: gpu ? Number(gpu[1]) : 0, elapsedS: Number(f.ElapsedRaw),
    };
  });
}

describe.skipIf(missing('a real Slurm (sacct on PATH and HEATLEDGER_SLURM=1)', enabled))('collect slurm against a real Slurm', () => {
  let since = '';
  let jobs: JobRecord[] = [];
  let sacct: SacctRow[] = [];

  beforeAll(() => {
    const out = execFileSync(join(repoRoot, '.ci', 'slurm', 'jobs.sh'), { env, encoding: 'utf8', timeout: 150_000 });
    since = /since=(\S+)/.exec(out)![1];
    const collected = spawnSync(
      process.execPath,
      [join(repoRoot, 'bin', 'heatledger.js'), 'collect', 'slurm', '--once', '--stdout', '--since', since],
      { env, encoding: 'utf8', timeout: 60_000 },
    );
    expect(collected.stderr).toBe('');
    expect(collected.status).toBe(0);
    const batch = jobsBatchSchema.parse(JSON.parse(collected.stdout));
    expect(batch.cluster).toBe('ci');
    // Earlier runs on the same cluster may fall inside the window; keep this workload's.
    jobs = batch.jobs.filter((j) => Date.parse(j.submitTime) >= Date.parse(since));
    sacct = readSacct(since).filter((r) => Date.parse(r.submit) >= Date.parse(since));
  }, 200_000);

  it('reports every job sacct knows, once', () => {
    expect(sacct.length).toBe(10); // 3 + 2 + fail + cancel + 2 array tasks + 1 rejected
    expect(jobs.map((j) => j.jobId).sort()).toEqual(sacct.map((r) => r.jobId).sort());
  });

  it('agrees with sacct -P on account, partition, state and times for every job', () => {
    for (const row of sacct) {
      const job = jobs.find((j) => j.jobId === row.jobId)!;
      const rejected = row.name === 'too-big';
      expect(job, row.jobId).toMatchObject({
        name: row.name,
        account: row.account,
        partition: row.partition,
        state: row.state.split(' ')[0],
        submitTime: row.submit,
        startTime: rejected ? null : row.start,
        endTime: row.end,
        gpus: row.gpus,
      });
    }
  });

  it('gives the GPU-hours of completed jobs that AllocTRES × ElapsedRaw give', () => {
    const hours = (j: JobRecord) => (j.gpus * (Date.parse(j.endTime!) - Date.parse(j.startTime!))) / 3_600_000;
    const completed = jobs.filter((j) => j.state === 'COMPLETED');
    const ours = completed.reduce((sum, j) => sum + hours(j), 0);
    const theirs = sacct.filter((r) => r.state === 'COMPLETED').reduce((sum, r) => sum + (r.gpus * r.elapsedS) / 3600, 0);
    expect(completed.length).toBe(7);
    expect(theirs).toBeGreaterThan(0);
    expect(ours).toBeCloseTo(theirs, 9);
    // Three 2-GPU jobs of `sleep 4` on 4 GPUs: at least 3 × 2 × 4 s.
    expect(theirs * 3600).toBeGreaterThanOrEqual(24);
  });

  it('handles the failure, the cancel, the array and the rejected submission', () => {
    const byName = (n: string) => jobs.filter((j) => j.name === n);
    expect(byName('b-fail')[0]).toMatchObject({ state: 'FAILED', gpus: 1, exitCode: 3 });
    expect(byName('b-cancel')[0]).toMatchObject({ state: 'CANCELLED', gpus: 4 });
    const tasks = byName('root-array');
    expect(tasks).toHaveLength(2);
    expect(new Set(tasks.map((t) => t.arrayJobId)).size).toBe(1);
    expect(tasks.map((t) => t.jobId.split('_')[1]).sort()).toEqual(['1', '2']);
    expect(byName('too-big')[0]).toMatchObject({ state: 'FAILED', gpus: 0, startTime: null, nodes: [] });
    expect(byName('a-gpu1')[0]).toMatchObject({ gpus: 2, nodes: ['c1'], user: 'alice' });
  });

  it('shows the contention: some GPU job waited for GPUs', () => {
    const waitsS = jobs
      .filter((j) => j.partition === 'gpu' && j.startTime)
      .map((j) => (Date.parse(j.startTime!) - Date.parse(j.submitTime)) / 1000);
    expect(Math.max(...waitsS)).toBeGreaterThanOrEqual(3);
  });
});
