/**
 * A simulated GPU facility for the demo: 32 nodes × 4 H200, a dozen projects with
 * different demand, Poisson job arrivals with a daily rhythm, and a FIFO + EASY-backfill
 * scheduler per partition, so waits come from real contention. GPU power follows
 * utilisation between the idle and full-load figures of real H200 captures (about 78 W
 * idle, about 630 W under load, 700 W limit).
 *
 * Deterministic for a seed: arrivals and durations come from one seeded stream consumed
 * only by scheduling events, and sample noise is a hash of (time, GPU), so a restarted
 * demo can replay its history silently and continue where it left off.
 */
import { HOUR_MS } from '../../db/rules/time.ts';
import type { FairshareBatch, GpuSample, JobRecord, JobState } from '../shared/wire.ts';
import { exponential, hashUnit, normal, seeded, weighted } from './random.ts';

export const H200 = { model: 'NVIDIA H200', memTotalMiB: 143771, idleW: 78, fullW: 630, limitW: 700 };

type JobType = 'training' | 'inference' | 'interactive' | 'idle';

interface ProjectProfile {
  name: string;
  /** Share of the offered GPU-hours. */
  share: number;
  users: string[];
  sizes: Array<[number, number]>;
  types: Array<[JobType, number]>;
  /** Median run time in hours. */
  medianHours: number;
  partition: 'gpu' | 'interactive';
}

/** The demo's projects: names, demand and habits. */
export const demoProjects: ProjectProfile[] = [
  { name: 'dtu-llm', share: 0.2, users: ['ahansen', 'mlarsen', 'spedersen'], sizes: [[8, 5], [4, 3], [2, 1]], types: [['training', 9], ['inference', 1]], medianHours: 8, partition: 'gpu' },
  { name: 'ku-climate', share: 0.12, users: ['kjensen', 'lnielsen'], sizes: [[4, 4], [2, 2]], types: [['training', 6], ['inference', 3], ['idle', 1]], medianHours: 6, partition: 'gpu' },
  { name: 'au-genomics', share: 0.1, users: ['pchristensen', 'eandersen', 'tmadsen'], sizes: [[1, 5], [2, 3]], types: [['inference', 6], ['training', 3], ['idle', 1]], medianHours: 3, partition: 'gpu' },
  { name: 'sdu-robotics', share: 0.08, users: ['jrasmussen', 'cpoulsen'], sizes: [[1, 4], [2, 2], [4, 1]], types: [['training', 5], ['interactive', 3], ['idle', 2]], medianHours: 2, partition: 'gpu' },
  { name: 'aau-vision', share: 0.09, users: ['hmoller', 'fholm'], sizes: [[4, 3], [2, 3], [1, 2]], types: [['training', 8], ['inference', 2]], medianHours: 5, partition: 'gpu' },
  { name: 'itu-recsys', share: 0.05, users: ['nkristensen'], sizes: [[1, 6], [2, 2]], types: [['inference', 5], ['training', 4], ['idle', 1]], medianHours: 2, partition: 'gpu' },
  { name: 'dtu-materials', share: 0.1, users: ['ojohansen', 'bthomsen'], sizes: [[2, 3], [4, 4], [8, 1]], types: [['training', 7], ['inference', 3]], medianHours: 10, partition: 'gpu' },
  { name: 'ku-astro', share: 0.06, users: ['mmortensen', 'akjaer'], sizes: [[4, 2], [1, 3]], types: [['inference', 5], ['training', 3], ['idle', 2]], medianHours: 4, partition: 'gpu' },
  { name: 'sdu-energy', share: 0.05, users: ['sbech', 'rlund'], sizes: [[1, 5], [2, 1]], types: [['training', 4], ['idle', 4], ['inference', 2]], medianHours: 3, partition: 'gpu' },
  { name: 'cbs-finance', share: 0.03, users: ['vfriis'], sizes: [[1, 8]], types: [['inference', 6], ['idle', 4]], medianHours: 1.5, partition: 'gpu' },
  { name: 'ruc-nlp', share: 0.06, users: ['isorensen', 'dkrogh'], sizes: [[1, 6], [2, 3]], types: [['interactive', 7], ['training', 3]], medianHours: 1.5, partition: 'interactive' },
  { name: 'au-teaching', share: 0.06, users: ['student01', 'student02', 'student03'], sizes: [[1, 10]], types: [['interactive', 6], ['idle', 4]], medianHours: 1, partition: 'interactive' },
];

/** Slurm's default PriorityDecayHalfLife: usage counts half after a week. */
const HALF_LIFE_MS = 7 * 24 * 3_600_000;

const partitions = {
  gpu: { firstNode: 0, nodes: 24, load: 0.95 },
  interactive: { firstNode: 24, nodes: 8, load: 0.6 },
} as const;

interface SimJob {
  seq: number;
  jobId: string;
  name: string;
  user: string;
  account: string;
  partition: 'gpu' | 'interactive';
  type: JobType;
  gpus: number;
  submitTs: number;
  startTs: number | null;
  endTs: number | null;
  runMs: number;
  limitMs: number;
  outcome: 'COMPLETED' | 'FAILED' | 'TIMEOUT';
  cancelAtTs: number | null;
  state: JobState;
  alloc: Array<{ node: number; gpu: number }>;
  dirty: boolean;
}

export interface FacilitySnapshot {
  gpuPowerW: number;
  busyGpus: number;
  queued: number;
}

/** The simulated cluster and its scheduler. */
export class Simulator {
  readonly nodeCount = 32;
  readonly gpusPerNode = 4;
  private readonly rand: () => number;
  private readonly jobs: SimJob[] = [];
  private readonly pending: SimJob[] = [];
  private readonly running: SimJob[] = [];
  private readonly owner: Array<Array<SimJob | null>>;
  private readonly nextArrival = new Map<string, number>();
  private readonly ratePerMs = new Map<string, number>();
  private seq = 0;
  /** GPU-seconds per project decayed with Slurm's default 7-day half-life, as of `usageTs` (fair share). */
  private readonly usage = new Map<string, number>();
  private usageTs: number | null = null;
  now: number;

  constructor(readonly seed: number, readonly startTs: number) {
    this.rand = seeded(seed);
    this.now = startTs;
    this.owner = Array.from({ length: this.nodeCount }, () => Array<SimJob | null>(this.gpusPerNode).fill(null));
    for (const p of demoProjects) {
      const part = partitions[p.partition];
      const capacityGpuHoursPerHour = part.nodes * this.gpusPerNode;
      const projectsInPartition = demoProjects.filter((q) => q.partition === p.partition);
      const share = p.share / projectsInPartition.reduce((s, q) => s + q.share, 0);
      // Mean run time of a lognormal with sigma 0.8 is median × e^(0.32); timeouts and failures cut it to ~0.85.
      const meanGpuHoursPerJob = expectedGpus(p) * p.medianHours * Math.exp(0.32) * 0.85;
      const jobsPerHour = (part.load * capacityGpuHoursPerHour * share) / meanGpuHoursPerJob;
      this.ratePerMs.set(p.name, jobsPerHour / HOUR_MS);
      this.nextArrival.set(p.name, this.drawArrival(p.name, startTs));
    }
  }

  /** GPU identity of (node, index). */
  gpuUuid(node: number, gpu: number): string {
    const h = (n: number) => Math.floor(hashUnit(this.seed, node, gpu, n) * 0xffffffff).toString(16).padStart(8, '0');
    return `GPU-${h(1)}-${h(2).slice(0, 4)}-${h(3).slice(0, 4)}-${h(4).slice(0, 4)}-${h(5)}${h(6).slice(0, 4)}`;
  }

  nodeName(node: number): string {
    return `gpu-n${String(node + 1).padStart(2, '0')}`;
  }

  /** Runs the scheduler through every event up to `ts`. */
  advanceTo(ts: number): void {
    for (;;) {
      let next = Infinity;
      let kind: 'arrival' | 'end' | 'cancel' | null = null;
      let project = '';
      let job: SimJob | null = null;
      for (const [name, t] of this.nextArrival) if (t < next) [next, kind, project] = [t, 'arrival', name];
      for (const j of this.running) {
        const end = j.startTs! + Math.min(j.runMs, j.limitMs);
        if (end < next) [next, kind, job] = [end, 'end', j];
      }
      for (const j of this.pending) if (j.cancelAtTs !== null && j.cancelAtTs < next) [next, kind, job] = [j.cancelAtTs, 'cancel', j];
      if (kind === null || next > ts) break;
      this.now = next;
      if (kind === 'arrival') {
        this.submit(project, next);
        this.nextArrival.set(project, this.drawArrival(project, next));
      } else if (kind === 'end') {
        this.finish(job!, next);
      } else {
        this.pending.splice(this.pending.indexOf(job!), 1);
        Object.assign(job!, { state: 'CANCELLED', endTs: next, dirty: true });
      }
      this.schedule(next);
    }
    this.now = ts;
  }

  /** One sample per GPU at the current time. */
  samples(): Array<{ node: number; samples: GpuSample[] }> {
    this.accrueUsage(this.now);
    const ts = new Date(this.now).toISOString();
    const out: Array<{ node: number; samples: GpuSample[] }> = [];
    for (let node = 0; node < this.nodeCount; node++) {
      const samples: GpuSample[] = [];
      for (let gpu = 0; gpu < this.gpusPerNode; gpu++) {
        const job = this.owner[node]![gpu]!;
        const noise = hashUnit(this.now, node, gpu);
        const rank = job ? job.alloc.findIndex((a) => a.node === node && a.gpu === gpu) : 0;
        const utilPct = job ? utilisation(job, this.now, noise, rank) : 0;
        const powerW = Math.min(H200.limitW, H200.idleW + (H200.fullW - H200.idleW) * (utilPct / 100) ** 1.2 + (noise - 0.5) * (job ? 24 : 4));
        samples.push({
          ts,
          gpuUuid: this.gpuUuid(node, gpu),
          gpuIndex: gpu,
          model: H200.model,
          utilPct,
          memUsedMiB: job ? Math.round(H200.memTotalMiB * memoryShare(job, rank)) : 1,
          memTotalMiB: H200.memTotalMiB,
          powerW: Math.round(powerW * 100) / 100,
          powerLimitW: H200.limitW,
          tempC: Math.round(27 + (powerW / H200.limitW) * 38),
          processes: job ? [{ pid: 10_000 + (job.seq % 50_000), usedMemMiB: null, jobId: job.jobId }] : [],
          jobIds: job ? [job.jobId] : [],
        });
      }
      out.push({ node, samples });
    }
    return out;
  }

  /** Decays the projects' usage to `ts` and adds what the running jobs used since the last call. */
  private accrueUsage(ts: number): void {
    if (this.usageTs !== null && ts > this.usageTs) {
      const dt = ts - this.usageTs;
      const decay = 2 ** (-dt / HALF_LIFE_MS);
      for (const [k, v] of this.usage) this.usage.set(k, v * decay);
      for (const j of this.running) this.usage.set(j.account, (this.usage.get(j.account) ?? 0) + (j.gpus * dt) / 1000);
    }
    this.usageTs = ts;
  }

  /**
   * Fair share as Slurm's multifactor plugin would report it at `ts` (`sshare -a -l`, the
   * projects under root): each project's configured share against its decayed GPU usage,
   * FairShare = 2^(-usage/share) (the classic formula), LevelFS = share / usage.
   */
  fairshare(ts: number, cluster: string): FairshareBatch {
    this.accrueUsage(ts);
    const totalShare = demoProjects.reduce((a, p) => a + p.share, 0);
    const totalUsage = [...this.usage.values()].reduce((a, v) => a + v, 0);
    const rows = demoProjects.map((p) => {
      const normShares = p.share / totalShare;
      const rawUsage = Math.round(this.usage.get(p.name) ?? 0);
      const effectvUsage = totalUsage > 0 ? (this.usage.get(p.name) ?? 0) / totalUsage : 0;
      return {
        account: p.name,
        user: null,
        parent: 'root',
        rawShares: Math.round(p.share * 100),
        normShares: Math.round(normShares * 1e6) / 1e6,
        rawUsage,
        effectvUsage: Math.round(effectvUsage * 1e6) / 1e6,
        fairShare: Math.round(2 ** (-effectvUsage / normShares) * 1e6) / 1e6,
        levelFs: effectvUsage > 0 ? Math.round((normShares / effectvUsage) * 1e6) / 1e6 : null,
      };
    });
    return { schema: 1, cluster, takenAt: new Date(ts).toISOString(), rows };
  }

  /** Load figures for the facility model. */
  snapshot(samples: Array<{ samples: GpuSample[] }>): FacilitySnapshot {
    let gpuPowerW = 0;
    let busyGpus = 0;
    for (const n of samples) {
      for (const s of n.samples) {
        gpuPowerW += s.powerW ?? 0;
        if (s.jobIds && s.jobIds.length > 0) busyGpus++;
      }
    }
    return { gpuPowerW, busyGpus, queued: this.pending.length };
  }

  /**
   * Records of jobs that changed since the last call, and clears their flags. With
   * `endedOnly`, jobs still pending or running stay flagged: a history backfill reports
   * final records, as `sacct` does for the past, never a stale RUNNING one.
   */
  takeChangedJobs({ endedOnly = false } = {}): JobRecord[] {
    const out: JobRecord[] = [];
    for (const j of this.jobs) {
      if (!j.dirty || (endedOnly && j.endTs === null)) continue;
      j.dirty = false;
      out.push(toRecord(j));
    }
    // Finished jobs never change again: drop them from the working set.
    for (let i = this.jobs.length - 1; i >= 0; i--) if (this.jobs[i]!.endTs !== null && !this.jobs[i]!.dirty) this.jobs.splice(i, 1);
    return out;
  }

  private drawArrival(project: string, after: number): number {
    // Thinning: candidates at 1.6× the mean rate, kept with the daily rhythm's probability.
    const rate = this.ratePerMs.get(project)!;
    let t = after;
    for (;;) {
      t += exponential(this.rand, 1 / (rate * 1.6));
      const hour = (t / HOUR_MS + 1) % 24; // Copenhagen is UTC+1 in winter.
      const rhythm = 1 + 0.55 * Math.sin(((hour - 8) / 24) * 2 * Math.PI);
      if (this.rand() * 1.6 < rhythm) return t;
    }
  }

  private submit(projectName: string, ts: number): void {
    const p = demoProjects.find((q) => q.name === projectName)!;
    const r = this.rand;
    const gpus = weighted(r, p.sizes);
    const type = weighted(r, p.types);
    const runMs = Math.max(5 * 60_000, Math.exp(normal(r, Math.log(p.medianHours), 0.8)) * HOUR_MS);
    const limitHours = Math.min(48, Math.ceil((runMs / HOUR_MS) * (1.1 + r() * 1.5)));
    const fails = r() < 0.06;
    const timesOut = !fails && r() < 0.08;
    const cancelled = r() < 0.03;
    const seq = this.seq++;
    const job: SimJob = {
      seq,
      jobId: String(100_000 + seq),
      name: `${type === 'interactive' ? 'jupyter' : type}-${p.name.split('-')[1]}-${seq % 97}`,
      user: p.users[Math.floor(r() * p.users.length)]!,
      account: p.name,
      partition: p.partition,
      type,
      gpus,
      submitTs: ts,
      startTs: null,
      endTs: null,
      runMs: fails ? runMs * 0.1 : timesOut ? limitHours * HOUR_MS * 1.5 : runMs,
      limitMs: limitHours * HOUR_MS,
      outcome: fails ? 'FAILED' : timesOut ? 'TIMEOUT' : 'COMPLETED',
      cancelAtTs: cancelled ? ts + r() * 6 * HOUR_MS : null,
      state: 'PENDING',
      alloc: [],
      dirty: true,
    };
    this.jobs.push(job);
    this.pending.push(job);
  }

  private finish(job: SimJob, ts: number): void {
    this.running.splice(this.running.indexOf(job), 1);
    for (const { node, gpu } of job.alloc) this.owner[node]![gpu] = null;
    Object.assign(job, { endTs: ts, state: job.outcome, dirty: true });
  }

  private freeGpus(partition: 'gpu' | 'interactive'): number[] {
    const part = partitions[partition];
    const free: number[] = [];
    for (let n = part.firstNode; n < part.firstNode + part.nodes; n++) free.push(this.owner[n]!.filter((o) => o === null).length);
    return free;
  }

  /** FIFO with EASY backfill: later jobs may start only if they end before the head job's reservation. */
  private schedule(ts: number): void {
    for (const partition of ['gpu', 'interactive'] as const) {
      const part = partitions[partition];
      const free = this.freeGpus(partition);
      let shadowTs = Infinity;
      const queue = this.pending.filter((j) => j.partition === partition).sort((a, b) => a.submitTs - b.submitTs || a.seq - b.seq);
      for (const job of queue) {
        const nodes = placement(job.gpus, free, this.gpusPerNode);
        if (nodes && ts + job.limitMs <= shadowTs) {
          this.start(job, nodes.map((i) => i + part.firstNode), ts);
          for (const i of nodes) free[i] -= Math.min(job.gpus, this.gpusPerNode);
        } else if (shadowTs === Infinity) {
          shadowTs = this.reservation(job, partition, [...free]);
        }
      }
    }
  }

  /** When the blocked head job could start, from the running jobs' time limits. */
  private reservation(job: SimJob, partition: 'gpu' | 'interactive', free: number[]): number {
    const part = partitions[partition];
    const ends = this.running
      .filter((j) => j.partition === partition)
      .map((j) => ({ ts: j.startTs! + j.limitMs, alloc: j.alloc }))
      .sort((a, b) => a.ts - b.ts);
    for (const end of ends) {
      for (const { node } of end.alloc) free[node - part.firstNode]!++;
      if (placement(job.gpus, free, this.gpusPerNode)) return end.ts;
    }
    return Infinity;
  }

  private start(job: SimJob, nodes: number[], ts: number): void {
    this.pending.splice(this.pending.indexOf(job), 1);
    let left = job.gpus;
    for (const node of nodes) {
      for (let gpu = 0; gpu < this.gpusPerNode && left > 0; gpu++) {
        if (this.owner[node]![gpu] === null) {
          this.owner[node]![gpu] = job;
          job.alloc.push({ node, gpu });
          left--;
        }
      }
    }
    Object.assign(job, { startTs: ts, state: 'RUNNING', dirty: true, cancelAtTs: null });
    this.running.push(job);
  }
}

/** Node indices (within the partition) for a job, best fit; multi-node jobs take whole nodes. */
function placement(gpus: number, free: number[], perNode: number): number[] | null {
  if (gpus <= perNode) {
    let best = -1;
    for (let i = 0; i < free.length; i++) if (free[i]! >= gpus && (best < 0 || free[i]! < free[best]!)) best = i;
    return best < 0 ? null : [best];
  }
  const whole = free.map((f, i) => (f === perNode ? i : -1)).filter((i) => i >= 0);
  const need = Math.ceil(gpus / perNode);
  return whole.length >= need ? whole.slice(0, need) : null;
}

function expectedGpus(p: ProjectProfile): number {
  const total = p.sizes.reduce((s, [, w]) => s + w, 0);
  return p.sizes.reduce((s, [g, w]) => s + g * w, 0) / total;
}

/**
 * A few wasteful jobs for the efficiency report to flag: multi-GPU training whose code uses
 * only its first GPU (1 in 10), and inference that needs a small part of an H200's memory (1 in 4).
 */
const usesOneGpu = (job: SimJob) => job.type === 'training' && job.gpus > 1 && hashUnit(job.seq, 11) < 0.1;
const smallMemory = (job: SimJob) => job.type === 'inference' && hashUnit(job.seq, 13) < 0.25;

function memoryShare(job: SimJob, rank: number): number {
  if (job.type === 'idle' || (usesOneGpu(job) && rank > 0)) return 0.05;
  if (smallMemory(job)) return 0.06 + 0.04 * hashUnit(job.seq, 7);
  return 0.4 + 0.5 * hashUnit(job.seq, 7);
}

function utilisation(job: SimJob, ts: number, noise: number, rank: number): number {
  const base = hashUnit(job.seq, 3);
  let u: number;
  if (usesOneGpu(job) && rank > 0) u = noise * 2;
  else if (job.type === 'training') u = 90 + base * 8 + (noise - 0.5) * 4;
  else if (job.type === 'inference') u = 35 + base * 30 + 15 * Math.sin(ts / 900_000 + job.seq) + (noise - 0.5) * 10;
  else if (job.type === 'interactive') u = noise < 0.7 ? noise * 8 : 40 + noise * 50;
  else u = noise * 3;
  return Math.round(Math.min(100, Math.max(0, u)));
}

function toRecord(j: SimJob): JobRecord {
  const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
  return {
    jobId: j.jobId,
    arrayJobId: null,
    name: j.name,
    user: j.user,
    account: j.account,
    partition: j.partition,
    qos: 'normal',
    state: j.state,
    submitTime: iso(j.submitTs)!,
    eligibleTime: iso(j.submitTs),
    startTime: iso(j.startTs),
    endTime: iso(j.endTs),
    gpus: j.gpus,
    gpuType: 'h200',
    cpus: j.gpus * 16,
    nodes: [...new Set(j.alloc.map((a) => `gpu-n${String(a.node + 1).padStart(2, '0')}`))],
    exitCode: j.state === 'COMPLETED' ? 0 : j.state === 'FAILED' ? 1 : null,
  };
}
