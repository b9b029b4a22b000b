/**
 * The harness of test/integration/freshness.property.test.ts (issue 14 point 6): random
 * writes through every entry point, each replayed on a reference database through
 * connections that never keep anything, and the reads whose answers the connections keep.
 *
 * One run has three databases' worth of connections over two files:
 * - `main`: the server. One long-lived connection, its store and app; its per-connection
 *   caches (kept usage sums, stored-hour facts, inferred energy, wait runs, the writers'
 *   lookups) live as long as the run.
 * - `other`: a second process on the same file, with its own connection, store and app
 *   (a second server or a collector's ingest); `cli`: a short-lived connection on that file
 *   (an admin command), opened for one write and closed.
 * - `reference`: another file that receives the same writes, each through a connection
 *   opened for it alone, so no cache can be behind there.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import fc from 'fast-check';
import type { FacilityReading, GpuSample, JobRecord } from '../../collectors/shared/wire.ts';
import { openDatabase, type Db } from '../../db/client.ts';
import * as schema from '../../db/schema.ts';
import { createStore, rebuildWhereMigrationsAsk, type Store } from '../../db/store.ts';
import { createApp } from '../../server/app.ts';
import { testConfig, type Config } from '../../server/config.ts';
import { createAllocation, updateAllocation } from '../../server/services/allocation.service.ts';
import { createToken } from '../../server/services/auth.service.ts';
import { forgetPerson } from '../../server/services/privacy.service.ts';
import { DomainError } from '../../server/errors.ts';
import { iso, job, sample } from './factories.ts';

const MIN = 60_000;
/** Minute 0 of every run: 21:00 on the last day of a month, so runs cross into the next month. */
export const BASE = Date.parse('2026-11-30T21:00:00.000Z');
/** The clock never passes this minute (after BASE); samples and readings lie in [0, LAST_MIN]. */
export const LAST_MIN = 8 * 60;

const CLUSTER = 'c';
/** Three GPUs on two nodes: two share a node, so a job can be seen on one of its GPUs and not the other. */
const GPUS = [
  { node: 'n1', uuid: 'G1', index: 0 },
  { node: 'n1', uuid: 'G2', index: 1 },
  { node: 'n2', uuid: 'G3', index: 0 },
] as const;
const JOB_IDS = ['1', '2', '3'] as const;
/** Two people: a forgotten one has jobs more often than not. */
const USERS = ['alice', 'bob'] as const;
const PROJECTS = ['pa', 'pb', 'pc'] as const;
/** Grant periods: a quarter, the month that ends inside the run, and two days across its end. */
const PERIODS = [
  ['2026-10-01T00:00:00Z', '2027-01-01T00:00:00Z'],
  ['2026-11-01T00:00:00Z', '2026-12-01T00:00:00Z'],
  ['2026-11-30T00:00:00Z', '2026-12-02T00:00:00Z'],
] as const;

/** Where a write comes from: the server's own connection, a second process, or a one-off admin command. */
export type Via = 'main' | 'other' | 'cli';

export interface JobSpec {
  id: (typeof JOB_IDS)[number];
  user: (typeof USERS)[number];
  account: (typeof PROJECTS)[number];
  partition: 'gpu' | 'big';
  node: 'n1' | 'n2';
  gpus: 1 | 2;
  /** Minutes after BASE (negative: weeks before, in months that have ended). */
  startMin: number;
  /** Null: still running. */
  durationMin: number | null;
  waitMin: number;
}

/** Ingest commands end with the compactor's run on the same connection when `compact` (the server runs it after each commit). */
export type Command =
  | {
      kind: 'gpu';
      via: 'main' | 'other';
      gpu: 0 | 1 | 2;
      /** Minutes after BASE, or `next`: from where this GPU's latest sample (from anyone) left off, as a collector sends. */
      fromMin: number | 'next';
      minutes: number;
      stepS: 60 | 120 | 240;
      powerW: number;
      utilPct: number;
      jobId: string | null;
      compact: boolean;
    }
  | { kind: 'jobs'; via: 'main' | 'other'; jobs: JobSpec[]; compact: boolean }
  | { kind: 'facility'; via: 'main' | 'other'; fromMin: number; minutes: number; itW: number; siteW: number; reusedW: number; compact: boolean }
  /** Sends an earlier batch again, byte for byte (`pick` modulo the batches sent so far). */
  | { kind: 'resend'; via: 'main' | 'other'; pick: number; compact: boolean }
  | { kind: 'forget'; via: Via; user: (typeof USERS)[number] }
  /** Creates the project's grant, or changes it when it has one. */
  | { kind: 'grant'; via: Via; project: (typeof PROJECTS)[number]; gpuHours: number; period: 0 | 1 | 2 }
  | { kind: 'compact'; via: 'main' | 'other' }
  | { kind: 'tick'; minutes: number };

export interface Scenario {
  /** Minutes after BASE at which the clock starts. */
  startMin: number;
  /**
   * What the server holds before the random part: a record for each job, each GPU's
   * samples and the meters' readings up to now, compacted. Later writes then land on data
   * that every kept answer has seen.
   */
  prelude: Command[];
  commands: Command[];
}

const pick = <T>(values: readonly T[]) => fc.constantFrom(...values);
const mainOrOther = pick(['main', 'other'] as const);

const jobSpecOf = (id: fc.Arbitrary<(typeof JOB_IDS)[number]>): fc.Arbitrary<JobSpec> =>
  fc.record({
    id,
    user: pick(USERS),
    account: pick(PROJECTS),
    partition: pick(['gpu', 'big'] as const),
    node: pick(['n1', 'n2'] as const),
    gpus: pick([1, 2] as const),
    // Most jobs run in the hours the samples cover; some weeks earlier, in months that have ended.
    startMin: fc.oneof({ weight: 3, arbitrary: fc.integer({ min: -60, max: LAST_MIN - 60 }) }, { weight: 1, arbitrary: fc.integer({ min: -45 * 1440, max: -2 * 1440 }) }),
    durationMin: fc.option(fc.integer({ min: 10, max: 300 }), { freq: 4 }),
    waitMin: fc.integer({ min: 0, max: 600 }),
  });

const gpuCommand = (fromMin: fc.Arbitrary<number | 'next'>) =>
  fc.record({
    kind: fc.constant('gpu' as const),
    via: mainOrOther,
    // The first GPU more often: batches of one GPU from both processes are what stale cursors get wrong.
    gpu: pick([0, 0, 1, 2] as const),
    fromMin,
    minutes: fc.integer({ min: 5, max: 150 }),
    stepS: pick([60, 120] as const),
    powerW: fc.integer({ min: 50, max: 700 }),
    utilPct: pick([0, 90]),
    jobId: fc.option(pick(JOB_IDS), { freq: 4 }),
    compact: fc.boolean(),
  });

const facilityCommand = (fromMin: fc.Arbitrary<number>, minutes: fc.Arbitrary<number>) =>
  fc.record({
    kind: fc.constant('facility' as const),
    via: mainOrOther,
    fromMin,
    minutes,
    itW: fc.integer({ min: 500, max: 3000 }),
    siteW: fc.integer({ min: 3000, max: 5000 }),
    reusedW: fc.integer({ min: 0, max: 1500 }),
    compact: fc.boolean(),
  });

/** One command of the random part; GPU batches and job records come most often, being what a site sends all day. */
export const command: fc.Arbitrary<Command> = fc.oneof(
  // Late (an earlier range), overlapping or duplicate samples, or the next batch.
  { weight: 5, arbitrary: gpuCommand(fc.oneof(fc.constant('next' as const), fc.integer({ min: 0, max: LAST_MIN - 10 }))) },
  // With three job ids, most records correct one sent before (another account, person, end).
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('jobs' as const), via: mainOrOther, jobs: fc.array(jobSpecOf(pick(JOB_IDS)), { minLength: 1, maxLength: 2 }), compact: fc.boolean() }) },
  { weight: 1, arbitrary: facilityCommand(fc.integer({ min: 0, max: LAST_MIN - 10 }), fc.integer({ min: 10, max: 240 })) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('resend' as const), via: mainOrOther, pick: fc.nat(20), compact: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('forget' as const), via: pick(['main', 'other', 'cli'] as const), user: pick(USERS) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('grant' as const),
      via: pick(['main', 'other', 'cli'] as const),
      project: pick(PROJECTS),
      gpuHours: fc.integer({ min: 1, max: 500 }),
      period: pick([0, 1, 2] as const),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('compact' as const), via: mainOrOther }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('tick' as const), minutes: fc.integer({ min: 5, max: 120 }) }) },
);

/**
 * The server's state before the random part (Scenario.prelude), all through its own
 * connection: the GPUs' samples end an hour before now (collectors behind), so that
 * `next` batches have something to send.
 */
const preludeAt = (startMin: number): fc.Arbitrary<Command[]> =>
  fc
    .tuple(
      fc.tuple(...JOB_IDS.map((id) => jobSpecOf(fc.constant(id)))),
      fc.tuple(...[0, 1, 2].map(() => gpuCommand(fc.constant(0)))),
      facilityCommand(fc.constant(0), fc.constant(LAST_MIN)),
    )
    .map(([jobs, gpus, facility]): Command[] => [
      { kind: 'jobs', via: 'main', jobs, compact: false },
      // Every 4 minutes: within the 5 minutes over which power is integrated, and half the samples of 2.
      ...gpus.map((g, i) => ({ ...g, via: 'main' as const, gpu: i as 0 | 1 | 2, minutes: startMin - 60, stepS: 240 as const, compact: false })),
      { ...facility, via: 'main', compact: true },
    ]);

/** A run: where the clock starts (before or after midnight), the prelude, and 3-6 commands. */
export const scenario: fc.Arbitrary<Scenario> = fc
  .integer({ min: 120, max: 240 })
  .chain((startMin) => fc.record({ startMin: fc.constant(startMin), prelude: preludeAt(startMin), commands: fc.array(command, { minLength: 3, maxLength: 6 }) }));

/** The reads compared: every per-connection cache sits behind one of them. */
export function readPaths(): string[] {
  // Cuts hours with data at both ends and crosses the month's end: the hour cut at the start
  // and the jobs crossing it, live and stored hours, inferred energy, the kept edge of the
  // month that ends at midnight.
  const cut = 'from=2026-11-30T21:20:00Z&to=2026-12-01T02:40:00Z';
  // Part of a day and loose days of a month that has ended, a whole month, part of the
  // current one: kept usage edges and sums, wait runs of every span (partial day, days,
  // range, month), stored hours' facts of a long window.
  const long = 'from=2026-10-20T06:30:00Z&to=2026-12-01T02:40:00Z';
  return [
    ...['/api/v1/usage?groupBy=user&', '/api/v1/energy/projects?', '/api/v1/energy/jobs?'].map((p) => `${p}${cut}`),
    ...['/api/v1/usage?groupBy=user&', '/api/v1/usage?groupBy=project&', '/api/v1/energy/projects?', '/api/v1/energy/jobs?', '/api/v1/waits?groupBy=project&'].map((p) => `${p}${long}`),
    '/api/v1/allocations',
  ];
}

type App = ReturnType<typeof createApp>;

/** A connection with its store and app. */
interface Conn {
  db: Db;
  store: Store;
  app: App;
}

/** A database file migrated and rolled up once, with an ingest and an admin token; each run starts from a copy. */
export interface Template {
  dir: string;
  /** The test configuration; its web directory is the template's (an empty one, so serving it warns of nothing). */
  config: Config;
  path: string;
  ingestToken: string;
  adminToken: string;
}

/** Makes the template database in a new temporary directory. */
export function makeTemplate(): Template {
  const dir = mkdtempSync(join(tmpdir(), 'hl-fresh-'));
  const path = join(dir, 'template.db');
  const db = openDatabase(path, { refreshRollups: false });
  // The rebuilds an opened database asks for once, done here silently rather than on a later open.
  rebuildWhereMigrationsAsk(db.$client, () => {});
  const ingestToken = createToken(db, 'ingest', 'ingest');
  const adminToken = createToken(db, 'admin', 'admin');
  db.$client.close();
  return { dir, config: testConfig({ webDir: dir }), path, ingestToken, adminToken };
}

/** Removes the template's directory and every run's files in it. */
export function removeTemplate(t: Template): void {
  rmSync(t.dir, { recursive: true, force: true });
}

/**
 * A connection with its store and app. `as is`: a file the template migrated, opened
 * without the migrator (see openAsIs); `read`: and with a store that refuses writes, for
 * the connections opened only to read (a store prepares some fifty statements).
 */
function connect(path: string, config: Config, now: () => number, opened: 'migrate' | 'as is' | 'read' = 'migrate'): Conn {
  const db = opened === 'migrate' ? openDatabase(path, { refreshRollups: false }) : openAsIs(path);
  const store = opened === 'read' ? readOnlyStore(db) : createStore(db.$client, config);
  // As a server starts: stored pieces loaded before the first read (kept under the same stamps).
  if (opened === 'migrate') store.warm(now());
  return { db, store, app: createApp({ db, config, now, store }) };
}

function readOnlyStore(db: Db): Store {
  const refuse = (): never => {
    throw new Error('a connection opened to read was asked to write');
  };
  return { sqlite: db.$client, write: refuse, rolledBack: () => {}, compact: refuse, warm: () => ({ waitSpans: 0 }) };
}

/**
 * A connection to a file the template migrated, with openDatabase's pragmas that matter
 * here: opened thousands of times a run, the migrator's re-reading of every migration
 * file would be a sixth of the test's time.
 */
function openAsIs(path: string): Db {
  const sqlite = new Database(path);
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  return drizzle(sqlite, { schema }) as Db;
}

/** A difference between two answers: where, and the two values. */
export function firstDifference(a: unknown, b: unknown, at = ''): string | null {
  if (typeof a === 'number' && typeof b === 'number') {
    // Both sides run the same code over the same rows; the tolerance only covers a sum
    // taken in another order (a kept piece added beside live ones), never a changed input.
    return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b)) ? null : `${at}: ${a} vs ${b}`;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return `${at}: ${a.length} rows vs ${b.length} (${JSON.stringify(a).slice(0, 400)} vs ${JSON.stringify(b).slice(0, 400)})`;
    for (let i = 0; i < a.length; i++) {
      const d = firstDifference(a[i], b[i], `${at}[${i}]`);
      if (d) return d;
    }
    return null;
  }
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const k of keys) {
      const d = firstDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${at}.${k}`);
      if (d) return d;
    }
    return null;
  }
  return Object.is(a, b) ? null : `${at}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
}

/**
 * An answer with pseudonyms made alike and arrays sorted: `user forget` draws a random
 * pseudonym, so the reference holds another one, and rows that differ only in it may come
 * in another order.
 */
export function comparable(v: unknown): unknown {
  if (typeof v === 'string') return v.replace(/forgotten-[0-9a-f]{12}/g, 'forgotten-*');
  if (Array.isArray(v)) return v.map(comparable).sort((x, y) => (JSON.stringify(x) < JSON.stringify(y) ? -1 : JSON.stringify(x) > JSON.stringify(y) ? 1 : 0));
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, comparable(x)]));
  return v;
}

/** One run of a scenario over its own pair of files. */
export class Run {
  nowMs: number;
  private readonly main: Conn;
  private readonly other: Conn;
  /**
   * Holds the reference file open between its one-write connections, so that closing each
   * is not the last close, which checkpoints the log (a tenth of the test's time). It
   * reads nothing but the journal mode, so it keeps nothing. Null before the prelude ends.
   */
  private referencePin: Database.Database | null = null;
  /** Bodies sent so far, to send again. */
  private readonly sent: Array<{ kind: 'gpu' | 'jobs' | 'facility'; body: string }> = [];
  /** The latest sample sent of each GPU, by anyone. */
  private readonly lastSampleTs = new Map<string, number>();
  /** Grants created so far, by project (the ids agree in both files: the same creates in the same order). */
  private readonly grants = new Map<string, number>();
  private readonly clock = () => this.nowMs;

  private constructor(
    private readonly t: Template,
    readonly path: string,
    readonly referencePath: string,
    startMin: number,
  ) {
    this.nowMs = BASE + startMin * MIN;
    this.main = connect(path, this.t.config, this.clock);
    // Opened before the prelude, like a process started before the server's last writes.
    this.other = connect(path, this.t.config, this.clock);
  }

  /** Copies the template (the server's file) and opens the long-lived connections. */
  static start(t: Template, id: number, startMin: number): Run {
    const path = join(t.dir, `run-${id}.db`);
    copyFileSync(t.path, path);
    return new Run(t, path, join(t.dir, `run-${id}-reference.db`), startMin);
  }

  /**
   * Applies the prelude through the server's connection alone, then makes the reference a
   * copy of the file: with one writer, which kept nothing before, nothing in it can be
   * stale yet, and the copy spares replaying it (a fifth of the test's time).
   */
  async prelude(commands: Command[]): Promise<void> {
    for (const cmd of commands) {
      if (cmd.kind !== 'tick' && cmd.via !== 'main') throw new Error('the prelude writes through the server only');
      await this.applyTo(cmd, false);
    }
    this.main.db.$client.prepare('VACUUM INTO ?').run(this.referencePath);
    this.referencePin = new Database(this.referencePath);
    this.referencePin.pragma('journal_mode = WAL');
  }

  /** Applies one command to the server's file (through `via`) and to the reference. */
  async apply(cmd: Command): Promise<void> {
    if (this.referencePin === null) throw new Error('apply the prelude first');
    await this.applyTo(cmd, true);
  }

  private async applyTo(cmd: Command, reference: boolean): Promise<void> {
    if (cmd.kind === 'tick') {
      this.nowMs = Math.min(BASE + LAST_MIN * MIN, this.nowMs + cmd.minutes * MIN);
      return;
    }
    const ingested = this.writeOf(cmd);
    if (ingested === null) return;
    const nowMs = this.nowMs;
    const write = async (c: Conn) => {
      await ingested(c);
      if ('compact' in cmd && cmd.compact) c.store.compact(nowMs);
    };
    if (cmd.via === 'cli') {
      const cli = connect(this.path, this.t.config, this.clock);
      try {
        await write(cli);
      } finally {
        cli.db.$client.close();
      }
    } else await write(cmd.via === 'main' ? this.main : this.other);
    if (!reference) return;
    // The reference: the same write through a connection that has kept nothing.
    const fresh = connect(this.referencePath, this.t.config, this.clock, 'as is');
    try {
      await write(fresh);
    } finally {
      fresh.db.$client.close();
    }
  }

  /** The write a command makes, to run on a given connection; null when it has nothing to send. */
  private writeOf(cmd: Exclude<Command, { kind: 'tick' }>): ((c: Conn) => Promise<void>) | null {
    const nowMs = this.nowMs;
    const post = (kind: 'gpu' | 'jobs' | 'facility', body: string) => async (c: Conn) => {
      const res = await c.app.request(`/api/v1/ingest/${kind}`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.t.ingestToken}` },
      });
      if (res.status !== 202) throw new Error(`ingest ${kind}: ${res.status} ${await res.text()}`);
    };
    const send = (kind: 'gpu' | 'jobs' | 'facility', payload: unknown) => {
      const body = JSON.stringify(payload);
      this.sent.push({ kind, body });
      return post(kind, body);
    };
    // Nothing is sent from the future (the server refuses times more than 10 minutes ahead).
    const times = (fromMin: number, minutes: number, stepMs: number) => {
      const out: number[] = [];
      for (let ts = BASE + fromMin * MIN; ts <= Math.min(BASE + (fromMin + minutes) * MIN, nowMs); ts += stepMs) out.push(ts);
      return out;
    };
    switch (cmd.kind) {
      case 'gpu': {
        const g = GPUS[cmd.gpu];
        const last = this.lastSampleTs.get(g.uuid);
        const fromMin = cmd.fromMin !== 'next' ? cmd.fromMin : last === undefined ? 0 : (last - BASE) / MIN + cmd.stepS / 60;
        const samples: GpuSample[] = times(fromMin, cmd.minutes, cmd.stepS * 1000).map((ts) =>
          sample({ ts: iso(ts), gpuUuid: g.uuid, gpuIndex: g.index, powerW: cmd.powerW, utilPct: cmd.utilPct, jobIds: cmd.jobId === null ? [] : [cmd.jobId] }),
        );
        if (samples.length === 0) return null;
        this.lastSampleTs.set(g.uuid, Math.max(last ?? -Infinity, Date.parse(samples.at(-1)!.ts)));
        return send('gpu', { schema: 1, cluster: CLUSTER, node: g.node, samples });
      }
      case 'jobs':
        return send('jobs', { schema: 1, cluster: CLUSTER, jobs: cmd.jobs.map((j) => jobRecord(j, nowMs)) });
      case 'facility': {
        const readings: FacilityReading[] = times(cmd.fromMin, cmd.minutes, 5 * MIN).flatMap((ts) => [
          { ts: iso(ts), meter: 'it', quantity: 'itPowerW' as const, value: cmd.itW },
          { ts: iso(ts), meter: 'site', quantity: 'facilityPowerW' as const, value: cmd.siteW },
          { ts: iso(ts), meter: 'dh', quantity: 'heatReusedW' as const, value: cmd.reusedW },
        ]);
        return readings.length === 0 ? null : send('facility', { schema: 1, site: 's', readings });
      }
      case 'resend': {
        if (this.sent.length === 0) return null;
        const again = this.sent[cmd.pick % this.sent.length]!;
        return post(again.kind, again.body);
      }
      case 'forget':
        return async (c) => {
          try {
            forgetPerson(c.db.$client, cmd.user, { nowMs, actor: 'admin' });
          } catch (error) {
            // Nothing stored about her (never sent, or forgotten already): nothing changes.
            if (!(error instanceof DomainError && error.code === 'NOT_FOUND')) throw error;
          }
        };
      case 'grant': {
        const [periodStart, periodEnd] = PERIODS[cmd.period];
        const id = this.grants.get(cmd.project);
        if (id === undefined) {
          // Both files create it in the same order, so it gets the same id in each.
          let created = -1;
          return async (c) => {
            const made = await this.grantVia(c, cmd.via, { create: { project: cmd.project, parentId: null, grantedGpuHours: cmd.gpuHours, periodStart, periodEnd } });
            if (created === -1) this.grants.set(cmd.project, (created = made));
            else if (made !== created) throw new Error(`grant ids differ: ${made} vs ${created}`);
          };
        }
        return async (c) => void (await this.grantVia(c, cmd.via, { update: { id, changes: { grantedGpuHours: cmd.gpuHours, periodStart, periodEnd } } }));
      }
      case 'compact':
        return async (c) => void c.store.compact(nowMs);
    }
  }

  /** A grant created or changed: over HTTP on the server, through the service in another process. */
  private async grantVia(
    c: Conn,
    via: Via,
    op: { create: Parameters<typeof createAllocation>[1] } | { update: { id: number; changes: Parameters<typeof updateAllocation>[2] } },
  ): Promise<number> {
    if (via !== 'main') {
      if ('create' in op) return createAllocation(c.db.$client, op.create, 'admin', this.nowMs);
      updateAllocation(c.db.$client, op.update.id, op.update.changes, 'admin', this.nowMs);
      return op.update.id;
    }
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${this.t.adminToken}` };
    const res =
      'create' in op
        ? await c.app.request('/api/v1/allocations', { method: 'POST', body: JSON.stringify(op.create), headers })
        : await c.app.request(`/api/v1/allocations/${op.update.id}`, { method: 'PATCH', body: JSON.stringify(op.update.changes), headers });
    if (res.status !== 201 && res.status !== 200) throw new Error(`allocation: ${res.status} ${await res.text()}`);
    return 'create' in op ? ((await res.json()) as { id: number }).id : op.update.id;
  }

  /** The answers to every read through the server's long-lived app (its caches warm from earlier steps). */
  readCached(): Promise<Map<string, unknown>> {
    return readAll(this.main.app, this.t.adminToken);
  }

  /** The same reads on a connection to `path` opened for them and closed after. */
  async readFresh(path: string): Promise<Map<string, unknown>> {
    const fresh = connect(path, this.t.config, this.clock, 'read');
    try {
      return await readAll(fresh.app, this.t.adminToken);
    } finally {
      fresh.db.$client.close();
    }
  }

  /** Closes the long-lived connections and removes both files. */
  close(): void {
    this.main.db.$client.close();
    this.other.db.$client.close();
    this.referencePin?.close();
    for (const p of [this.path, this.referencePath]) for (const suffix of ['', '-wal', '-shm']) rmSync(`${p}${suffix}`, { force: true });
  }
}

/** A job record as sent at `nowMs`: times after now are not known yet (a job ending later is still running). */
function jobRecord(j: JobSpec, nowMs: number): JobRecord {
  const startTs = Math.min(BASE + j.startMin * MIN, nowMs - MIN);
  const endTs = j.durationMin === null ? null : startTs + j.durationMin * MIN;
  const ended = endTs !== null && endTs <= nowMs;
  const submitTs = startTs - j.waitMin * MIN;
  return job({
    jobId: j.id,
    user: j.user,
    account: j.account,
    partition: j.partition,
    nodes: [j.node],
    gpus: j.gpus,
    submitTime: iso(submitTs),
    eligibleTime: iso(submitTs),
    startTime: iso(startTs),
    endTime: ended ? iso(endTs) : null,
    state: ended ? 'COMPLETED' : 'RUNNING',
  });
}

async function readAll(app: App, token: string): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  for (const path of readPaths()) {
    const res = await app.request(path, { headers: { authorization: `Bearer ${token}` } });
    out.set(path, { status: res.status, body: (await res.json()) as unknown });
  }
  return out;
}
