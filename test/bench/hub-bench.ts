/**
 * The federation hub's bench (issue 18 §5), section `hub` of `npm run bench`
 * (`BENCH_ONLY=hub npm run bench`): five sites × 10,000 GPUs × a year pushed to the hub
 * through its HTTP push API on a real PostgreSQL, then p50/p95 of the hub's reads over it.
 *
 * Goals: push at least 10 site-hours per second; every read's p95 ≤ 100 ms.
 *
 * The sites (synthesised, one seeded generator each, modelled on test/bench/national.ts's
 * NATIONAL: 300 projects, 3000 users, ~2 million jobs a year with its GPU-count mix), the
 * year ending at a fixed present, 2026-11-20T14:00Z:
 * - jobs start ~5,480 a UTC day (weekdays more, weekends fewer), run an exponential time of
 *   mean RUN_MEAN_H hours (48 h at most, 2 h on gpu-dev): ~66 % of the GPUs allocated on
 *   average, never more than all of them in an hour; they wait a log-normal time (median
 *   ~10 min, three days at most), all times whole seconds as Slurm's; a job draws 90-690 W
 *   per GPU by its utilisation (~0.45 kWh per GPU-hour on average); 3 % of jobs ran where no
 *   GPU samples were taken (their energy inferred);
 * - usage rows per hour × project × user × partition of the jobs running in the hour: the
 *   ~1,100 jobs running at once fall into ~415 such rows an hour (half the submissions are
 *   job arrays, and a project's first members run most of its jobs), printed by the bench;
 *   plus one '(unattributed)' row per hour (user and partition '') with the hour's remainder
 *   of IT energy (hosts, idle GPUs) and its share of overhead, reused heat and CO2;
 * - one facility row per hour: IT energy = GPU energy of jobs + idle GPUs (75 W) + hosts
 *   (1.2 kW a node of 8 GPUs); facility, reused heat and CO2 from each site's PUE, heat reuse
 *   and grid intensity (seasonal and daily swings);
 * - each row's shares of overhead, reused heat and CO2 are its part of the hour's IT energy,
 *   so every site's rows sum to its meters, as a real site's do;
 * - the jobs that started in each day, with their waits, states and energies.
 * Each day's hash is the SHA-256 of its JSON, as server/services/hub-push.service.ts makes it,
 * and days go several to a request (up to ~50,000 rows, as that service flushes), one push
 * token per site, the five sites pushing at once.
 *
 * The hub runs in a process of its own (this file, `serve` mode): the senders stand in for
 * sites on other machines. It counts its requests' time and its database statements' time
 * by kind (a wrapper around its pool; the store is unchanged), so the bench can say where a
 * push's time goes; and it answers the bench's `/__bench/*` requests (not the hub's API).
 *
 * The reads' plans (EXPLAIN ANALYZE) of those over 100 ms go to test/artifacts/hub-explain.txt.
 * HUB_BENCH_DAYS (default 365) shortens the year while working on it; HUB_BENCH_KEEP=1
 * keeps the database (its URL is printed) instead of dropping it, and HUB_BENCH_REUSE=<that URL>
 * measures only the reads on it (after a change to the reads; the hub applies new migrations
 * to it at start); HUB_BENCH_PROFILE=1 adds a
 * CPU profile of the hub process during the push, summarised by what the time went to.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { hashUnit, seeded } from '../../collectors/demo/random.ts';
import { DAY_MS, HOUR_MS, monthOf } from '../../db/rules/time.ts';

export type Row = (name: string, value: number | string, unit?: string) => void;

// ---------------------------------------------------------------------------------------------
// The sites.

const PROJECTS = 300;
const USERS = 3000;
const GPUS = 10_000;
const GPUS_PER_NODE = 8;
const JOBS_PER_YEAR = 2_000_000;
/** Mean run time: ~75 % of the GPUs allocated on average, as a busy national machine. */
const RUN_MEAN_H = 5;
const gpuChoices = [1, 2, 4, 8, 16, 32, 64];
const gpuWeights = [0.3, 0.2, 0.2, 0.18, 0.07, 0.04, 0.01];
const MEMBER_CUM = Array.from({ length: 10 }, (_, k) => Array.from({ length: k + 1 }, (_, i) => 1 / (i + 1)).reduce((x, y) => x + y));
const PARTITIONS = ['gpu', 'gpu-dev', 'gpu-large', 'gpu-long'] as const;
const UNATTRIBUTED = '(unattributed)';
/** Rows per push request at most, as the site client flushes (days are never split). */
const MAX_ROWS = 50_000;
const COMMA = Buffer.from(',');

interface SiteSpec {
  name: string;
  /** Mean PUE; a summer swing on top. */
  pue: number;
  /** Share of IT energy reused as heat in winter (less in summer). */
  reuse: number;
  /** Grid intensity, g CO2 per kWh (± 25 % over a day). */
  gridG: number;
}

const SITES: SiteSpec[] = [
  { name: 'north', pue: 1.07, reuse: 0.7, gridG: 30 },
  { name: 'south', pue: 1.24, reuse: 0, gridG: 320 },
  { name: 'east', pue: 1.15, reuse: 0.35, gridG: 180 },
  { name: 'west', pue: 1.11, reuse: 0.5, gridG: 90 },
  { name: 'central', pue: 1.19, reuse: 0.2, gridG: 380 },
];

const cpuMsSince = (start: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
};

export const projectName = (p: number) => `p${String(p).padStart(3, '0')}`;

interface SimJob {
  id: number;
  project: number;
  user: number;
  partition: number;
  gpus: number;
  submitTs: number;
  startTs: number;
  endTs: number;
  /** kW per GPU. */
  kw: number;
  /** Share of its GPU time the samples covered (the rest is inferred). */
  measured: number;
  state: string;
}

interface Acc {
  key: number;
  gpuS: number;
  measuredGpuS: number;
  energyKWh: number;
  inferredKWh: number;
}

export interface SiteStats {
  days: number;
  siteHours: number;
  usageRows: number;
  jobs: number;
  allocatedGpuS: number;
  energyKWh: number;
  maxHourGpuS: number;
  bodyBytes: number;
  /** CPU time of synthesis, JSON and hashing (this process's, GC threads included). */
  genCpuMs: number;
}

/**
 * One site's ledger, a UTC day at a time from `fromTs` (the year's first hour) to `toTs`
 * (now, on the hour): `nextRequest()` returns the next push request's body (several days),
 * or null when the year is sent.
 */
export class SiteGenerator {
  readonly stats: SiteStats = { days: 0, siteHours: 0, usageRows: 0, jobs: 0, allocatedGpuS: 0, energyKWh: 0, maxHourGpuS: 0, bodyBytes: 0, genCpuMs: 0 };
  private readonly random: () => number;
  private readonly users: string[];
  /** Projects by the site's popularity (its rank r has weight 1 / (r + 1)). */
  private readonly rankToProject: number[];
  private readonly projectCum: number[] = [];
  private active: SimJob[] = [];
  private dayTs: number;
  private nextId = 1_000_000;

  constructor(
    readonly index: number,
    readonly spec: SiteSpec,
    readonly fromTs: number,
    readonly toTs: number,
  ) {
    this.random = seeded(1000 + index);
    this.users = Array.from({ length: USERS }, (_, u) => `user-${Math.floor(hashUnit(index, u, 77) * 2 ** 32).toString(16).padStart(8, '0')}`);
    // Every site runs the same national projects, each site with its own favourites.
    this.rankToProject = Array.from({ length: PROJECTS }, (_, p) => p);
    for (let i = PROJECTS - 1; i > 0 && index > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [this.rankToProject[i], this.rankToProject[j]] = [this.rankToProject[j]!, this.rankToProject[i]!];
    }
    let cum = 0;
    for (let r = 0; r < PROJECTS; r++) this.projectCum.push((cum += 1 / (r + 1)));
    // Three days of warm-up, not pushed: the year starts with jobs already running.
    this.dayTs = Math.floor(fromTs / DAY_MS) * DAY_MS - 3 * DAY_MS;
    while (this.dayTs < Math.floor(fromTs / DAY_MS) * DAY_MS) this.simulateDay();
  }

  /** The site's most used project. */
  get topProject(): string {
    return projectName(this.rankToProject[0]!);
  }

  /** The site's `n` most used projects. */
  topProjects(n: number): string[] {
    return this.rankToProject.slice(0, n).map(projectName);
  }

  private pickProject(): number {
    const x = this.random() * this.projectCum[PROJECTS - 1]!;
    let lo = 0;
    let hi = PROJECTS - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.projectCum[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return this.rankToProject[lo]!;
  }

  private pickGpus(): number {
    let x = this.random();
    for (let i = 0; i < gpuChoices.length; i++) if ((x -= gpuWeights[i]!) < 0) return gpuChoices[i]!;
    return 1;
  }

  /** One of a project's ten members, the first of them running most of its jobs (weights 1/(k+1)). */
  private pickMember(): number {
    let x = this.random() * MEMBER_CUM[9]!;
    for (let k = 0; k < 10; k++) if ((x -= 1 / (k + 1)) < 0) return k;
    return 9;
  }

  private gauss(): number {
    return Math.sqrt(-2 * Math.log(1 - this.random())) * Math.cos(2 * Math.PI * this.random());
  }

  /**
   * The jobs that start in day `dayTs`, in start order. Half the submissions are job arrays
   * (2-8 tasks, same project, user, partition and size, starting minutes apart), as Slurm
   * sites see them: ~2 jobs a submission.
   */
  private startJobs(dayTs: number): SimJob[] {
    const weekday = new Date(dayTs).getUTCDay();
    const n = Math.round((JOBS_PER_YEAR / 365) * (weekday === 0 || weekday === 6 ? 0.85 : 1.06) * (1 + 0.05 * this.gauss()));
    const jobs: SimJob[] = [];
    while (jobs.length < n) {
      const project = this.pickProject();
      const user = (project * 10 + this.pickMember()) % USERS;
      const gpus = this.pickGpus();
      const partition = gpus >= 16 ? 2 : this.random() < 0.1 ? 1 : this.random() < 0.05 ? 3 : 0;
      const util = this.random() < 0.08 ? 2 : 30 + this.random() * 70;
      const tasks = this.random() < 0.5 ? 1 : 2 + Math.floor(this.random() * 7);
      let startS = Math.floor(this.random() * 86_400);
      // Waits: log-normal around ~10 minutes, three days at most (the first task's; the others wait longer).
      const submitTs = dayTs + (startS - Math.min(3 * 86_400, Math.round(Math.exp(6.4 + 1.8 * this.gauss())))) * 1000;
      for (let t = 0; t < tasks && startS < 86_400; t++, startS += Math.floor(this.random() * 300)) {
        const runS = Math.max(60, Math.min(partition === 1 ? 2 * 3600 : 48 * 3600, Math.round(-Math.log(1 - this.random()) * RUN_MEAN_H * 3600)));
        const x = this.random();
        const startTs = dayTs + startS * 1000;
        jobs.push({
          id: 0,
          project,
          user,
          partition,
          gpus,
          submitTs,
          startTs,
          endTs: startTs + runS * 1000,
          kw: (90 + 6 * Math.max(0, util + 5 * this.gauss())) / 1000,
          measured: this.random() < 0.03 ? 0 : 0.97 + 0.03 * this.random(),
          state: x < 0.88 ? 'COMPLETED' : x < 0.95 ? 'FAILED' : x < 0.98 ? 'TIMEOUT' : 'CANCELLED',
        });
      }
    }
    jobs.sort((a, b) => a.startTs - b.startTs);
    for (const j of jobs) j.id = this.nextId++;
    return jobs;
  }

  /** Advances the simulation by one day; returns the day's pushed content (null in the warm-up). */
  private simulateDay(): { dayTs: number; completeToTs: number; usage: unknown[]; jobs: unknown[]; facility: unknown[] } | null {
    const dayTs = this.dayTs;
    const dayEnd = dayTs + DAY_MS;
    this.dayTs = dayEnd;
    const started = this.startJobs(dayTs);
    this.active = this.active.filter((j) => j.endTs > dayTs);
    for (const j of started) this.active.push(j);
    if (dayEnd <= this.fromTs) return null;
    const a = Math.max(dayTs, this.fromTs);
    const b = Math.min(dayEnd, this.toTs);
    // Usage per hour × project × user × partition; the key orders them as the site does.
    const accs = new Map<number, Acc>();
    const hourGpuS = new Float64Array(24);
    const hourKWh = new Float64Array(24);
    for (const j of this.active) {
      const s = Math.max(j.startTs, a);
      const e = Math.min(j.endTs, b);
      for (let h = Math.floor(s / HOUR_MS) * HOUR_MS; h < e; h += HOUR_MS) {
        const ms = Math.min(e, h + HOUR_MS) - Math.max(s, h);
        if (ms <= 0) continue;
        const hi = (h - dayTs) / HOUR_MS;
        const key = ((hi * PROJECTS + j.project) * USERS + j.user) * 4 + j.partition;
        let acc = accs.get(key);
        if (!acc) accs.set(key, (acc = { key, gpuS: 0, measuredGpuS: 0, energyKWh: 0, inferredKWh: 0 }));
        const gpuS = (j.gpus * ms) / 1000;
        const kwh = (gpuS / 3600) * j.kw;
        acc.gpuS += gpuS;
        acc.measuredGpuS += gpuS * j.measured;
        acc.energyKWh += kwh;
        acc.inferredKWh += kwh * (1 - j.measured);
        hourGpuS[hi] += gpuS;
        hourKWh[hi] += kwh;
      }
    }
    // The meters per hour, and each row's shares of them by its part of the IT energy.
    const facility: Array<{ hourTs: number; itKWh: number; facilityKWh: number; reusedKWh: number; coolingKWh: number; co2Kg: number }> = [];
    const spec = this.spec;
    for (let h = a; h < b; h += HOUR_MS) {
      const hi = (h - dayTs) / HOUR_MS;
      const season = Math.cos(((h - Date.UTC(2026, 0, 15)) / (365.25 * DAY_MS)) * 2 * Math.PI); // 1 in January, -1 in July
      const hourOfDay = hi + 0.5;
      const idleGpuS = Math.max(0, GPUS * 3600 - hourGpuS[hi]!);
      const itKWh = hourKWh[hi]! + (idleGpuS / 3600) * 0.075 + (GPUS / GPUS_PER_NODE) * 1.2;
      const pue = spec.pue + 0.04 * (1 - season) / 2 + 0.01 * Math.sin((hourOfDay / 24) * 2 * Math.PI);
      const facilityKWh = itKWh * pue;
      const reusedKWh = itKWh * spec.reuse * (0.55 + 0.45 * season);
      const grid = spec.gridG * (1 + 0.25 * Math.sin(((hourOfDay - 9) / 24) * 2 * Math.PI));
      facility.push({ hourTs: h, itKWh, facilityKWh, reusedKWh, coolingKWh: (facilityKWh - itKWh) * 0.72, co2Kg: (facilityKWh * grid) / 1000 });
      this.stats.maxHourGpuS = Math.max(this.stats.maxHourGpuS, hourGpuS[hi]!);
      this.stats.allocatedGpuS += hourGpuS[hi]!;
      this.stats.energyKWh += hourKWh[hi]!;
    }
    const keys = [...accs.keys()].sort((x, y) => x - y);
    const usage: unknown[] = [];
    let hour = -1;
    const flushHour = (hi: number) => {
      const f = facility[(dayTs + hi * HOUR_MS - a) / HOUR_MS]!;
      const rest = (f.itKWh - hourKWh[hi]!) / f.itKWh;
      usage.push({
        hourTs: f.hourTs,
        project: UNATTRIBUTED,
        user: '',
        partition: '',
        gpuS: 0,
        measuredGpuS: 0,
        energyKWh: f.itKWh - hourKWh[hi]!,
        inferredKWh: 0,
        overheadKWh: (f.facilityKWh - f.itKWh) * rest,
        reusedKWh: f.reusedKWh * rest,
        co2Kg: f.co2Kg * rest,
      });
    };
    for (const key of keys) {
      const acc = accs.get(key)!;
      const partition = key % 4;
      const user = Math.floor(key / 4) % USERS;
      const project = Math.floor(key / 4 / USERS) % PROJECTS;
      const hi = Math.floor(key / 4 / USERS / PROJECTS);
      if (hi !== hour) {
        if (hour >= 0) flushHour(hour);
        hour = hi;
      }
      const f = facility[(dayTs + hi * HOUR_MS - a) / HOUR_MS]!;
      const share = acc.energyKWh / f.itKWh;
      usage.push({
        hourTs: f.hourTs,
        project: projectName(project),
        user: this.users[user],
        partition: PARTITIONS[partition],
        gpuS: acc.gpuS,
        measuredGpuS: acc.measuredGpuS,
        energyKWh: acc.energyKWh,
        inferredKWh: acc.inferredKWh,
        overheadKWh: (f.facilityKWh - f.itKWh) * share,
        reusedKWh: f.reusedKWh * share,
        co2Kg: f.co2Kg * share,
      });
    }
    if (hour >= 0) flushHour(hour);
    const cluster = this.spec.name;
    const jobs = started
      .filter((j) => j.startTs >= a && j.startTs < b)
      .map((j) => {
        const running = j.endTs > this.toTs;
        const end = Math.min(j.endTs, this.toTs);
        return {
          cluster,
          jobId: String(j.id),
          project: projectName(j.project),
          user: this.users[j.user],
          partition: PARTITIONS[j.partition],
          gpus: j.gpus,
          submitTs: j.submitTs,
          startTs: j.startTs,
          endTs: running ? null : j.endTs,
          state: running ? 'RUNNING' : j.state,
          energyKWh: ((j.gpus * (end - j.startTs)) / 3_600_000) * j.kw,
        };
      });
    this.stats.days++;
    this.stats.siteHours += facility.length;
    this.stats.usageRows += usage.length;
    this.stats.jobs += jobs.length;
    return { dayTs, completeToTs: dayEnd <= this.toTs ? dayEnd : b, usage, jobs, facility };
  }

  /**
   * The next request's body (days until ~MAX_ROWS rows), or null when the year is sent.
   * It lets the event loop run between days (the bodies of other sites' requests are
   * still being written to their sockets).
   */
  async nextRequest(): Promise<{ body: Buffer; days: number; rows: number; siteHours: number } | null> {
    const days: Buffer[] = [];
    let rows = 0;
    let siteHours = 0;
    while (rows < MAX_ROWS && this.dayTs < this.toTs) {
      await new Promise((resolve) => setImmediate(resolve));
      const t = process.cpuUsage();
      const day = this.simulateDay();
      if (day) {
        const json = Buffer.from(JSON.stringify(day));
        const hash = createHash('sha256').update(json).digest('hex');
        if (days.length) days.push(COMMA);
        days.push(json.subarray(0, -1), Buffer.from(`,"hash":"${hash}"}`));
        rows += day.usage.length + day.jobs.length;
        siteHours += day.facility.length;
      }
      this.stats.genCpuMs += cpuMsSince(t);
    }
    if (days.length === 0) return null;
    const t = process.cpuUsage();
    const body = Buffer.concat([Buffer.from(`{"schema":1,"site":${JSON.stringify(this.spec.name)},"days":[`), ...days, Buffer.from(']}')]);
    this.stats.bodyBytes += body.length;
    this.stats.genCpuMs += cpuMsSince(t);
    return { body, days: (days.length + 1) / 3, rows, siteHours };
  }
}

// ---------------------------------------------------------------------------------------------
// The hub, in a process of its own (`hub-bench.ts serve <database url> <now>`).

interface Timed {
  n: number;
  ms: number;
  /** Of `ms`, the synchronous part of the driver's call: encoding the parameters (the arrays of a day's rows). */
  encodeMs: number;
}

interface HubChildStats {
  requests: Record<string, Timed>;
  statements: Record<string, Timed>;
  cpuMs: number;
  rssMiB: number;
}

/** A statement's kind, for the time split: its verb and table (the rollups named as such). */
function kindOf(text: string): string {
  const s = text.replace(/\s+/g, ' ').trim();
  if (/^(BEGIN|COMMIT|ROLLBACK)\b/.test(s)) return 'BEGIN / COMMIT';
  if (s.includes('pg_advisory_xact_lock')) return "site's advisory lock";
  if (s.startsWith('INSERT INTO hub_usage_day')) return 'day rollup (INSERT hub_usage_day … SELECT)';
  if (s.startsWith('INSERT INTO hub_usage_month')) return 'month rollup (INSERT hub_usage_month … SELECT)';
  const m = /^(DELETE FROM|INSERT INTO|UPDATE|SELECT .*? FROM) (\w+)/.exec(s);
  return m ? `${m[1]!.startsWith('SELECT') ? 'SELECT' : m[1]!.split(' ')[0]} ${m[2]}` : s.slice(0, 50);
}

async function serveHub(url: string, nowTs: number): Promise<void> {
  const [{ serve }, { openHub, warmHub }, { createHubApp }] = await Promise.all([import('@hono/node-server'), import('../../db/hub/store.ts'), import('../../server/hub/app.ts')]);
  const stats: HubChildStats = { requests: {}, statements: {}, cpuMs: 0, rssMiB: 0 };
  const add = (into: Record<string, Timed>, kind: string, ms: number, encodeMs = 0) => {
    const t = (into[kind] ??= { n: 0, ms: 0, encodeMs: 0 });
    t.n++;
    t.ms += ms;
    t.encodeMs += encodeMs;
  };
  let capture: Array<{ text: string; values: unknown[] }> | null = null;
  // Every statement the store sends, timed by kind: pg's Client.query is what the pool and
  // the transactions call (the store itself is not touched).
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const query = proto.query;
  proto.query = function (this: unknown, ...args: unknown[]) {
    const text = typeof args[0] === 'string' ? args[0] : ((args[0] as { text?: string } | null)?.text ?? '');
    if (capture && !text.startsWith('EXPLAIN') && Array.isArray(args[1])) capture.push({ text, values: args[1] });
    const t0 = performance.now();
    const out = query.apply(this, args) as Promise<unknown> | undefined;
    const t1 = performance.now();
    if (!out || typeof out.then !== 'function') return out;
    const kind = kindOf(text);
    return out.then(
      (r) => (add(stats.statements, kind, performance.now() - t0, t1 - t0), r),
      (e: unknown) => {
        add(stats.statements, `${kind} (failed)`, performance.now() - t0, t1 - t0);
        throw e;
      },
    );
  };
  const hub = await openHub(url);
  // As `heatledger hub serve` does before it listens: the last 30 and 365 days read once.
  const warmMs = await warmHub(hub, nowTs);
  if (warmMs > 1000) process.stderr.write(`  hub: warm-up before listening ${Math.round(warmMs)} ms\n`);
  const app = createHubApp({ hub, now: () => nowTs });
  const json = (value: unknown) => new Response(JSON.stringify(value), { headers: { 'content-type': 'application/json' } });

  const bench = async (req: Request): Promise<Response> => {
    const path = new URL(req.url).pathname;
    if (path === '/__bench/stats') {
      const cpu = process.cpuUsage();
      stats.cpuMs = (cpu.user + cpu.system) / 1000;
      stats.rssMiB = process.memoryUsage().rss / 2 ** 20;
      const out = json(stats);
      if (new URL(req.url).searchParams.get('reset')) {
        stats.requests = {};
        stats.statements = {};
      }
      return out;
    }
    if (path === '/__bench/validate') {
      // Where a push's time goes before the store: the body's text, JSON.parse, then the whole
      // route up to the refusal of a token of another site (after zod has validated all of it).
      const token = req.headers.get('x-bench-token')!;
      const bytes = new Uint8Array(await req.arrayBuffer());
      const best = { decodeMs: Infinity, parseMs: Infinity, routeMs: Infinity };
      for (let i = 0; i < 3; i++) {
        let t = performance.now();
        const text = new TextDecoder().decode(bytes);
        best.decodeMs = Math.min(best.decodeMs, performance.now() - t);
        t = performance.now();
        JSON.parse(text);
        best.parseMs = Math.min(best.parseMs, performance.now() - t);
        t = performance.now();
        const res = await app.request('/api/v1/hub/push', {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': String(bytes.length) },
          body: bytes,
        });
        await res.arrayBuffer();
        if (res.status !== 403) throw new Error(`validation probe answered ${res.status}`);
        best.routeMs = Math.min(best.routeMs, performance.now() - t);
      }
      return json(best);
    }
    if (path === '/__bench/explain') {
      // The statements a read sends, each run again under EXPLAIN (ANALYZE, BUFFERS).
      const { path: readPath, token } = (await req.json()) as { path: string; token: string };
      capture = [];
      const res = await app.request(readPath, { headers: { authorization: `Bearer ${token}` } });
      await res.arrayBuffer();
      const captured = capture;
      capture = null;
      const seen = new Set<string>();
      const plans: Array<{ text: string; plan: string }> = [];
      for (const q of captured) {
        if (seen.has(q.text) || q.text.includes('hub_tokens')) continue;
        seen.add(q.text);
        const r = await hub.pool.query(`EXPLAIN (ANALYZE, BUFFERS) ${q.text}`, q.values);
        plans.push({ text: `${q.text.replace(/\s+/g, ' ').trim()}\n  -- parameters: ${JSON.stringify(q.values)}`, plan: r.rows.map((x: Record<string, string>) => x['QUERY PLAN']).join('\n') });
      }
      return json(plans);
    }
    return new Response('no such bench route', { status: 404 });
  };

  const server = serve({
    hostname: '127.0.0.1',
    port: 0,
    fetch: async (req: Request, env: unknown) => {
      const path = new URL(req.url).pathname;
      if (path.startsWith('/__bench/')) return bench(req);
      const t = performance.now();
      const res = await app.fetch(req, env as never);
      add(stats.requests, `${req.method} ${path.startsWith('/api/v1/hub/projects/') ? '/api/v1/hub/projects/:p/review' : path} ${res.status}`, performance.now() - t);
      return res;
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  console.log(JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
  const stop = () => {
    server.close();
    void hub.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  // Gone with the bench, should it die without stopping us.
  const parent = process.ppid;
  setInterval(() => process.ppid !== parent && stop(), 1000).unref();
}

// ---------------------------------------------------------------------------------------------
// The bench.

const GOAL_SITE_HOURS_PER_S = 10;
const GOAL_P95_MS = 100;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = (sorted.length - 1) * p;
  const lo = Math.floor(rank);
  return sorted[lo]! + (sorted[Math.min(lo + 1, sorted.length - 1)]! - sorted[lo]!) * (rank - lo);
}

interface HubChild {
  url: string;
  close(): Promise<void>;
}

/** Starts the hub (this file in `serve` mode) on `dbUrl`, with `nowTs` as its present. */
async function startHub(dbUrl: string, nowTs: number, profileDir?: string): Promise<HubChild> {
  const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', fileURLToPath(import.meta.url), 'serve', dbUrl, String(nowTs)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve((JSON.parse(line) as { url: string }).url);
    });
    child.once('exit', (code) => reject(new Error(`hub bench server exited with ${code}`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    url,
    close: () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/** node:http with kept-alive connections: for the senders, a third less CPU than fetch (bench.ts). */
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

function request(base: string, method: string, path: string, token: string | null, body?: Buffer | string, headers: Record<string, string> = {}): Promise<{ status: number; text: string; ms: number }> {
  const t = performance.now();
  const { hostname, port } = new URL(base);
  const data = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body) : body;
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        hostname,
        port,
        path,
        method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString(), ms: performance.now() - t }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

/** CPU seconds used so far by every PostgreSQL process (backends, checkpointer, WAL writer, autovacuum), and by the whole machine. */
function cpuTicks(): { postgres: Map<number, number>; busy: number; total: number } {
  const postgres = new Map<number, number>();
  for (const pid of readdirSafe('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      if (stat.slice(stat.indexOf('(') + 1, close) !== 'postgres') continue;
      const f = stat.slice(close + 2).split(' ');
      postgres.set(Number(pid), Number(f[11]) + Number(f[12]));
    } catch {
      // gone meanwhile
    }
  }
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = cpu.reduce((a, b) => a + b, 0);
  return { postgres, busy: total - cpu[3]! - cpu[4]!, total };
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Seconds of CPU between two `cpuTicks()` (USER_HZ = 100 on Linux). */
function cpuBetween(a: ReturnType<typeof cpuTicks>, b: ReturnType<typeof cpuTicks>) {
  let postgres = 0;
  for (const [pid, t] of b.postgres) postgres += t - (a.postgres.get(pid) ?? 0);
  return { postgresS: postgres / 100, busyS: (b.busy - a.busy) / 100, totalS: (b.total - a.total) / 100 };
}

/** Self time of a V8 CPU profile by what it was spent on (the hub process during the push). */
function profileShares(dir: string): Array<[string, number]> {
  const file = readdirSafe(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).size - statSync(a).size)[0];
  if (!file) return [];
  const prof = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Array<{ id: number; callFrame: { functionName: string; url: string } }>; samples: number[]; timeDeltas: number[] };
  const byNode = new Map<number, number>();
  prof.samples.forEach((id, i) => byNode.set(id, (byNode.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)));
  const out = new Map<string, number>();
  for (const n of prof.nodes) {
    const { functionName: f, url } = n.callFrame;
    const kind =
      f === '(idle)' || f === '(program)'
        ? null
        : f === '(garbage collector)'
          ? 'garbage collection'
          : url.includes('/zod/')
            ? 'zod (validation)'
            : url.includes('/pg/') || url.includes('/pg-protocol/') || url.includes('/pg-types/') || url.includes('/pg-pool/')
              ? 'pg driver (parameter encoding, protocol)'
              : url.includes('/hono/') || url.includes('/@hono/')
                ? 'hono, @hono/node-server'
                : url.endsWith('hub/store.ts')
                  ? 'db/hub/store.ts (parameter arrays)'
                  : url.endsWith('hub/app.ts') || url.endsWith('/validation.ts') || url.endsWith('/security.ts')
                    ? 'server/hub/app.ts (routes, superRefine)'
                    : url === '' && f === 'parse'
                      ? 'JSON.parse'
                      : url === '' && /decode|utf8/i.test(f)
                        ? 'UTF-8 decoding'
                        : url === ''
                          ? `V8 built-ins and natives (${f || 'anonymous'})`
                          : url.startsWith('node:')
                            ? 'Node internals (http, streams, buffers)'
                            : 'other';
    if (kind) out.set(kind, (out.get(kind) ?? 0) + (byNode.get(n.id) ?? 0) / 1000);
  }
  return [...out].sort((a, b) => b[1] - a[1]);
}

async function hubStats(hub: HubChild, reset = false): Promise<HubChildStats> {
  return JSON.parse((await request(hub.url, 'GET', `/__bench/stats${reset ? '?reset=1' : ''}`, null)).text) as HubChildStats;
}

/**
 * Runs the hub bench: `row` prints a figure (and keeps it for test/artifacts/bench.json).
 * Needs the PostgreSQL of .ci/pg/start.sh (HEATLEDGER_TEST_PG_URL).
 */
export async function benchHub(row: Row): Promise<void> {
  const { freshDatabase, hasPostgres, testPgUrl } = await import('../support/postgres.ts');
  if (!(await hasPostgres())) {
    console.log(`(PostgreSQL not answering at ${testPgUrl}: hub figures skipped; start it with bash .ci/pg/start.sh)`);
    return;
  }
  const { openHub } = await import('../../db/hub/store.ts');
  const { createHubToken } = await import('../../db/hub/people.ts');
  const days = Number(process.env.HUB_BENCH_DAYS ?? 365);
  if (!(days > 0 && days <= 365)) throw new Error('HUB_BENCH_DAYS: 1-365');
  // A fixed present (mid-afternoon, on the hour) so that every run reads the same windows
  // and the mid-month window below lies inside the year.
  const nowTs = Date.UTC(2026, 10, 20, 14);
  const fromTs = nowTs - days * DAY_MS;
  const iso = (ts: number) => new Date(ts).toISOString().replace('.000Z', 'Z');
  // HUB_BENCH_REUSE=<url of a database kept by HUB_BENCH_KEEP=1>: only the reads, on it.
  const reuse = process.env.HUB_BENCH_REUSE;
  const db = reuse ? { url: reuse, drop: async () => {} } : await freshDatabase('hl_hubbench');
  const keep = process.env.HUB_BENCH_KEEP === '1' || Boolean(reuse);
  const store = await openHub(db.url, { max: 2 });
  let hub: HubChild | null = null;
  try {
    // On a reused database the tokens need names not taken yet.
    const suffix = reuse ? `-${Date.now()}` : '';
    const pushTokens: string[] = [];
    for (const s of SITES) pushTokens.push(await createHubToken(store, { name: `bench-${s.name}${suffix}`, scope: 'push', site: s.name, expiresTs: null, nowTs }));
    const readToken = await createHubToken(store, { name: `bench-read${suffix}`, scope: 'read', site: null, expiresTs: null, nowTs });
    const adminToken = await createHubToken(store, { name: `bench-admin${suffix}`, scope: 'admin', site: null, expiresTs: null, nowTs });
    // HUB_BENCH_PROFILE=1: a CPU profile of the hub process during the push, summarised.
    const profileDir = process.env.HUB_BENCH_PROFILE === '1' ? mkdtempSync(join(tmpdir(), 'hl-hub-prof-')) : undefined;
    hub = await startHub(db.url, nowTs, profileDir);
    let url = hub.url;

    // 1. The year through the push API, the five sites at once.
    const sites = SITES.map((spec, i) => new SiteGenerator(i, spec, fromTs, nowTs));
    if (!reuse) {
    const parentCpu0 = process.cpuUsage();
    const child0 = await hubStats(hub, true);
    const ticks0 = cpuTicks();
    const t0 = performance.now();
    let requests = 0;
    let sentDays = 0;
    let sentRows = 0;
    let sentHours = 0;
    let lastReport = t0;
    const samples: Buffer[] = [];
    await Promise.all(
      sites.map(async (site, i) => {
        let next = await site.nextRequest();
        while (next) {
          const r = next;
          const pending = request(url, 'POST', '/api/v1/hub/push', pushTokens[i]!, r.body);
          // The site's next request is made while the hub stores this one (a site's push is one request at a time).
          const following = await site.nextRequest();
          const answer = await pending;
          if (answer.status !== 200) throw new Error(`push of ${site.spec.name} answered ${answer.status}: ${answer.text.slice(0, 300)}`);
          const stored = JSON.parse(answer.text) as { stored: number; unchanged: number };
          if (stored.stored !== r.days) throw new Error(`push of ${site.spec.name}: ${stored.stored} of ${r.days} days stored`);
          if (i === 0 && samples.length < 3 && requests > 2) samples.push(r.body);
          requests++;
          sentDays += r.days;
          sentRows += r.rows;
          sentHours += r.siteHours;
          if (performance.now() - lastReport > 30_000) {
            lastReport = performance.now();
            const s = (lastReport - t0) / 1000;
            console.log(`  hub: ${sentHours.toLocaleString('en-GB')} site-hours pushed in ${s.toFixed(0)} s (${(sentHours / s).toFixed(1)} site-hours/s)`);
          }
          next = following;
        }
      }),
    );
    const pushS = (performance.now() - t0) / 1000;
    const ticks1 = cpuTicks();
    const parentCpu = process.cpuUsage(parentCpu0);
    const child1 = await hubStats(hub, true);
    const cpu = cpuBetween(ticks0, ticks1);
    const total = (k: keyof SiteStats) => sites.reduce((a, s) => a + s.stats[k], 0);
    row('hub: sites × GPUs × days', `${SITES.length} × ${GPUS.toLocaleString('en-GB')} × ${days}`);
    row('hub: jobs (started in the pushed days)', total('jobs'));
    row('hub: usage rows (hour × project × user × partition, + unattributed)', total('usageRows'));
    row('hub: usage rows per site-hour', total('usageRows') / total('siteHours'));
    row('hub: jobs per site-day', total('jobs') / total('days'));
    row('hub: GPUs allocated (mean; busiest hour)', `${((100 * total('allocatedGpuS')) / (total('siteHours') * 3600 * GPUS)).toFixed(1)} %; ${((100 * Math.max(...sites.map((s) => s.stats.maxHourGpuS))) / (3600 * GPUS)).toFixed(1)} %`);
    row('hub: GPU energy per allocated GPU-hour', total('energyKWh') / (total('allocatedGpuS') / 3600), 'kWh');
    row('hub: push requests (days per request)', `${requests} (${(sentDays / requests).toFixed(1)})`);
    row('hub: push body (mean per request)', total('bodyBytes') / requests / 2 ** 20, 'MiB');
    row('hub: site-hours pushed', sentHours);
    row('hub: push wall time', pushS, 's');
    row('hub: push rate', sentHours / pushS, `site-hours/s (goal ≥ ${GOAL_SITE_HOURS_PER_S}: ${(sentHours / pushS / GOAL_SITE_HOURS_PER_S).toFixed(2)}× the goal)`);
    row('hub: push rate, rows', sentRows / pushS, 'rows/s (usage rows and jobs)');
    row('hub: push rate, bytes', total('bodyBytes') / pushS / 2 ** 20, 'MiB/s of JSON');
    // Where the machine's two cores went during the push.
    const siteCpuS = (parentCpu.user + parentCpu.system) / 1e6;
    const hubCpuS = (child1.cpuMs - child0.cpuMs) / 1000;
    row('hub: CPU during the push: machine busy', `${cpu.busyS.toFixed(0)} of ${cpu.totalS.toFixed(0)} core-s (${((100 * cpu.busyS) / cpu.totalS).toFixed(0)} %)`);
    row('hub: CPU: the sites (synthesis, JSON, SHA-256, sending)', `${siteCpuS.toFixed(0)} s (of which synthesis + JSON + hash ${(total('genCpuMs') / 1000).toFixed(0)} s)`);
    row('hub: CPU: the hub process (HTTP, JSON.parse, zod, pg encoding)', hubCpuS, 's');
    row('hub: CPU: PostgreSQL (all its processes)', cpu.postgresS, 's');
    row('hub: CPU: the rest (other work on this machine, PostgreSQL workers that exited)', Math.max(0, cpu.busyS - siteCpuS - hubCpuS - cpu.postgresS), 's');
    row('hub: site-hours per hub CPU-second (hub process + PostgreSQL)', sentHours / (hubCpuS + cpu.postgresS), `(two cores of the hub's own: ~${((2 * sentHours) / (hubCpuS + cpu.postgresS)).toFixed(1)} site-hours/s)`);
    const pushes = Object.entries(child1.requests).find(([k]) => k.startsWith('POST /api/v1/hub/push'))?.[1];
    if (pushes) row('hub: push request in the hub (mean)', pushes.ms / pushes.n, 'ms');
    const statements = Object.entries(child1.statements).sort((a, b) => b[1].ms - a[1].ms);
    const dbMs = statements.reduce((a, [, t]) => a + t.ms, 0);
    row('hub: push time in statements (sum over connections)', dbMs / 1000, `s (${pushes ? ((100 * dbMs) / pushes.ms).toFixed(0) : '?'} % of the requests' time)`);
    for (const [kind, t] of statements.slice(0, 12)) {
      row(`hub:   ${kind}`, `${(t.ms / 1000).toFixed(1)} s`, `(${t.n} × ${(t.ms / t.n).toFixed(1)} ms; encoding parameters ${(t.encodeMs / 1000).toFixed(1)} s)`);
    }
    if (profileDir) {
      // The profile is written when the hub process exits; the probes below run on a fresh one.
      await hub.close();
      hub = await startHub(db.url, nowTs);
      url = hub.url;
      const shares = profileShares(profileDir);
      const all = shares.reduce((a, [, ms]) => a + ms, 0);
      for (const [kind, ms] of shares.slice(0, 10)) row(`hub: hub process CPU profile: ${kind}`, `${(ms / 1000).toFixed(1)} s`, `(${((100 * ms) / all).toFixed(0)} %)`);
      rmSync(profileDir, { recursive: true, force: true });
    }
    // Quiet probes, one request at a time on the full database. First a re-push of a few of
    // the requests (each day's hash changed, so the hub replaces every day of them) …
    await hubStats(hub, true);
    let probeDays = 0;
    let probeMs = 0;
    for (const body of samples) {
      const text = body.toString().replace(/"hash":"([0-9a-f]{64})"/g, (_, h: string) => `"hash":"${createHash('sha256').update(h).digest('hex')}"`);
      const r = await request(url, 'POST', '/api/v1/hub/push', pushTokens[0]!, text);
      if (r.status !== 200) throw new Error(`probe push answered ${r.status}: ${r.text.slice(0, 200)}`);
      probeDays += (JSON.parse(r.text) as { stored: number }).stored;
      probeMs += r.ms;
    }
    if (probeDays) {
      const probe = await hubStats(hub, true);
      const kinds = Object.entries(probe.statements).sort((a, b) => b[1].ms - a[1].ms);
      row('hub: quiet probe: replacing a site-day (request time / days)', probeMs / probeDays, `ms (${probeDays} days, one request at a time)`);
      row('hub: quiet probe: of which statements', kinds.reduce((a, [, t]) => a + t.ms, 0) / probeDays, 'ms per site-day');
      for (const [kind, t] of kinds.slice(0, 9)) row(`hub:   ${kind}`, t.ms / probeDays, `ms per site-day (encoding parameters ${(t.encodeMs / probeDays).toFixed(1)} ms)`);
    }
    // … then what a request costs before the store: decode, JSON.parse, then zod (the route up to refusing another site's token).
    let decodeMs = 0;
    let parseMs = 0;
    let routeMs = 0;
    let bytes = 0;
    for (const body of samples) {
      const r = JSON.parse((await request(url, 'POST', '/__bench/validate', null, body, { 'x-bench-token': pushTokens[1]! })).text) as { decodeMs: number; parseMs: number; routeMs: number };
      decodeMs += r.decodeMs;
      parseMs += r.parseMs;
      routeMs += r.routeMs;
      bytes += body.length;
    }
    if (samples.length) {
      const perMiB = (ms: number) => `${((ms / bytes) * 2 ** 20).toFixed(1)} ms/MiB`;
      const zodMs = routeMs - parseMs - decodeMs;
      const yearMiB = total('bodyBytes') / 2 ** 20;
      row('hub: quiet probe of a push body: UTF-8 decode', perMiB(decodeMs), `(the year: ~${((decodeMs / bytes) * total('bodyBytes') / 1000).toFixed(0)} s)`);
      row('hub: quiet probe: JSON.parse', perMiB(parseMs), `(the year: ~${((parseMs / bytes) * total('bodyBytes') / 1000).toFixed(0)} s)`);
      row('hub: quiet probe: zod validation (route to 403 − parse − decode)', perMiB(zodMs), `(the year: ~${((zodMs / bytes) * total('bodyBytes') / 1000).toFixed(0)} s over ${yearMiB.toFixed(0)} MiB)`);
    }

    // 2. Grants: a few national ones (admin) and each site's own (pushed).
    const months = (ts: number) => new Date(monthOf(ts)).toISOString().slice(0, 10);
    for (const p of sites[0]!.topProjects(5)) {
      const r = await request(url, 'POST', '/api/v1/hub/grants/national', adminToken, JSON.stringify({ project: p, from: months(fromTs), to: months(nowTs + 40 * DAY_MS), gpuHours: 2_000_000 }));
      if (r.status !== 201) throw new Error(`national grant answered ${r.status}: ${r.text}`);
    }
    for (const [i, site] of sites.entries()) {
      const grants = site.topProjects(10).map((project, k) => ({ project, fromTs: monthOf(fromTs), toTs: monthOf(nowTs + 40 * DAY_MS), gpuHours: 500_000 / (k + 1) }));
      const hash = createHash('sha256').update(JSON.stringify(grants)).digest('hex');
      const r = await request(url, 'POST', '/api/v1/hub/grants', pushTokens[i]!, JSON.stringify({ schema: 1, site: site.spec.name, grants, hash }));
      if (r.status !== 200) throw new Error(`site grants answered ${r.status}: ${r.text}`);
    }
    row('hub: grants (national; per site)', `5; 10`);

    // 3. Settle: what autovacuum would have done by now on a hub that took a year to fill.
    const t = performance.now();
    await store.pool.query('VACUUM (ANALYZE)');
    row('hub: VACUUM (ANALYZE) after the push', (performance.now() - t) / 1000, 's');
    const size = await store.pool.query('SELECT pg_database_size(current_database()) AS b');
    row('hub: database size', Number(size.rows[0].b) / 2 ** 30, 'GiB');
    const tables = await store.pool.query(
      `SELECT c.relname AS name, pg_total_relation_size(c.oid) AS b, pg_table_size(c.oid) AS heap, c.reltuples AS n FROM pg_class c
       WHERE c.relkind = 'r' AND c.relname LIKE 'hub_%' ORDER BY b DESC LIMIT 9`,
    );
    for (const x of tables.rows as Array<{ name: string; b: string; heap: string; n: number }>) {
      row(`hub:   ${x.name}`, `${(Number(x.b) / 2 ** 20).toFixed(0)} MiB`, `(table with TOAST ${(Number(x.heap) / 2 ** 20).toFixed(0)} MiB, indexes ${((Number(x.b) - Number(x.heap)) / 2 ** 20).toFixed(0)} MiB; ${Math.round(x.n).toLocaleString('en-GB')} rows)`);
    }

    }

    // 4. The reads.
    const q = (a: number, b: number) => `from=${iso(a)}&to=${iso(b)}`;
    const month = q(nowTs - 30 * DAY_MS, nowTs);
    const year = q(nowTs - 365 * DAY_MS, nowTs);
    const midMonths = q(Date.UTC(2026, 1, 10, 13), Date.UTC(2026, 8, 20, 7));
    const top = sites[0]!.topProject;
    const reads: Array<[string, string]> = [
      ['usage by site, project, 30 d', `/api/v1/hub/usage?groupBy=site,project&${month}`],
      ['usage by site, project, 365 d', `/api/v1/hub/usage?groupBy=site,project&${year}`],
      ['usage by site, project, 2026-02-10T13 → 09-20T07', `/api/v1/hub/usage?groupBy=site,project&${midMonths}`],
      ['usage by project, 365 d', `/api/v1/hub/usage?groupBy=project&${year}`],
      ['facility, 365 d', `/api/v1/hub/facility?${year}`],
      ['waits by site, partition, 30 d', `/api/v1/hub/waits?groupBy=site,partition&${month}`],
      ['waits by site, partition, 365 d', `/api/v1/hub/waits?groupBy=site,partition&${year}`],
      ['grants (5 national, 50 of sites)', '/api/v1/hub/grants'],
      [`review of ${top}, 365 d`, `/api/v1/hub/projects/${top}/review?${year}`],
    ];
    const timedRead = async (path: string) => {
      const r = await request(hub!.url, 'GET', path, readToken);
      if (r.status !== 200) throw new Error(`${path} answered ${r.status}: ${r.text.slice(0, 200)}`);
      return r.ms;
    };
    // Cold: the first request for each read from a freshly started hub (a new process, new
    // connections to PostgreSQL: no plan or catalogue caches; like \`hub serve\`, it has read
    // the last 30 and 365 days once before listening, so windows other than those find only
    // their shared months and days kept), three restarts, the order
    // rotating (a read over 5 s only in the first, to keep the bench within its time). The
    // pages stay in PostgreSQL's buffers and the OS cache.
    const cold = new Map<string, number[]>(reads.map(([name]) => [name, []]));
    const ROUNDS = 3;
    for (let round = 0; round < ROUNDS; round++) {
      await hub.close();
      hub = await startHub(db.url, nowTs);
      await request(hub.url, 'GET', '/api/health', null);
      for (let k = 0; k < reads.length; k++) {
        const [name, path] = reads[(k + round * 3) % reads.length]!;
        const times = cold.get(name)!;
        if (round > 0 && times[0]! > 5000) continue;
        times.push(await timedRead(path));
      }
    }
    // Warm: on the last of those hubs (it has answered each read once), 20 more of each, or
    // fewer when they pass 10 s (at least 3).
    const warm = new Map<string, number[]>();
    for (const [name, path] of reads) {
      const times: number[] = [];
      const started = performance.now();
      while (times.length < 20 && (times.length < 3 || performance.now() - started < 10_000)) times.push(await timedRead(path));
      warm.set(name, times.sort((a, b) => a - b));
    }
    const slow: Array<[string, string]> = [];
    for (const [name, path] of reads) {
      const c = cold.get(name)!.sort((a, b) => a - b);
      const w = warm.get(name)!;
      const p95 = percentile(w, 0.95);
      row(`hub: read ${name} cold p50 / p95`, `${percentile(c, 0.5).toFixed(1)} / ${percentile(c, 0.95).toFixed(1)}`, `ms (${c.length} restarts)`);
      row(`hub: read ${name} warm p50 / p95`, `${percentile(w, 0.5).toFixed(1)} / ${p95.toFixed(1)}`, `ms (${w.length} requests; goal p95 ≤ ${GOAL_P95_MS}: ${p95 <= GOAL_P95_MS ? 'met' : `${(p95 / GOAL_P95_MS).toFixed(1)}× over`})`);
      if (p95 > GOAL_P95_MS || percentile(c, 0.95) > GOAL_P95_MS) slow.push([name, path]);
    }
    const worst = Math.max(...[...warm.values()].map((w) => percentile(w, 0.95)));
    row('hub: reads: worst warm p95', worst, `ms (goal ≤ ${GOAL_P95_MS}; ${reads.length - slow.length} of ${reads.length} reads within it cold and warm)`);

    // 5. The plans of the reads that miss the goal, in test/artifacts/hub-explain.txt.
    if (slow.length) {
      let text = `# EXPLAIN (ANALYZE, BUFFERS) of the hub reads over ${GOAL_P95_MS} ms, ${new Date().toISOString()} (${days} days × ${SITES.length} sites)\n`;
      for (const [name, path] of slow) {
        const plans = JSON.parse((await request(hub.url, 'POST', '/__bench/explain', null, JSON.stringify({ path, token: readToken }))).text) as Array<{ text: string; plan: string }>;
        text += `\n## ${name}: GET ${path}\n`;
        for (const p of plans) {
          text += `\n${p.text}\n\n${p.plan}\n`;
          const exec = /Execution Time: ([\d.]+) ms/.exec(p.plan);
          console.log(`  plan of ${name}: ${p.text.split('\n')[0]!.slice(0, 90)}… execution ${exec?.[1] ?? '?'} ms`);
        }
      }
      mkdirSync('test/artifacts', { recursive: true });
      writeFileSync(join('test/artifacts', 'hub-explain.txt'), text);
      console.log('  (plans written to test/artifacts/hub-explain.txt)');
    }
    if (keep) console.log(`  hub database kept (HUB_BENCH_KEEP=1): ${db.url}`);
  } finally {
    agent.destroy();
    await hub?.close();
    await store.close();
    if (!keep) await db.drop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === 'serve') {
  await serveHub(process.argv[3]!, Number(process.argv[4]));
}
