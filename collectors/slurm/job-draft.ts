/**
 * The rules every Slurm input shares once its fields are read: base state word, which
 * times are real (Slurm prints projected start/end for queued and running jobs), GPUs
 * allocated vs requested, rejected submissions, array ids. The format parsers fill a
 * JobDraft and `finishDraft` turns it into the wire's JobRecord (CONTRACTS §2.2).
 */
import { jobStateSchema, type JobRecord, type JobState } from '../shared/wire.ts';

/** GPUs read from one source; `type` is the gres type ("h100") when the source names one. */
export interface GpuCount {
  count: number;
  type: string | null;
}

/** Fields as a parser read them, before the shared rules apply. Times in epoch seconds. */
export interface JobDraft {
  jobId: string;
  arrayJobId: string | null;
  /** Task ids still pending under one printed id ("1-3,7%2"), expanded for PENDING jobs. */
  pendingArrayTasks?: string | null;
  name: string | null;
  user: string | null;
  account: string | null;
  partition: string | null;
  qos: string | null;
  /** Raw state: "CANCELLED by 0", "RUNNING", ["PENDING","REQUEUED"]. */
  state: string | string[] | null;
  submitS: number | null;
  eligibleS: number | null;
  startS: number | null;
  endS: number | null;
  /** GPU sources in order of trust; the first non-null wins. */
  allocGpus: Array<GpuCount | null>;
  reqGpus: Array<GpuCount | null>;
  allocCpus: number | null;
  reqCpus: number | null;
  nodes: string[];
  /** Whether the record shows any allocation (TRES, nodes); a rejected submission has none. */
  hasAllocation: boolean;
  exitCode: number | null;
  cluster: string | null;
}

export interface FinishedJob {
  cluster: string | null;
  job: JobRecord;
}

/** Where a parser reports a record it had to drop, so the CLI can say so on stderr. */
export type Warn = (message: string) => void;

/** Array tasks beyond this many are kept as one printed record rather than expanded. */
const MAX_EXPANDED_TASKS = 10_000;

// Flags Slurm appends to the base state in the array form (job_state: ["RUNNING","COMPLETING"]).
const BASE_STATES = new Set<string>([
  'PENDING', 'RUNNING', 'SUSPENDED', 'COMPLETED', 'CANCELLED', 'FAILED', 'TIMEOUT',
  'NODE_FAIL', 'PREEMPTED', 'BOOT_FAIL', 'DEADLINE', 'OUT_OF_MEMORY',
]);
const KNOWN_STATES = new Set<string>(jobStateSchema.options);
const NOT_STARTED = new Set<JobState>(['PENDING']);
const NOT_ENDED = new Set<JobState>(['PENDING', 'RUNNING', 'SUSPENDED', 'CONFIGURING', 'RESIZING']);

/** Slurm's base state word: "CANCELLED by 0" → CANCELLED; an array's base entry; null if unknown. */
export function baseState(raw: string | string[] | null | undefined): JobState | null {
  const words = (Array.isArray(raw) ? raw : [raw ?? ''])
    .map((w) => String(w).trim().split(/\s+/)[0].replace(/\+$/, '').toUpperCase())
    .filter((w) => w !== '');
  const base = words.find((w) => BASE_STATES.has(w)) ?? words.find((w) => KNOWN_STATES.has(w));
  return (base as JobState | undefined) ?? null;
}

/** Epoch seconds → ISO UTC with Z; 0, negative and unset are null (Slurm's "not yet"). */
export function isoFromEpochS(seconds: number | null | undefined): string | null {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds <= 0) return null;
  return new Date(seconds * 1000).toISOString();
}

/** Applies the shared rules; returns null (after warning) for a record the wire cannot carry. */
export function finishDraft(draft: JobDraft, warn: Warn): FinishedJob[] {
  const state = baseState(draft.state);
  const label = `job ${draft.jobId}`;
  if (!state) {
    warn(`${label}: skipped, unknown state '${[draft.state].flat().join(',')}'`);
    return [];
  }
  const submitTime = isoFromEpochS(draft.submitS);
  if (!submitTime) {
    warn(`${label}: skipped, no submit time`);
    return [];
  }
  const user = nonEmpty(draft.user);
  if (!user) {
    warn(`${label}: skipped, no user`);
    return [];
  }
  const pending = NOT_STARTED.has(state);
  // A submission Slurm refused (too many GPUs, bad account) is recorded as FAILED with
  // start = end = submit and nothing allocated: it never ran, so it has no start and no
  // GPUs, and it must not count as a zero-second wait.
  const rejected =
    !pending &&
    !draft.hasAllocation &&
    draft.startS !== null &&
    draft.startS === draft.endS &&
    draft.startS === draft.submitS;
  const startTime = pending || rejected ? null : isoFromEpochS(draft.startS);
  const endTime = NOT_ENDED.has(state) ? null : isoFromEpochS(draft.endS);
  if (startTime !== null && Date.parse(startTime) < Date.parse(submitTime)) {
    // The wire refuses it (a negative wait), and with it the whole batch.
    warn(`${label}: skipped, starts before its submit time`);
    return [];
  }
  const gpu = rejected ? null : pending ? firstOf(draft.reqGpus) : firstOf(draft.allocGpus);
  const cpus = rejected ? 0 : pending ? (draft.reqCpus ?? draft.allocCpus) : (draft.allocCpus ?? null);
  const base: JobRecord = {
    jobId: draft.jobId,
    arrayJobId: draft.arrayJobId,
    name: draft.name,
    user,
    account: nonEmpty(draft.account) ?? '(none)',
    partition: nonEmpty(draft.partition),
    qos: nonEmpty(draft.qos),
    state,
    submitTime,
    eligibleTime: isoFromEpochS(draft.eligibleS),
    startTime,
    endTime,
    gpus: gpu?.count ?? 0,
    gpuType: gpu?.type ?? null,
    cpus: cpus === null ? null : Math.max(0, Math.round(cpus)),
    nodes: pending || rejected ? [] : draft.nodes,
    exitCode: draft.exitCode,
  };
  const cluster = nonEmpty(draft.cluster);
  // A queued array is one record ("8_[1-2]") until its tasks start; expanding it gives
  // each task the id its later running/completed record will carry, so that record
  // replaces it instead of leaving a pending ghost behind, and queue depth counts tasks.
  if (pending && draft.arrayJobId && draft.pendingArrayTasks) {
    const tasks = expandTaskIds(draft.pendingArrayTasks);
    if (tasks && tasks.length <= MAX_EXPANDED_TASKS) {
      return tasks.map((t) => ({ cluster, job: { ...base, jobId: `${draft.arrayJobId}_${t}` } }));
    }
  }
  return [{ cluster, job: base }];
}

/** "1-3,7%2" → [1,2,3,7]; null when the text is not a task list. */
export function expandTaskIds(text: string): number[] | null {
  const body = text.replace(/^\[|\]$/g, '').replace(/%\d+$/, '').trim();
  if (body === '') return null;
  const out: number[] = [];
  for (const item of body.split(',')) {
    // Slurm also allows a step ("1-9:2").
    const m = /^(\d+)(?:-(\d+)(?::(\d+))?)?$/.exec(item.trim());
    if (!m) return null;
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    const step = m[3] === undefined ? 1 : Math.max(1, Number(m[3]));
    if (to - from > MAX_EXPANDED_TASKS * step) return null;
    for (let t = from; t <= to; t += step) out.push(t);
  }
  return out;
}

function firstOf(sources: Array<GpuCount | null>): GpuCount | null {
  return sources.find((s) => s !== null) ?? null;
}

/** Trimmed string, or null for "", "(null)", null and undefined. */
export function nonEmpty(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  const text = String(value).trim();
  return text === '' || text === '(null)' ? null : text;
}
