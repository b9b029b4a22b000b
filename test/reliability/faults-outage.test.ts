/**
 * Faults with the real GPU collector (child process, fake nvidia-smi on PATH):
 * - the server stopped while the collector runs: the issue says 10 minutes; this test
 *   stops it for 10 s at a 0.5 s sampling interval (20 rounds spooled), which exercises the
 *   same spool-and-replay path in CI time;
 * - the database unwritable (query_only, then a full database via max_page_count: the
 *   tests run as root, for whom a read-only file is still writable): ingest answers 503
 *   with a clear error, the collector keeps spooling, nothing crashes;
 * - an nvidia-smi document with an external entity reaches nothing stored.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../db/client.ts';
import { createApp } from '../../server/app.ts';
import { testConfig } from '../../server/config.ts';
import { createToken } from '../../server/services/auth.service.ts';
import { recomputeFromRaw, rollupDifferences, storedRollups } from './support/recompute.ts';
import { countingNvidiaSmi, fakeProc, freePort, startGpuCollector, startServerOn, waitFor, type Child } from './support/processes.ts';

const work = mkdtempSync(join(tmpdir(), 'hl-faults-'));
const children: Child[] = [];
afterAll(() => {
  for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL');
});

const calls = (dir: string) => {
  try {
    return Number(readFileSync(join(dir, 'calls'), 'utf8').trim());
  } catch {
    return 0;
  }
};
const spooled = (dir: string) => {
  try {
    return readdirSync(dir).filter((f) => f.endsWith('.json')).length;
  } catch {
    return 0;
  }
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Checks that the database holds exactly one sample per GPU per nvidia-smi call, with the powers printed. */
function expectEverySampleOnce(sqlite: Database.Database, n: number): void {
  const powers = (uuid: string) =>
    (sqlite.prepare('SELECT s.power_w AS p FROM gpu_samples s JOIN gpus g ON g.id = s.gpu_id WHERE g.uuid = ? ORDER BY s.ts').all(uuid) as Array<{ p: number }>).map((r) => r.p);
  // The fake prints 100+k W and 300+k W on call k, so in time order the powers are 101…100+n.
  expect(powers('GPU-0a0a0a0a-1111-2222-3333-444444444444')).toEqual(Array.from({ length: n }, (_, k) => 101 + k));
  expect(powers('GPU-0b0b0b0b-1111-2222-3333-444444444444')).toEqual(Array.from({ length: n }, (_, k) => 301 + k));
}

/** The energy a run without the fault gives: the same samples ingested in order, at once, into a fresh app. */
async function faultFreeEnergy(sqlite: Database.Database): Promise<Map<string, number>> {
  const fresh = openDatabase(':memory:');
  const app = createApp({ db: fresh, config: testConfig({ webDir: '/nonexistent' }), now: () => Date.now() });
  const token = createToken(fresh, 'i', 'ingest');
  const rows = sqlite
    .prepare('SELECT g.uuid, g.gpu_index AS idx, s.ts, s.power_w AS p, s.util_pct AS u, s.job_ids AS jobs FROM gpu_samples s JOIN gpus g ON g.id = s.gpu_id ORDER BY s.ts')
    .all() as Array<{ uuid: string; idx: number; ts: number; p: number; u: number | null; jobs: string | null }>;
  const samples = rows.map((r) => ({
    ts: new Date(r.ts).toISOString(), gpuUuid: r.uuid, gpuIndex: r.idx, model: null, utilPct: r.u, memUsedMiB: null, memTotalMiB: null,
    powerW: r.p, powerLimitW: null, tempC: null, jobIds: r.jobs ? (JSON.parse(r.jobs) as string[]) : [],
  }));
  const res = await app.request('/api/v1/ingest/gpu', { method: 'POST', body: JSON.stringify({ schema: 1, cluster: 'bitten', node: 'gpu-n01', samples }), headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } });
  expect(res.status).toBe(202);
  const energy = storedRollups(fresh.$client).jobHour;
  fresh.$client.close();
  return energy;
}

describe('the server stopped while the GPU collector runs', () => {
  it('spools through the outage and afterwards every sample is stored once, with the fault-free energy', async () => {
    const dbPath = join(work, 'outage.db');
    const setup = openDatabase(dbPath);
    writeFileSync(join(work, 'outage.token'), createToken(setup, 'gpu-collectors', 'ingest'));
    setup.$client.close();
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const smi = countingNvidiaSmi(join(work, 'smi-outage'));
    const spoolDir = join(work, 'spool-outage');

    let server = await startServerOn(port, dbPath);
    children.push(server);
    const collector = startGpuCollector({ server: url, tokenFile: join(work, 'outage.token'), spoolDir, pathDir: smi, procRoot: fakeProc(join(work, 'proc')), intervalS: 0.5 });
    children.push(collector);
    await waitFor(() => calls(smi) >= 4, 20_000, collector.output);

    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    const callsAtStop = calls(smi);
    await sleep(10_000);
    // The collector kept sampling and spooled what it could not send.
    expect(calls(smi)).toBeGreaterThanOrEqual(callsAtStop + 15);
    expect(spooled(spoolDir)).toBeGreaterThanOrEqual(10);
    expect(collector.child.exitCode).toBeNull();
    expect(collector.output()).toMatch(/server unavailable/);

    server = await startServerOn(port, dbPath);
    children.push(server);
    const callsAtRestart = calls(smi);
    await waitFor(() => spooled(spoolDir) === 0 && calls(smi) >= callsAtRestart + 4, 30_000, collector.output);
    collector.child.kill('SIGTERM');
    expect(await collector.exited).toBe(0);
    const n = calls(smi);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    expect(spooled(spoolDir)).toBe(0);

    const db = new Database(dbPath, { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      expectEverySampleOnce(db, n);
      const stored = storedRollups(db);
      const raw = recomputeFromRaw(db);
      expect(rollupDifferences(stored.gpuHour, raw.gpuHour)).toEqual([]);
      expect(rollupDifferences(stored.jobHour, raw.jobHour)).toEqual([]);
      expect(rollupDifferences(stored.jobHour, await faultFreeEnergy(db))).toEqual([]);
      // The jobs of the document's processes (12345 on GPU 0, 777 on GPU 1) got energy.
      expect([...stored.jobHour.keys()].map((k) => k.split('|')[1]).sort()).toEqual(expect.arrayContaining(['12345', '777']));
    } finally {
      db.close();
    }
  }, 90_000);
});

describe('the database unwritable', () => {
  it('answers 503 with a clear error while the collector spools, then catches up once writable', async () => {
    const dbPath = join(work, 'unwritable.db');
    const db = openDatabase(dbPath);
    const app = createApp({ db, config: testConfig({ dbPath, webDir: '/nonexistent' }) });
    const ingestToken = createToken(db, 'gpu-collectors', 'ingest');
    const readToken = createToken(db, 'reader', 'read');
    writeFileSync(join(work, 'unwritable.token'), ingestToken);
    const http = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise<void>((res) => http.once('listening', () => res()));
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    const smi = countingNvidiaSmi(join(work, 'smi-ro'));
    const spoolDir = join(work, 'spool-ro');
    const collector = startGpuCollector({ server: url, tokenFile: join(work, 'unwritable.token'), spoolDir, pathDir: smi, procRoot: fakeProc(join(work, 'proc-ro')), intervalS: 0.3 });
    children.push(collector);
    const stored = () => (db.$client.prepare('SELECT COUNT(*) AS n FROM gpu_samples').get() as { n: number }).n;
    const post = (body: unknown) =>
      fetch(`${url}/api/v1/ingest/gpu`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', authorization: `Bearer ${ingestToken}` } });
    const batch = (offsetMs: number, count: number) => ({
      schema: 1, cluster: 'bitten', node: 'probe',
      samples: Array.from({ length: count }, (_, i) => ({ ts: new Date(Date.now() - 7_200_000 + offsetMs + i * 1000).toISOString(), gpuUuid: 'GPU-probe', gpuIndex: 0, model: null, utilPct: 50, memUsedMiB: null, memTotalMiB: null, powerW: 300, powerLimitW: null, tempC: null })),
    });
    try {
      await waitFor(() => stored() >= 4, 20_000, collector.output);

      db.$client.pragma('query_only = ON');
      const before = stored();
      const refused = await post(batch(0, 10));
      expect(refused.status).toBe(503);
      const body = (await refused.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('UNAVAILABLE');
      expect(body.error.message).toMatch(/^the database cannot be written: attempt to write a readonly database/);
      await sleep(3000);
      expect(stored()).toBe(before);
      expect(spooled(spoolDir)).toBeGreaterThanOrEqual(3);
      expect(collector.output()).toMatch(/server unavailable \(server answered 503: the database cannot be written/);
      expect(collector.child.exitCode).toBeNull();
      // The server itself stays up and keeps answering reads.
      expect((await fetch(`${url}/api/health`)).status).toBe(200);
      expect((await fetch(`${url}/api/v1/usage?groupBy=project`, { headers: { authorization: `Bearer ${readToken}` } })).status).toBe(200);

      // A full disk: the database may not grow past its present size.
      db.$client.pragma('query_only = OFF');
      const pages = Number(db.$client.pragma('page_count', { simple: true }));
      db.$client.pragma(`max_page_count = ${pages}`);
      const full = await post(batch(0, 5000));
      expect(full.status).toBe(503);
      expect(((await full.json()) as { error: { message: string } }).error.message).toMatch(/database or disk is full/);
      expect(collector.child.exitCode).toBeNull();

      db.$client.pragma('max_page_count = 1073741823');
      // The refused probe batch goes through now, whole.
      expect((await post(batch(0, 5000))).status).toBe(202);
      await waitFor(() => spooled(spoolDir) === 0, 30_000, collector.output);
      collector.child.kill('SIGTERM');
      expect(await collector.exited).toBe(0);
      const n = calls(smi);
      const probe = db.$client.prepare("SELECT COUNT(*) AS n FROM gpu_samples s JOIN gpus g ON g.id = s.gpu_id WHERE g.uuid = 'GPU-probe'").get() as { n: number };
      expect(probe.n).toBe(5000);
      db.$client.prepare("DELETE FROM gpu_samples WHERE gpu_id = (SELECT id FROM gpus WHERE uuid = 'GPU-probe')").run();
      expectEverySampleOnce(db.$client, n);
      const rollups = storedRollups(db.$client);
      const raw = recomputeFromRaw(db.$client);
      expect(rollupDifferences(rollups.jobHour, raw.jobHour)).toEqual([]);
      expect(db.$client.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      collector.child.kill('SIGKILL');
      await new Promise<void>((res) => http.close(() => res()));
      db.$client.close();
    }
  }, 90_000);
});

describe('an nvidia-smi document with an external entity', () => {
  it('is refused by the collector, which keeps running, and nothing from it is stored', async () => {
    const dbPath = join(work, 'xxe.db');
    const db = openDatabase(dbPath);
    const app = createApp({ db, config: testConfig({ dbPath, webDir: '/nonexistent' }) });
    writeFileSync(join(work, 'xxe.token'), createToken(db, 'gpu-collectors', 'ingest'));
    const http = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise<void>((res) => http.once('listening', () => res()));
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    const secret = join(work, 'secret.txt');
    writeFileSync(secret, 'TOP-SECRET-MARKER');
    const doc = join(work, 'xxe.xml');
    writeFileSync(doc, `<?xml version="1.0"?>
<!DOCTYPE nvidia_smi_log [ <!ENTITY secret SYSTEM "file://${secret}"> <!ENTITY a "aaaaaaaaaa"> <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"> ]>
<nvidia_smi_log><attached_gpus>1</attached_gpus><gpu id="00000000:01:00.0"><product_name>&secret;&b;</product_name>
<uuid>GPU-&secret;</uuid><minor_number>0</minor_number><fb_memory_usage><total>100 MiB</total><used>1 MiB</used></fb_memory_usage>
<utilization><gpu_util>5 %</gpu_util></utilization><gpu_power_readings><power_draw>100.00 W</power_draw></gpu_power_readings></gpu></nvidia_smi_log>`);
    const smiDir = join(work, 'smi-xxe');
    countingNvidiaSmi(smiDir);
    writeFileSync(join(smiDir, 'nvidia-smi'), `#!/bin/sh\ncat '${doc}'\n`);
    const collector = startGpuCollector({ server: url, tokenFile: join(work, 'xxe.token'), spoolDir: join(work, 'spool-xxe'), pathDir: smiDir, procRoot: join(work, 'none'), intervalS: 0.3 });
    children.push(collector);
    try {
      await waitFor(() => /sampling failed/.test(collector.output()), 20_000, collector.output);
      await sleep(1500);
      expect(collector.child.exitCode).toBeNull();
      expect(collector.output()).toMatch(/Invalid character entity|entity|DOCTYPE/i);
      const dump = ['gpus', 'gpu_samples', 'nodes'].flatMap((t) => db.$client.prepare(`SELECT * FROM ${t}`).all()).map((r) => JSON.stringify(r)).join('\n');
      expect(dump).not.toMatch(/TOP-SECRET-MARKER/);
      expect((db.$client.prepare('SELECT COUNT(*) AS n FROM gpu_samples').get() as { n: number }).n).toBe(0);
    } finally {
      collector.child.kill('SIGTERM');
      await collector.exited;
      await new Promise<void>((res) => http.close(() => res()));
      db.$client.close();
    }
  }, 60_000);
});
