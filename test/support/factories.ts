/** Small factories for integration tests: an app over a fresh in-memory database, and batches. */
import { testClient } from 'hono/testing';
import type { GpuSample, JobRecord } from '../../collectors/shared/wire.ts';
import { openDatabase } from '../../db/client.ts';
import { createStore } from '../../db/store.ts';
import { createApp } from '../../server/app.ts';
import { testConfig, type Config } from '../../server/config.ts';
import { addUser, createToken, type Role } from '../../server/services/auth.service.ts';

export const T0 = Date.parse('2026-11-20T10:00:00.000Z');
export const iso = (ms: number) => new Date(ms).toISOString();
export const H = 3_600_000;

/** A migrated in-memory database, an app over it with a fixed clock, and tokens of each scope. */
export function makeApp(options: { now?: number; config?: Partial<Config> } = {}) {
  const db = openDatabase(':memory:');
  const config = testConfig({ webDir: '/nonexistent', ...options.config });
  let now = options.now ?? T0 + 48 * H;
  const store = createStore(db.$client, config);
  const app = createApp({ db, config, now: () => now, store });
  const tokens = {
    ingest: createToken(db, 'test-ingest', 'ingest'),
    read: createToken(db, 'test-read', 'read'),
    admin: createToken(db, 'test-admin', 'admin'),
  };
  const client = testClient(app);
  const auth = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
  return {
    db,
    app,
    client,
    tokens,
    auth,
    setNow: (ms: number) => (now = ms),
    /** Runs the store's rollup upkeep at the app's clock, as the server's compactor would. */
    compact: () => store.compact(now),
    count: (table: string) => (db.$client.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n,
    addPerson: (username: string, role: Role, projects: string[] = []) => addUser(db, { username, role, password: 'correct horse', projects }),
  };
}

/** A GPU sample with plausible defaults. */
export function sample(over: Partial<GpuSample> & { ts: string }): GpuSample {
  return {
    gpuUuid: 'GPU-aaaa',
    gpuIndex: 0,
    model: 'NVIDIA H200',
    utilPct: 90,
    memUsedMiB: 1000,
    memTotalMiB: 143771,
    powerW: 600,
    powerLimitW: 700,
    tempC: 60,
    processes: [],
    jobIds: [],
    ...over,
  };
}

/** Samples of one GPU every `stepS` seconds from `fromMs` to `toMs` inclusive. */
export function series(fromMs: number, toMs: number, stepS: number, over: Partial<GpuSample> = {}): GpuSample[] {
  const out: GpuSample[] = [];
  for (let t = fromMs; t <= toMs; t += stepS * 1000) out.push(sample({ ...over, ts: iso(t) }));
  return out;
}

/** A job record with plausible defaults. */
export function job(over: Partial<JobRecord> & { jobId: string }): JobRecord {
  return {
    arrayJobId: null,
    name: 'train',
    user: 'alice',
    account: 'proj-a',
    partition: 'gpu',
    qos: 'normal',
    state: 'COMPLETED',
    submitTime: iso(T0 - H),
    eligibleTime: iso(T0 - H),
    startTime: iso(T0),
    endTime: iso(T0 + H),
    gpus: 1,
    gpuType: 'h200',
    cpus: 8,
    nodes: ['gpu-n01'],
    exitCode: 0,
    ...over,
  };
}
