/**
 * Finds the Slurm job behind each GPU process, from `/proc/<pid>/cgroup` (slurmd puts
 * every step in a job cgroup) or else from `SLURM_JOB_ID` in `/proc/<pid>/environ`.
 * The proc root is a parameter so tests can build a fake tree.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { GpuSample } from '../shared/wire.ts';
import { MAX_SAMPLE_JOB_IDS } from './parse.ts';

/**
 * The job id in a cgroup file, or null. Accepts cgroup v1
 * (`7:devices:/slurm/uid_1000/job_42/step_0`, also `/slurm_<node>/…` with several slurmd)
 * and v2 (`0::/system.slice/slurmstepd.scope/job_42/step_0/user/task_0`, also
 * `<node>_slurmstepd.scope`).
 */
export function jobIdFromCgroup(content: string): string | null {
  for (const line of content.split('\n')) {
    // hierarchy-id:controllers:path; the path itself may contain colons.
    const second = line.indexOf(':', line.indexOf(':') + 1);
    if (second < 0) continue;
    const cgroupPath = line.slice(second + 1);
    const match =
      /\/slurm(?:_[^/]+)?\/uid_\d+\/job_(\d+)(?:\/|$)/.exec(cgroupPath) ??
      /slurmstepd\.scope\/job_(\d+)(?:\/|$)/.exec(cgroupPath);
    if (match) return match[1];
  }
  return null;
}

/** Slurm variables of a NUL-separated environ file that name the job. */
export function slurmVariables(environ: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const entry of environ.split('\0')) {
    const eq = entry.indexOf('=');
    if (eq <= 0) continue;
    const key = entry.slice(0, eq);
    if (key.startsWith('SLURM_')) out.set(key, entry.slice(eq + 1));
  }
  return out;
}

const JOB_ID = /^\d+$/;

/**
 * The printed job id for a process: an array task shows as `<array job>_<task>` in
 * sacct/squeue (CONTRACTS §2.2) while its cgroup and SLURM_JOB_ID carry the raw id, so the
 * environment, where readable, turns the raw id into the printed one.
 */
function printedJobId(rawId: string | null, vars: Map<string, string> | null): string | null {
  const envId = vars?.get('SLURM_JOB_ID') ?? vars?.get('SLURM_JOBID') ?? null;
  const id = rawId ?? (envId !== null && JOB_ID.test(envId) ? envId : null);
  if (id === null) return null;
  const arrayJob = vars?.get('SLURM_ARRAY_JOB_ID');
  const arrayTask = vars?.get('SLURM_ARRAY_TASK_ID');
  if (envId === id && arrayJob && arrayTask && JOB_ID.test(arrayJob) && JOB_ID.test(arrayTask)) {
    return `${arrayJob}_${arrayTask}`;
  }
  return id;
}

async function readOrNull(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    // The process ended since nvidia-smi listed it, or we may not read it (EACCES): no job.
    return null;
  }
}

/** The Slurm job of one process, or null when it runs outside Slurm or cannot be read. */
export async function jobIdForPid(pid: number, procRoot = '/proc'): Promise<string | null> {
  const dir = join(procRoot, String(pid));
  const cgroup = await readOrNull(join(dir, 'cgroup'));
  const rawId = cgroup === null ? null : jobIdFromCgroup(cgroup);
  const environ = await readOrNull(join(dir, 'environ'));
  return printedJobId(rawId, environ === null ? null : slurmVariables(environ));
}

function compareJobIds(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

/**
 * Fills `processes[].jobId` (also inside `migDevices`) and `jobIds` (unique, sorted) of
 * each sample, reading each pid once even when it appears on several GPUs.
 */
export async function attachJobs(samples: GpuSample[], procRoot = '/proc'): Promise<GpuSample[]> {
  const pids = new Set<number>();
  for (const sample of samples) for (const p of sample.processes ?? []) pids.add(p.pid);
  const jobs = new Map<number, string | null>();
  await Promise.all([...pids].map(async (pid) => jobs.set(pid, await jobIdForPid(pid, procRoot))));
  return samples.map((sample) => {
    const processes = (sample.processes ?? []).map((p) => ({ ...p, jobId: jobs.get(p.pid) ?? null }));
    const jobIds = [...new Set(processes.map((p) => p.jobId).filter((id): id is string => id !== null))]
      .sort(compareJobIds)
      .slice(0, MAX_SAMPLE_JOB_IDS);
    const out: GpuSample = { ...sample, processes, jobIds };
    if (sample.migDevices) {
      out.migDevices = sample.migDevices.map((device) => ({
        ...device,
        processes: (device.processes ?? []).map((p) => ({ ...p, jobId: jobs.get(p.pid) ?? null })),
      }));
    }
    return out;
  });
}
