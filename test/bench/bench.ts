/**
 * `npm run bench`: measures what the README and the issues quote, printing a table and
 * writing test/artifacts/bench.json.
 *
 * - national (issue 8): a year of a 10,000-GPU facility built as test/bench/national.ts
 *   describes (job records and facility meters through the real ingest, the year's
 *   per-job-hour rollup synthesised with the ingest's integrator, raw samples through the
 *   real GPU ingest for 2 × 10 minutes of all GPUs); then freshness under saturating HTTP
 *   ingest, p50/p95 of every read endpoint over the year and the last month, maintenance
 *   (project-day rebuild, raw purge, size) and the collector's parse cost and memory.
 * - demo: start-up time, the simulated facility's 30-day history sent through the real
 *   HTTP ingest API (samples/s), rows and file size afterwards;
 * - ingest: end-to-end HTTP ingest of GPU batches against a raw better-sqlite3 insert of
 *   the same rows into the same table, and their ratio;
 * - freshness: time from an acknowledged batch to its effect in /api/v1/usage;
 * - queries: p50/p95 latency of the read endpoints over the demo's month.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Simulator } from '../../collectors/demo/simulator.ts';
import type { GpuBatch } from '../../collectors/shared/wire.ts';
import { openDatabase } from '../../db/client.ts';
import { loadConfig } from '../../server/config.ts';
import { startServer } from '../../server/main.ts';
import { createToken } from '../../server/services/auth.service.ts';
import { createAllocation } from '../../server/services/allocation.service.ts';
import { rebuildUsageRollups } from '../../db/rollups/usage.ts';
import { NATIONAL, nodeName, projectName, type NationalStats } from './national.ts';
import { existsSync, rmSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import type { Job as LatencyJob, Timing } from './latency-child.ts';

/**
 * Starts test/bench/server-child.ts on `dbPath` (with `env` added) and waits for its URL.
 * BENCH_SERVER_FLAGS: node flags for the server processes (`--cpu-prof --cpu-prof-dir=DIR` profiles them).
 */
async function startServerProcess(dbPath: string, env: Record<string, string> = {}): Promise<{ url: string; readCacheMs: number; close(): Promise<void> }> {
  const child = spawn(process.execPath, [...(process.env.BENCH_SERVER_FLAGS?.split(' ') ?? []), '--import', 'tsx', join(import.meta.dirname, 'server-child.ts'), dbPath], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  const { url, readCacheMs } = await new Promise<{ url: string; readCacheMs: number }>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line) as { url: string; readCacheMs: number });
    });
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    url,
    readCacheMs,
    close: () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

const DAY = 86_400_000;
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
  // Reads worked out every time (no reuse of answers), as in the national section.
  const server = await startServer(loadConfig({}, { dbPath, port: 0, host: '127.0.0.1', demo: true, readCacheMs: 0 }), () => {});
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
  for (const table of ['gpu_samples', 'jobs', 'job_hour', 'gpu_hour', 'usage_day', 'facility_readings', 'facility_interval']) {
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
  const rawRun = (path: string) => {
    const raw = openDatabase(path);
    const ins = raw.$client.prepare('INSERT OR IGNORE INTO gpu_samples (ts, gpu_id, util_pct, mem_used_mib, power_w, temp_c, job_ids) VALUES (?, ?, ?, ?, ?, ?, ?)');
    const gpuIds = new Map<string, number>();
    const tx = raw.$client.transaction((b: GpuBatch) => {
      for (const s of b.samples) {
        let id = gpuIds.get(s.gpuUuid);
        if (id === undefined) gpuIds.set(s.gpuUuid, (id = gpuIds.size + 1));
        ins.run(Date.parse(s.ts), id, s.utilPct, s.memUsedMiB, s.powerW, s.tempC, s.jobIds?.length ? JSON.stringify(s.jobIds) : null);
      }
    });
    const t = performance.now();
    for (const b of batches) tx(b);
    const rate = total / ((performance.now() - t) / 1000);
    raw.$client.close();
    return rate;
  };

  // HTTP: the server in its own process (test/bench/server-child.ts), as in production, so
  // the senders here (the collectors) do not share its event loop.
  const bodies = batches.map((b) => Buffer.from(JSON.stringify(b)));
  const httpRun = async (path: string) => {
    const db = openDatabase(path);
    const ingestToken = createToken(db, 'bench-ingest', 'ingest');
    const readToken = createToken(db, 'bench-read', 'read');
    db.$client.close();
    const server = await startServerProcess(path);
    // The senders stand in for collectors on other machines but share this machine's two
    // cores with the server: node:http with kept-alive connections costs them about a third
    // less CPU than fetch, and what they spend is taken from the server.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    const { hostname, port } = new URL(server.url);
    const post = (body: Buffer) =>
      new Promise<void>((resolve, reject) => {
        const req = http.request(
          { agent, hostname, port, path: '/api/v1/ingest/gpu', method: 'POST', headers: { authorization: `Bearer ${ingestToken}`, 'content-type': 'application/json', 'content-length': body.length } },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => (res.statusCode === 202 ? resolve() : reject(new Error(`ingest answered ${res.statusCode}: ${Buffer.concat(chunks).toString()}`))));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    const t = performance.now();
    let next = 0;
    // Eight concurrent senders, like collectors on many nodes (with four, a profile showed the
    // server idle a fifth of the time, waiting for requests).
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < bodies.length) await post(bodies[next++]!);
      }),
    );
    agent.destroy();
    return { rate: total / ((performance.now() - t) / 1000), server, ingestToken, readToken };
  };

  // Three rounds, each into fresh files, raw and HTTP in turn; the medians are reported (one
  // round of each swings by a fifth on this shared machine).
  const rawRates: number[] = [];
  const httpRates: number[] = [];
  let last: Awaited<ReturnType<typeof httpRun>> | null = null;
  for (let round = 0; round < 3; round++) {
    rawRates.push(rawRun(join(dir, `raw-${round}.db`)));
    if (last) await last.server.close();
    last = await httpRun(join(dir, `http-${round}.db`));
    httpRates.push(last.rate);
  }
  const { server, ingestToken, readToken } = last!;
  const median = (values: number[]) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)]!;
  const rawRate = median(rawRates);
  const httpRate = median(httpRates);
  row('ingest: samples per run', total);
  row('ingest: raw better-sqlite3 insert (median of 3)', rawRate, 'samples/s');
  row('ingest: HTTP end to end (validation + rollups, median of 3)', httpRate, 'samples/s');
  row('ingest: ratio HTTP / raw (medians)', httpRate / rawRate);
  row('ingest: ratio per round', rawRates.map((r, i) => (httpRates[i]! / r).toFixed(3)).join(', '));

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
}

const started = performance.now();
const save = () => {
  mkdirSync('test/artifacts', { recursive: true });
  writeFileSync('test/artifacts/bench.json', JSON.stringify({ measuredAt: new Date().toISOString(), results }, null, 2));
};
const sections: Record<string, () => Promise<void>> = {
  ingest: benchIngest,
  national: benchNational,
  collector: benchCollector,
  web: () => optionalBench('web-bench.ts', 'benchWeb', 'web'),
  load: () => optionalBench('load-bench.ts', 'benchLoad', 'load'),
  demo: benchDemo,
  // The federation hub on PostgreSQL (issue 18 §5): test/bench/hub-bench.ts.
  hub: async () => (await import('./hub-bench.ts')).benchHub(row),
};
// `BENCH_ONLY=ingest,load npm run bench` runs some sections (while working on one); all by default.
const only = process.env.BENCH_ONLY?.split(',');
for (const [name, section] of Object.entries(sections)) {
  if (only && !only.includes(name)) continue;
  await section();
  save(); // after every section, so a long run leaves what it measured
}
row('bench: total wall time', (performance.now() - started) / 1000, 's');
save();
console.log('\nwritten test/artifacts/bench.json');


/** Runs test/bench/latency-child.ts (a process of its own: this one holds what the national build left on its heap). */
async function latencyChild(job: LatencyJob): Promise<Timing[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'latency-child.ts'), JSON.stringify(job)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`latency client exited with ${code}`);
  return JSON.parse(out) as Timing[];
}

/**
 * Cold and warm p50/p95 of each read against the server `start()` starts; `callsAt(endTs)`
 * names the reads, their windows ending at `endTs`: the time of asking rounded up to 10 s,
 * as the dashboard asks (its viewers' windows end now).
 * Cold: the first request for it after a restart (20 restarts, so that the p95 is a
 * percentile and not the slowest of a handful: with 8, it was one answer, and one pause of
 * this shared VM decided it; the order rotates,
 * so a read is sometimes the very first and sometimes follows reads that share its pages).
 * Warm: the 19 requests after a first one, on a server that has answered it once.
 */
async function coldAndWarm(callsAt: (endTs: number) => Array<[string, string]>, token: string, start: () => Promise<Awaited<ReturnType<typeof startServerProcess>>>) {
  // Cold rounds: each restarts the server and asks every read once, starting at another read each time.
  const COLD_ROUNDS = 20;
  const askedNow = () => callsAt(Math.ceil(Date.now() / 10_000) * 10_000);
  const cold = new Map<string, number[]>(askedNow().map(([name]) => [name, []]));
  const failed = new Map<string, string>();
  const record = (timings: Timing[], into: (name: string, t: { first: number; after: number[] }) => void) => {
    for (const t of timings) {
      if ('failed' in t) failed.set(t.name, t.failed);
      else into(t.name, t);
    }
  };
  for (let round = 0; round < COLD_ROUNDS; round++) {
    const server = await start();
    const calls = askedNow();
    const offset = Math.floor((round * calls.length) / COLD_ROUNDS);
    const rotated = [...calls.slice(offset), ...calls.slice(0, offset)].map(([name, path]): [string, string] => [name, server.url + path]);
    record(await latencyChild({ token, calls: rotated, once: true }), (name, t) => cold.get(name)!.push(t.first));
    await server.close();
  }
  const server = await start();
  const warm = new Map<string, number[]>();
  const calls = askedNow();
  record(await latencyChild({ token, calls: calls.map(([name, path]) => [name, server.url + path]) }), (name, t) => warm.set(name, t.after));
  for (const [name] of calls) {
    const f = failed.get(name);
    if (f) {
      row(`query: ${name}`, f);
      continue;
    }
    const c = cold.get(name)!.sort((a, b) => a - b);
    const w = warm.get(name)!;
    row(`query: ${name} cold p50 / p95`, `${percentile(c, 0.5).toFixed(1)} / ${percentile(c, 0.95).toFixed(1)}`, `ms (${c.length} restarts)`);
    results[`query: ${name} cold p95`] = percentile(c, 0.95);
    if (w.length === 0) continue;
    row(`query: ${name} warm p50 / p95`, `${percentile(w, 0.5).toFixed(1)} / ${percentile(w, 0.95).toFixed(1)}`, `ms (${w.length} requests)`);
    results[`query: ${name} warm p95`] = percentile(w, 0.95);
  }
  const worst = (suffix: string) => Math.max(...Object.entries(results).filter(([k, v]) => k.endsWith(suffix) && typeof v === 'number').map(([, v]) => v as number));
  row('query: worst cold p95 / worst warm p95', `${worst('cold p95').toFixed(1)} / ${worst('warm p95').toFixed(1)}`, 'ms (goal ≤ 50 each)');
  return server;
}

async function benchNational() {
  const dir = mkdtempSync(join(tmpdir(), 'hl-national-'));
  const dbPath = join(dir, 'national.db');
  // Built in a process of its own (test/bench/build-national.ts), which exits: the timings
  // below then run on a machine whose memory holds no builder's heap (a deployed server's
  // does not share it either).
  // NATIONAL_BENCH_KEEP=DIR keeps a copy of the built year (grants included) in DIR;
  // NATIONAL_BENCH_REUSE=DIR starts from that copy instead of building (while working on a
  // read: its windows still end when asked, so the year's last hours may be empty).
  const reuse = process.env.NATIONAL_BENCH_REUSE;
  let t = performance.now();
  if (reuse) {
    copyFileSync(join(reuse, 'national.db'), dbPath);
    copyFileSync(join(reuse, 'national.db.json'), `${dbPath}.json`);
  } else {
    const built = spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'build-national.ts'), dbPath], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (built.status !== 0) throw new Error(`national build exited with ${built.status}`);
  }
  const { nowTs, stats, readToken, ingestToken } = JSON.parse(readFileSync(`${dbPath}.json`, 'utf8')) as { nowTs: number; stats: NationalStats; readToken: string; ingestToken: string };
  const config = loadConfig({}, { dbPath, port: 0, host: '127.0.0.1', alertCheckS: 86_400 });
  const db = openDatabase(dbPath);
  row(reuse ? `national: copied from ${reuse} (built ${new Date(nowTs).toISOString()})` : 'national: build wall time', (performance.now() - t) / 1000, 's');
  row('national: jobs', stats.jobs);
  row('national: job_hour rows (year)', stats.jobHourRows);
  row('national: facility readings (year, 1/min)', stats.facilityReadings);
  row('national: job ingest (in-process, no zod)', stats.timings.jobIngestPerS!, 'jobs/s');
  row('national: GPU ingest in-process at national size', stats.rawSamples / stats.timings.rawSamplesS!, 'samples/s');
  // One grant per project for the year, as a committee would hold them.
  if (!reuse) {
    for (let p = 0; p < NATIONAL.projects; p++) {
      createAllocation(db.$client, { project: projectName(p), parentId: null, grantedGpuHours: 100_000, periodStart: new Date(nowTs - 300 * DAY).toISOString(), periodEnd: new Date(nowTs + 65 * DAY).toISOString() }, 'bench', nowTs);
    }
  }
  db.$client.pragma('wal_checkpoint(TRUNCATE)');
  db.$client.close();
  const keep = process.env.NATIONAL_BENCH_KEEP;
  if (keep && !reuse) {
    mkdirSync(keep, { recursive: true });
    copyFileSync(dbPath, join(keep, 'national.db'));
    copyFileSync(`${dbPath}.json`, join(keep, 'national.db.json'));
  }

  // The server in its own process, as deployed: the bench's memory (the year it built) and
  // its client requests do not share the server's heap or event loop. Every read is worked
  // out each time (no reuse of answers): these are the queries' own costs.
  const startNational = async () => {
    const s = await startServerProcess(dbPath, { HEATLEDGER_READ_CACHE_MS: '0' });
    if (s.readCacheMs !== 0) throw new Error('the national queries must be measured without reuse of answers');
    return s;
  };
  row('national: reuse of read answers (HEATLEDGER_READ_CACHE_MS)', 0, 'ms');
  // Per-job answers (a row per job: two million over the year) are measured over the month only.
  const windowed: Array<[string, string, boolean]> = [
    ['usage by project', '/api/v1/usage?groupBy=project&', true],
    ['usage by user', '/api/v1/usage?groupBy=user&', true],
    ['usage by partition', '/api/v1/usage?groupBy=partition&', true],
    ['usage by day', '/api/v1/usage?groupBy=day&', true],
    ['waits by partition', '/api/v1/waits?groupBy=partition&', true],
    ['waits by project', '/api/v1/waits?groupBy=project&', true],
    ['waits by gpus', '/api/v1/waits?groupBy=gpus&', true],
    ['waits by hour of week', '/api/v1/waits?groupBy=hourOfWeek&', true],
    ['energy KPIs (daily series)', '/api/v1/energy/kpis?bucket=day&', true],
    ['energy by project', '/api/v1/energy/projects?', true],
    ['cooling (daily)', '/api/v1/energy/cooling?bucket=day&', true],
    ['energy by job', '/api/v1/energy/jobs?', false],
    ['jobs list (500)', '/api/v1/jobs?limit=500&', false],
    ['review pack p299', '/api/v1/projects/p299/review?', false],
  ];
  // The year's data ends at nowTs; windows end when they are asked (minutes later: the minutes between hold nothing).
  const callsAt = (endTs: number) => {
    const year = `from=${new Date(endTs - 365 * DAY).toISOString()}&to=${new Date(endTs).toISOString()}`;
    const month = `from=${new Date(endTs - 30 * DAY).toISOString()}&to=${new Date(endTs).toISOString()}`;
    const calls: Array<[string, string]> = [];
    for (const [name, path, yearToo] of windowed) {
      calls.push([`${name}, month`, `${path}${month}`]);
      if (yearToo) calls.push([`${name}, year`, `${path}${year}`]);
    }
    calls.push(['queue now', '/api/v1/queue']);
    calls.push(['wait estimate (gpu, 8 GPUs)', '/api/v1/waits/estimate?partition=gpu&gpus=8']);
    calls.push(['allocations of p299 (one grant)', '/api/v1/allocations?project=p299']);
    calls.push(['Prometheus scrape (/metrics)', '/metrics']);
    calls.push([`EED report ${new Date(nowTs).getUTCFullYear() - 1}`, `/api/v1/reports/eed?year=${new Date(nowTs).getUTCFullYear() - 1}`]);
    return calls;
  };
  const server = await coldAndWarm(callsAt, readToken, startNational);
  if (process.env.NATIONAL_BENCH_READS_ONLY) {
    // NATIONAL_BENCH_READS_ONLY=1: the cold and warm reads only (freshness and maintenance left out).
    await server.close();
    rmSync(dir, { recursive: true, force: true });
    return;
  }

  // Freshness under full ingest load: four senders post node batches as fast as the server takes
  // them while a probe job's samples are posted and /api/v1/usage is polled until they count.
  let stop = false;
  let sentSamples = 0;
  const loadStart = performance.now();
  const senders = Array.from({ length: 4 }, async (_, k) => {
    for (let i = 0; !stop; i++) {
      const n = (k * 311 + i) % NATIONAL.nodes;
      const base = nowTs - 60_000 + ((Math.floor((k * 311 + i) / NATIONAL.nodes) * 60 + 1) % 50) * 1000;
      const samples = [];
      for (let s = 0; s < 30; s++) {
        for (let g = 0; g < NATIONAL.gpusPerNode; g++) {
          samples.push({ ts: new Date(base + s * 1000 + k * 37 + i).toISOString(), gpuUuid: `GPU-${n}-${g}`, gpuIndex: g, model: 'NVIDIA H200', utilPct: 80, memUsedMiB: 1000, memTotalMiB: 143_771, powerW: 400, powerLimitW: 700, tempC: 50, processes: [], jobIds: [`live-${n}`] });
        }
      }
      const res = await fetch(`${server.url}/api/v1/ingest/gpu`, { method: 'POST', headers: { authorization: `Bearer ${ingestToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ schema: 1, cluster: NATIONAL.cluster, node: nodeName(n), samples }) });
      await res.arrayBuffer();
      if (res.status === 202) sentSamples += samples.length;
    }
  });
  await new Promise((r) => setTimeout(r, 2000));
  const probeTs = nowTs - 30 * 60_000;
  const post = (path: string, body: unknown) => fetch(`${server.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${ingestToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  await post('/api/v1/ingest/jobs', { schema: 1, cluster: 'probe', jobs: [{ jobId: 'fresh-1', user: 'u', account: 'fresh-proj', state: 'RUNNING', submitTime: new Date(probeTs).toISOString(), startTime: new Date(probeTs).toISOString(), endTime: null, gpus: 1 }] });
  const probe = { schema: 1, cluster: 'probe', node: 'probe-node', samples: [0, 10_000].map((d) => ({ ts: new Date(probeTs + d).toISOString(), gpuUuid: 'GPU-probe', gpuIndex: 0, model: null, utilPct: 50, memUsedMiB: null, memTotalMiB: null, powerW: 360, powerLimitW: null, tempC: null, processes: [], jobIds: ['fresh-1'] })) };
  const ack = await post('/api/v1/ingest/gpu', probe);
  const acked = performance.now();
  if (ack.status !== 202) throw new Error('freshness batch refused');
  const from = new Date(probeTs - 3_600_000).toISOString();
  for (;;) {
    const usage = (await (await fetch(`${server.url}/api/v1/usage?from=${from}`, { headers: { authorization: `Bearer ${readToken}` } })).json()) as { rows: Array<{ key: string; energyKWh: number }> };
    if ((usage.rows.find((r) => r.key === 'fresh-proj')?.energyKWh ?? 0) > 0) break;
  }
  row('freshness under full ingest load: ack → visible in usage', performance.now() - acked, 'ms');
  stop = true;
  await Promise.all(senders);
  row('freshness: concurrent HTTP ingest during the probe', sentSamples / ((performance.now() - loadStart) / 1000), 'samples/s');
  await server.close();

  // Maintenance.
  const sqlite = new Database(dbPath);
  sqlite.pragma('cache_size = -262144');
  const totals = 'SELECT COUNT(*) AS n, TOTAL(alloc_gpu_s) AS s, TOTAL(energy_wh) AS e FROM usage_day';
  const before = sqlite.prepare(totals).get() as { n: number; s: number; e: number };
  t = performance.now();
  const rebuilt = rebuildUsageRollups(sqlite);
  row('maintenance: rebuild the year of usage rollups (project/user/partition × day and month)', (performance.now() - t) / 1000, 's');
  const after = sqlite.prepare(totals).get() as { n: number; s: number; e: number };
  const close = (a: number, b: number) => Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b));
  row(
    'maintenance: usage_day rows rebuilt (before; month rows)',
    `${rebuilt.dayRows} (${before.n}; ${rebuilt.monthRows}); GPU-s and energy equal to the incremental rollup: ${close(after.s, before.s) && close(after.e, before.e)}`,
  );
  const rawBytes = (sqlite.prepare("SELECT SUM(pgsize) AS b FROM dbstat WHERE name = 'gpu_samples'").get() as { b: number }).b;
  const rawRows = (sqlite.prepare('SELECT COUNT(*) AS n FROM gpu_samples').get() as { n: number }).n;
  const perSample = rawBytes / rawRows;
  row('maintenance: bytes per raw GPU sample (table pages / rows)', perSample, 'B');
  const retention = existsSync(join(import.meta.dirname, '../../server/services/retention.service.ts'))
    ? ((await import('../../server/services/retention.service.ts')) as { purgeRawSamples: (s: Database.Database, o: { nowMs: number; retentionDays: number }) => { gpuSamples: number; facilityReadings: number } }).purgeRawSamples
    : null;
  if (retention) {
    t = performance.now();
    const purged = retention(sqlite, { nowMs: nowTs + 1.5 * DAY, retentionDays: config.retentionDays });
    const s = (performance.now() - t) / 1000;
    row('maintenance: purge expired raw rows', s, 's');
    row('maintenance: purged GPU samples / facility readings', `${purged.gpuSamples} / ${purged.facilityReadings}`);
    row('maintenance: purge rate', (purged.gpuSamples + purged.facilityReadings) / s, 'rows/s');
  } else {
    console.log('(server/services/retention.service.ts absent: purge not measured)');
  }
  sqlite.pragma('wal_checkpoint(TRUNCATE)');
  const tableBytes = sqlite.prepare("SELECT name, SUM(pgsize) AS b FROM dbstat GROUP BY name ORDER BY b DESC").all() as Array<{ name: string; b: number }>;
  sqlite.close();
  const fileBytes = statSync(dbPath).size;
  const rawNow = tableBytes.filter((x) => x.name === 'gpu_samples').reduce((a, x) => a + x.b, 0);
  row('maintenance: database file (year of rollups, jobs, meters)', fileBytes / 2 ** 30, 'GiB');
  for (const x of tableBytes.slice(0, 10)) row(`maintenance: size of ${x.name}`, x.b / 2 ** 20, 'MiB');
  const retainedSamples = (NATIONAL.nodes * NATIONAL.gpusPerNode * config.retentionDays * DAY) / 10_000;
  row(`maintenance: raw window (${config.retentionDays} d of 10 s samples, 10,000 GPUs)`, (retainedSamples * perSample) / 2 ** 30, 'GiB');
  row('maintenance: database per year incl. raw window', (fileBytes - rawNow + retainedSamples * perSample) / 2 ** 30, 'GiB');
  rmSync(dir, { recursive: true, force: true });
}

/** Parse cost of an 8-GPU nvidia-smi document and the collector's memory, in a child process. */
async function benchCollector() {
  const script = `
    import { readFileSync } from 'node:fs';
    import { parseXmlAsNodeNvidiaSmi } from './collectors/gpu/xml-as-node-nvidia-smi.ts';
    import { parseNvidiaSmi } from './collectors/gpu/parse.ts';
    const xml = readFileSync('test/fixtures/nvidia-smi/h200-x2-mig-handwritten.xml', 'utf8');
    const open = xml.indexOf('<gpu ');
    const close = xml.lastIndexOf('</gpu>') + 6;
    const gpus = xml.slice(open, close);
    let body = '';
    for (let i = 0; i < 4; i++) body += gpus.replace(/GPU-([0-9a-f]{8})/g, (_, h) => 'GPU-' + i + h.slice(1));
    const doc8 = xml.slice(0, open) + body + xml.slice(close);
    const n = 300;
    for (let i = 0; i < 20; i++) parseNvidiaSmi(await parseXmlAsNodeNvidiaSmi(doc8), new Date().toISOString());
    const t = performance.now();
    let count = 0;
    for (let i = 0; i < n; i++) count += parseNvidiaSmi(await parseXmlAsNodeNvidiaSmi(doc8), new Date().toISOString()).length;
    const ms = (performance.now() - t) / n;
    globalThis.gc?.();
    const m = process.memoryUsage();
    console.log(JSON.stringify({ ms, gpus: count / n, bytes: doc8.length, rss: m.rss, heap: m.heapUsed }));
  `;
  const out = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  if (out.status !== 0) {
    console.log(`(collector bench failed: ${out.stderr.slice(0, 300)})`);
    return;
  }
  const r = JSON.parse(out.stdout.trim().split('\n').at(-1)!) as { ms: number; gpus: number; bytes: number; rss: number; heap: number };
  row(`collector: parse an ${r.gpus}-GPU document (${Math.round(r.bytes / 1024)} KiB XML)`, r.ms, 'ms');
  row('collector: resident memory after parsing (RSS)', r.rss / 2 ** 20, 'MiB');
  row('collector: JS heap in use', r.heap / 2 ** 20, 'MiB');
}

/** Runs another engineer's bench module if it is present. */
async function optionalBench(file: string, fn: string, label: string) {
  const path = join(import.meta.dirname, file);
  if (!existsSync(path)) {
    console.log(`(${file} absent: ${label} figures skipped)`);
    return;
  }
  const mod = (await import(path)) as Record<string, unknown>;
  const run = mod[fn];
  if (typeof run !== 'function') {
    console.log(`(${file} has no ${fn}(): ${label} figures skipped)`);
    return;
  }
  try {
    const figures = (await (run as () => Promise<Record<string, number | string>>)()) ?? {};
    for (const [k, v] of Object.entries(figures)) row(`${label}: ${k}`, v);
  } catch (error) {
    console.log(`(${fn}() failed: ${(error as Error).message})`);
  }
}
