/**
 * `sacct --json`, `squeue --json` and slurmrestd job JSON (/slurmdb/v0.0.4x/job(s),
 * /slurm/v0.0.4x/job(s)) from Slurm 21.08 to 25.11 → JobRecords. The schema drifted:
 * plain numbers became {set, infinite, number}, state strings became arrays,
 * meta.plugin/meta.Slurm became meta.plugins/meta.slurm and back, so every field is read
 * through the small accessors below rather than trusted to one shape.
 */
import { expandHostlist } from './hostlist.ts';
import { finishDraft, nonEmpty, type FinishedJob, type JobDraft, type Warn } from './job-draft.ts';
import {
  gpusFromGresDetail,
  gpusFromSubmitLine,
  gpusFromTresList,
  gpusFromTresPer,
  gpusFromTresString,
  type TresEntry,
} from './gpu-sources.ts';

/** What a parser gives back: records with their cluster, and the records it had to drop. */
export interface ParsedJobs {
  format: string;
  jobs: FinishedJob[];
  warnings: string[];
}

type Json = Record<string, unknown>;

/** A number from a plain value or a {set, infinite, number} wrapper; unset or infinite → null. */
export function num(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  if (value && typeof value === 'object' && 'number' in value) {
    const v = value as { set?: boolean; infinite?: boolean; number?: unknown };
    if (v.set === false || v.infinite === true) return null;
    return num(v.number);
  }
  return null;
}

function obj(value: unknown): Json {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : {};
}

function str(value: unknown): string | null {
  return typeof value === 'string' || typeof value === 'number' ? nonEmpty(value) : null;
}

/** Parses Slurm JSON text (sacct, squeue or slurmrestd); throws with the reason when it is not. */
export function parseSlurmJson(text: string): ParsedJobs {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new Error(`not valid JSON (${(error as Error).message})`, { cause: error });
  }
  const root = obj(doc);
  if (!Array.isArray(root.jobs)) {
    throw new Error("not Slurm job JSON: there is no top-level 'jobs' array");
  }
  const warnings: string[] = [];
  const warn: Warn = (m) => warnings.push(m);
  for (const e of Array.isArray(root.errors) ? root.errors : []) {
    const err = obj(e);
    // An empty answer comes with the "error" "Nothing found"; that is not a problem.
    if (/nothing found/i.test(`${str(err.description) ?? ''} ${str(err.error) ?? ''}`)) continue;
    warn(`Slurm reported an error: ${str(err.description) ?? str(err.error) ?? JSON.stringify(e)}`);
  }
  const meta = obj(root.meta);
  const slurm = obj(meta.slurm ?? meta.Slurm);
  const metaCluster = str(slurm.cluster);
  const major = num(obj(slurm.version).major);
  const minor = num(obj(slurm.version).minor);
  // Slurm ≤ 22.05 writes exit_code SUCCESS/0 into sacct --json even for a job that
  // exited 3 (recipe gotcha 7); a FAILED job's 0 there is unknown, not 0.
  const exitCodesUnreliable = major !== null && (major < 23 || (major === 23 && (minor ?? 0) < 2));

  const jobs: FinishedJob[] = [];
  let sawSqueue = false;
  let sawSacct = false;
  for (const raw of root.jobs as unknown[]) {
    const job = obj(raw);
    let draft: JobDraft;
    if ('job_state' in job) {
      sawSqueue = true;
      draft = squeueDraft(job);
    } else if ('state' in job && 'time' in job) {
      sawSacct = true;
      draft = sacctDraft(job, exitCodesUnreliable);
    } else {
      warn(`job ${str(job.job_id) ?? '?'}: skipped, neither sacct (state, time) nor squeue (job_state) fields`);
      continue;
    }
    draft.cluster ??= metaCluster;
    jobs.push(...finishDraft(draft, warn));
  }
  const format = sawSqueue && !sawSacct ? 'squeue-json' : sawSacct && !sawSqueue ? 'sacct-json' : 'slurm-json';
  return { format, jobs, warnings };
}

/** sacct --json and slurmrestd /slurmdb/…/job(s): one record per job, steps nested. */
function sacctDraft(job: Json, exitCodesUnreliable: boolean): JobDraft {
  const time = obj(job.time);
  const tres = obj(job.tres);
  const array = obj(job.array);
  const het = obj(job.het);
  const allocated = Array.isArray(tres.allocated) ? (tres.allocated as TresEntry[]) : [];
  const requested = Array.isArray(tres.requested) ? (tres.requested as TresEntry[]) : [];
  const nodeCount = num(job.allocation_nodes) ?? 0;
  const nodes = expandHostlist(str(job.nodes));
  const submitLine = str(job.submit_line);
  const state = stateOf(obj(job.state).current);

  const { jobId, arrayId, pendingTasks } = printedId(job.job_id, array.job_id, array.task_id, array.task, het.job_id, het.job_offset);

  let exitCode = exitCodeOf(job.exit_code);
  const base = [state].flat()[0] ?? '';
  if (exitCodesUnreliable && exitCode === 0 && /^FAILED|^NODE_FAIL|^BOOT_FAIL|^OUT_OF_MEMORY/.test(base)) exitCode = null;

  return {
    jobId,
    arrayJobId: arrayId,
    pendingArrayTasks: pendingTasks,
    name: str(job.name),
    user: str(job.user),
    account: str(job.account) ?? str(obj(job.association).account),
    partition: str(job.partition),
    qos: str(job.qos),
    state,
    submitS: num(time.submission),
    eligibleS: num(time.eligible),
    startS: num(time.start),
    endS: num(time.end),
    allocGpus: [gpusFromTresList(allocated), allocated.length > 0 ? gpusFromSubmitLine(submitLine, nodeCount) : null],
    reqGpus: [gpusFromTresList(requested), gpusFromSubmitLine(submitLine, nodeCount)],
    allocCpus: cpusOf(allocated),
    reqCpus: cpusOf(requested) ?? num(obj(job.required).CPUs),
    nodes,
    hasAllocation: allocated.some((t) => (t.count ?? 0) > 0) || nodes.length > 0,
    exitCode,
    cluster: str(job.cluster),
  };
}

/** squeue --json, scontrol --json and slurmrestd /slurm/…/job(s): controller's view. */
function squeueDraft(job: Json): JobDraft {
  const nodeCount = num(job.node_count) ?? 1;
  const tasks = num(job.tasks) ?? 1;
  const nodes = expandHostlist(str(job.nodes));
  const allocStr = str(job.tres_alloc_str);
  const { jobId, arrayId, pendingTasks } = printedId(job.job_id, job.array_job_id, job.array_task_id, job.array_task_string, job.het_job_id, job.het_job_offset);
  const perJob = gpusFromTresPer(str(job.tres_per_job));
  const perNode = gpusFromTresPer(str(job.tres_per_node), nodeCount);
  const perTask = gpusFromTresPer(str(job.tres_per_task), tasks);
  return {
    jobId,
    arrayJobId: arrayId,
    pendingArrayTasks: pendingTasks,
    name: str(job.name),
    user: str(job.user_name) ?? str(num(job.user_id)),
    account: str(job.account),
    partition: str(job.partition),
    qos: str(job.qos),
    state: stateOf(job.job_state),
    submitS: num(job.submit_time),
    eligibleS: num(job.eligible_time),
    startS: num(job.start_time),
    endS: num(job.end_time),
    allocGpus: [gpusFromTresString(allocStr), gpusFromGresDetail(job.gres_detail), perJob, perNode, perTask],
    reqGpus: [perJob, perNode, perTask, gpusFromTresString(str(job.tres_req_str))],
    allocCpus: num(job.cpus),
    reqCpus: num(job.cpus),
    nodes,
    hasAllocation: allocStr !== null || nodes.length > 0,
    exitCode: exitCodeOf(job.exit_code),
    cluster: str(job.cluster),
  };
}

function stateOf(value: unknown): string | string[] | null {
  if (Array.isArray(value)) return value.map(String);
  return str(value);
}

/** Heterogeneous job components print as "123+1". */
/**
 * The id Slurm prints for a job: `8_2` for an array task, `8_[1-3]` for queued tasks not yet
 * split (their list in `pendingTasks`), `7+1` for a heterogeneous job's component, else the id.
 */
function printedId(rawId: unknown, rawArrayJobId: unknown, rawTaskId: unknown, rawTasks: unknown, hetJobId: unknown, hetOffset: unknown) {
  const arrayJobId = num(rawArrayJobId);
  const taskId = num(rawTaskId);
  const tasks = str(rawTasks);
  if (arrayJobId && arrayJobId > 0 && taskId !== null) return { jobId: `${arrayJobId}_${taskId}`, arrayId: String(arrayJobId), pendingTasks: null };
  if (arrayJobId && arrayJobId > 0 && tasks) {
    const pendingTasks = tasks.replace(/^\[|\]$/g, '');
    return { jobId: `${arrayJobId}_[${pendingTasks}]`, arrayId: String(arrayJobId), pendingTasks };
  }
  const leader = num(hetJobId);
  const offset = num(hetOffset);
  const jobId = leader && leader > 0 && offset !== null ? `${leader}+${offset}` : String(num(rawId) ?? str(rawId) ?? '?');
  return { jobId, arrayId: null, pendingTasks: null };
}

function cpusOf(list: TresEntry[]): number | null {
  const cpu = list.find((t) => t?.type === 'cpu');
  return typeof cpu?.count === 'number' && cpu.count >= 0 ? cpu.count : null;
}

/**
 * The job's exit code as sacct's first number ("3:0" → 3). Newer JSON has
 * {status, return_code, signal}; older squeue JSON a raw wait status (768 = exit 3).
 */
function exitCodeOf(value: unknown): number | null {
  if (value && typeof value === 'object' && !('number' in value)) {
    const v = value as { status?: unknown; return_code?: unknown };
    const code = num(v.return_code);
    if (code !== null) return code;
    // A signalled job has no return code; sacct prints it as "0:<signal>".
    return [v.status].flat().some((s) => String(s).includes('SIGNALED')) ? 0 : null;
  }
  const raw = num(value);
  if (raw === null) return null;
  return (raw & 0x7f) === 0 ? (raw >> 8) & 0xff : 0;
}
