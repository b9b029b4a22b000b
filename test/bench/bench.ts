/**
 * `npm run bench`: measures what the README and the issues quote, printing a table and
 * writing test/artifacts/bench.json.
 *
 * - demo: start-up time, the simulated facility's 30-day history sent through the real
 *   HTTP ingest API (samples/s), rows and file size afterwards;
 * - ingest: end-to-end HTTP ingest of GPU batches against a raw better-sqlite3 insert of
 *   the same rows into the same table, and their ratio;
 * - freshness: time from an acknowledged batch to its effect in /api/v1/usage;
 * - queries: p50/p95 latency of the read endpoints over the demo's month.
 */
import { mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Simulator } from '../../collectors/demo/simulator.ts';
import type { GpuBatch } from '../../collectors/shared/wire.ts';
import { openDatabase } from '../../db/client.ts';
import { loadConfig } from '../../server/config.ts';
import { startServer } from '../../server/main.ts';
import { createToken } from '../../server/services/auth.service.ts';

const results: Record<string, number | string> = {};
const row = (name: string, value: number | string, unit = '') => {
  results[name] = value;
  console.log(`${name.padEnd(48)} ${typeof value === 'number' ? value.toLocaleString('en-GB', { maximumFractionDigits: 2 }) : value} ${unit}`);
};

function percentile(sorted: number[], p: number): number {
  const rank = (sorted.length - 1) * p;
  const lo = Math.floor(rank);
  return sorted[lo]! + (sorted[Math.min(lo + 1, sorted.length - 1)]! - sorted[lo]!) * (rank - lo);
}

async function benchDemo() {
  const dir = mkdtempSync(join(tmpdir(), 'hl-bench-'));
  const dbPath = join(dir, 'heatledger.db');
  const t0 = performance.now();
  const server = await startServer(loadConfig({}, { dbPath, port: 0, host: '127.0.0.1', demo: true }), () => {});
  row('demo: server start-up', performance.now() - t0, 'ms');
  const stats = await server.demo!.history;
  row('demo: history GPU samples', stats.gpuSamples);
  row('demo: history job records', stats.jobRecords);
  row('demo: history facility readings', stats.facilityReadings);
  row('demo: history wall time', stats.elapsedMs / 1000, 's');
  row('demo: history ingest rate (HTTP, incl. simulation)', stats.gpuSamples / (stats.elapsedMs / 1000), 'GPU samples/s');

  const readToken = createToken(openDatabase(dbPath), 'bench', 'read');
  const now = Date.now();
  const queries: Array<[string, string]> = [
    ['usage by project, 30 d', `/api/v1/usage?from=${new Date(now - 30 * 86_400_000).toISOString()}&to=${new Date(now).toISOString()}`],
    ['usage by day, 30 d', `/api/v1/usage?groupBy=day&from=${new Date(now - 30 * 86_400_000).toISOString()}&to=${new Date(now).toISOString()}`],
    ['usage by user, 24 h', `/api/v1/usage?groupBy=user&from=${new Date(now - 86_400_000).toISOString()}&to=${new Date(now).toISOString()}`],
  ];
  for (const [name, path] of queries) {
    const times: number[] = [];
    for (let i = 0; i < 30; i++) {
      const t = performance.now();
      const res = await fetch(server.url + path, { headers: { authorization: `Bearer ${readToken}` } });
      await res.json();
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    row(`query: ${name} p50`, percentile(times, 0.5), 'ms');
    row(`query: ${name} p95`, percentile(times, 0.95), 'ms');
  }
  await server.close();
  const sqlite = new Database(dbPath, { readonly: true });
  for (const table of ['gpu_samples', 'jobs', 'job_hour', 'gpu_hour', 'project_day', 'facility_readings', 'facility_interval']) {
    row(`demo: rows in ${table}`, (sqlite.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n);
  }
  sqlite.close();
  row('demo: database file size', statSync(dbPath).size / 1024 / 1024, 'MiB');
}

async function benchIngest() {
  const dir = mkdtempSync(join(tmpdir(), 'hl-bench-'));
  const sim = new Simulator(7, Date.now() - 3 * 86_400_000);
  // 10 s samples of 128 GPUs for 6 hours, batched per node and 5 minutes (120 samples per batch).
  const batches: GpuBatch[] = [];
  for (let t = sim.startTs; t < sim.startTs + 6 * 3_600_000; t += 300_000) {
    const perNode = new Map<number, GpuBatch>();
    for (let s = t; s < t + 300_000; s += 10_000) {
      sim.advanceTo(s);
      for (const { node, samples } of sim.samples()) {
        const b = perNode.get(node) ?? { schema: 1, cluster: 'bench', node: sim.nodeName(node), samples: [] };
        b.samples.push(...samples);
        perNode.set(node, b);
      }
    }
    batches.push(...perNode.values());
  }
  const total = batches.reduce((s, b) => s + b.samples.length, 0);

  // Raw: the same rows into the same table, one prepared statement, one transaction per batch.
  const raw = openDatabase(join(dir, 'raw.db'));
  const ins = raw.$client.prepare('INSERT OR IGNORE INTO gpu_samples (ts, gpu_id, util_pct, mem_used_mib, power_w, temp_c, job_ids) VALUES (?, ?, ?, ?, ?, ?, ?)');
  const gpuIds = new Map<string, number>();
  const tx = raw.$client.transaction((b: GpuBatch) => {
    for (const s of b.samples) {
      let id = gpuIds.get(s.gpuUuid);
      if (id === undefined) gpuIds.set(s.gpuUuid, (id = gpuIds.size + 1));
      ins.run(Date.parse(s.ts), id, s.utilPct, s.memUsedMiB, s.powerW, s.tempC, s.jobIds?.length ? JSON.stringify(s.jobIds) : null);
    }
  });
  let t = performance.now();
  for (const b of batches) tx(b);
  const rawRate = total / ((performance.now() - t) / 1000);
  raw.$client.close();

  const dbPath = join(dir, 'http.db');
  const server = await startServer(loadConfig({}, { dbPath, port: 0, host: '127.0.0.1' }), () => {});
  const db = openDatabase(dbPath);
  const ingestToken = createToken(db, 'bench-ingest', 'ingest');
  const readToken = createToken(db, 'bench-read', 'read');
  const bodies = batches.map((b) => JSON.stringify(b));
  t = performance.now();
  let next = 0;
  // Four concurrent senders, like collectors on several nodes.
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < bodies.length) {
        const body = bodies[next++]!;
        const res = await fetch(`${server.url}/api/v1/ingest/gpu`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ingestToken}`, 'content-type': 'application/json' },
          body,
        });
        if (res.status !== 202) throw new Error(`ingest answered ${res.status}: ${await res.text()}`);
        await res.arrayBuffer();
      }
    }),
  );
  const httpRate = total / ((performance.now() - t) / 1000);
  row('ingest: samples per run', total);
  row('ingest: raw better-sqlite3 insert', rawRate, 'samples/s');
  row('ingest: HTTP end to end (validation + rollups)', httpRate, 'samples/s');
  row('ingest: ratio HTTP / raw', httpRate / rawRate);

  // Freshness: a new job and its samples, then poll usage until the energy shows.
  const jobTs = Date.now() - 3_600_000;
  const jobs = { schema: 1, cluster: 'bench', jobs: [{ jobId: 'fresh-1', user: 'u', account: 'fresh-proj', state: 'RUNNING', submitTime: new Date(jobTs).toISOString(), startTime: new Date(jobTs).toISOString(), endTime: null, gpus: 1 }] };
  await fetch(`${server.url}/api/v1/ingest/jobs`, { method: 'POST', headers: { authorization: `Bearer ${ingestToken}`, 'content-type': 'application/json' }, body: JSON.stringify(jobs) });
  const samples = { schema: 1, cluster: 'bench', node: 'fresh-node', samples: [0, 10_000].map((d) => ({ ts: new Date(jobTs + d).toISOString(), gpuUuid: 'GPU-fresh', gpuIndex: 0, model: null, utilPct: 50, memUsedMiB: null, memTotalMiB: null, powerW: 360, powerLimitW: null, tempC: null, processes: [], jobIds: ['fresh-1'] })) };
  const ack = await fetch(`${server.url}/api/v1/ingest/gpu`, { method: 'POST', headers: { authorization: `Bearer ${ingestToken}`, 'content-type': 'application/json' }, body: JSON.stringify(samples) });
  const acked = performance.now();
  if (ack.status !== 202) throw new Error('freshness batch refused');
  for (;;) {
    const from = new Date(jobTs - 3_600_000).toISOString();
    const usage = (await (await fetch(`${server.url}/api/v1/usage?from=${from}`, { headers: { authorization: `Bearer ${readToken}` } })).json()) as { rows: Array<{ key: string; energyKWh: number }> };
    if ((usage.rows.find((r) => r.key === 'fresh-proj')?.energyKWh ?? 0) > 0) break;
  }
  row('freshness: acknowledged batch → visible in usage', performance.now() - acked, 'ms');
  await server.close();
  db.$client.close();
}

await benchIngest();
await benchDemo();
mkdirSync('test/artifacts', { recursive: true });
writeFileSync('test/artifacts/bench.json', JSON.stringify({ measuredAt: new Date().toISOString(), results }, null, 2));
console.log('\nwritten test/artifacts/bench.json');
