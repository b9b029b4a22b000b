import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { GpuSample } from '../shared/wire.ts';
import { attachJobs, jobIdForPid, jobIdFromCgroup } from './jobs.ts';

const procRoot = mkdtempSync(join(tmpdir(), 'heatledger-proc-'));
afterAll(() => rmSync(procRoot, { recursive: true, force: true }));

function fakeProcess(pid: number, files: { cgroup?: string; environ?: Record<string, string> }): void {
  const dir = join(procRoot, String(pid));
  mkdirSync(dir, { recursive: true });
  if (files.cgroup !== undefined) writeFileSync(join(dir, 'cgroup'), files.cgroup);
  if (files.environ) {
    writeFileSync(join(dir, 'environ'), `${Object.entries(files.environ).map(([k, v]) => `${k}=${v}`).join('\0')}\0`);
  }
}

// cgroup v1: one line per hierarchy, Slurm's task/cgroup plugin under /slurm/uid_N/job_M.
fakeProcess(101, {
  cgroup: [
    '12:pids:/user.slice/user-1000.slice',
    '11:memory:/slurm/uid_1000/job_4242/step_0/task_0',
    '4:devices:/slurm/uid_1000/job_4242/step_0',
    '1:name=systemd:/system.slice/slurmd.service',
  ].join('\n'),
});
// cgroup v2: one unified line.
fakeProcess(102, { cgroup: '0::/system.slice/slurmstepd.scope/job_777/step_0/user/task_0\n' });
fakeProcess(103, { cgroup: '0::/system.slice/gpu-n01_slurmstepd.scope/job_778/step_batch/user/task_0\n' });
// Outside any job cgroup, but the environment carries the job (e.g. cgroups not in use).
fakeProcess(104, { cgroup: '0::/user.slice/user-1000.slice/session-3.scope\n', environ: { PATH: '/usr/bin', SLURM_JOB_ID: '9001', HOME: '/home/a' } });
// An array task: raw id 5010 in cgroup and SLURM_JOB_ID, printed as 5000_7.
fakeProcess(105, {
  cgroup: '0::/system.slice/slurmstepd.scope/job_5010/step_0/user/task_0\n',
  environ: { SLURM_JOB_ID: '5010', SLURM_ARRAY_JOB_ID: '5000', SLURM_ARRAY_TASK_ID: '7' },
});
// No job anywhere.
fakeProcess(106, { cgroup: '0::/user.slice/user-1000.slice/session-3.scope\n', environ: { PATH: '/usr/bin' } });
// 107 does not exist (ended since nvidia-smi listed it).

describe('jobIdFromCgroup', () => {
  it.each([
    ['3:cpuset:/slurm/uid_0/job_1/step_extern', '1'],
    ['7:devices:/slurm_gpu-n01/uid_1000/job_12345/step_0/task_0', '12345'],
    ['0::/system.slice/slurmstepd.scope/job_42/step_0/user/task_0', '42'],
    ['0::/system.slice/slurmstepd.scope/job_42', '42'],
    ['0::/system.slice/slurmstepd.scope/job_42x/step_0', null],
    ['0::/user.slice/user-1000.slice/job_42/step_0', null],
    ['', null],
  ])('%s → %s', (content, want) => {
    expect(jobIdFromCgroup(content)).toBe(want);
  });
});

describe('jobIdForPid with a fake proc root', () => {
  it.each([
    [101, '4242'],
    [102, '777'],
    [103, '778'],
    [104, '9001'],
    [105, '5000_7'],
    [106, null],
    [107, null],
  ])('pid %i → %s', async (pid, want) => {
    expect(await jobIdForPid(pid, procRoot)).toBe(want);
  });
});

describe('attachJobs', () => {
  it('fills each process, the slices and the sorted unique jobIds of each sample', async () => {
    const base = { ts: '2026-11-28T10:00:00.000Z', model: 'X', utilPct: 1, memUsedMiB: 1, memTotalMiB: 2, powerW: 3, powerLimitW: 4, tempC: 5 };
    const samples: GpuSample[] = [
      { ...base, gpuUuid: 'GPU-0', gpuIndex: 0, jobIds: [], processes: [{ pid: 104, usedMemMiB: 1 }, { pid: 101, usedMemMiB: 2 }, { pid: 102, usedMemMiB: 3 }, { pid: 101, usedMemMiB: 4 }, { pid: 106, usedMemMiB: 5 }] },
      { ...base, gpuUuid: 'GPU-1', gpuIndex: 1, jobIds: [], processes: [] },
      {
        ...base, gpuUuid: 'GPU-2', gpuIndex: 2, jobIds: [], processes: [{ pid: 105, usedMemMiB: 6 }, { pid: 107, usedMemMiB: null }],
        migDevices: [{ gpuInstanceId: 1, computeInstanceId: 0, memUsedMiB: 1, memTotalMiB: 2, processes: [{ pid: 105, usedMemMiB: 6 }] }],
      },
    ];
    const out = await attachJobs(samples, procRoot);
    expect(out[0].processes?.map((p) => p.jobId)).toEqual(['9001', '4242', '777', '4242', null]);
    // Numeric order, not string order: 777 < 4242 < 9001.
    expect(out[0].jobIds).toEqual(['777', '4242', '9001']);
    expect(out[1].jobIds).toEqual([]);
    expect(out[2].jobIds).toEqual(['5000_7']);
    expect(out[2].migDevices?.[0].processes).toEqual([{ pid: 105, usedMemMiB: 6, jobId: '5000_7' }]);
  });
});
