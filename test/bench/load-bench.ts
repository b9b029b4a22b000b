/**
 * Load (issue 9 §4): 50 concurrent dashboard clients plus GPU ingest at 10× the rate of a
 * 10,000-GPU facility (10,000 GPUs sampled every 10 s, ten times over: 10,000 samples/s)
 * for 60 s against the real server (its own process) on loopback.
 *
 * Ingest is open-loop: every 100 ms the samples due are sent as batches of
 * `gpusPerBatch` GPUs (a batch per node group, as collectors on many nodes would send
 * them), whether or not earlier batches were answered, so a slow server shows as latency
 * and a falling sustained rate rather than as a quietly lower offered load. Each
 * dashboard client loads a page (four read requests at once) and waits `thinkMs`.
 */
import { openDatabase } from '../../db/client.ts';
import { createToken } from '../../server/services/auth.service.ts';
import { startServerProcess } from '../support/server-process.ts';

export interface LoadOptions {
  durationS?: number;
  dashboardClients?: number;
  /** Offered ingest rate. */
  samplesPerS?: number;
  gpusPerBatch?: number;
  gpus?: number;
  thinkMs?: number;
  log?: (line: string) => void;
}

export interface LoadResult {
  /** Failed requests (network errors and non-2xx), dashboard and ingest together. */
  errors: number;
  /** 99th-percentile latency of dashboard requests. */
  p99Ms: number;
  /** Requests completed, dashboard and ingest together. */
  requests: number;
  dashboardRequests: number;
  dashboardP50Ms: number;
  ingestRequests: number;
  ingestP99Ms: number;
  offeredSamplesPerS: number;
  /** Samples acknowledged (202) per second of the run. */
  sustainedSamplesPerS: number;
  /** Batches still unanswered when the run ended. */
  ingestBacklog: number;
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (sorted.length - 1) * p;
  const lo = Math.floor(rank);
  return sorted[lo]! + (sorted[Math.min(lo + 1, sorted.length - 1)]! - sorted[lo]!) * (rank - lo);
}

const HOUR = 3_600_000;

/** Runs the load and returns error count and latencies; starts and stops its own server. */
export async function benchLoad(options: LoadOptions = {}): Promise<LoadResult> {
  const { durationS = 60, dashboardClients = 50, samplesPerS = 10_000, gpusPerBatch = 100, gpus = 10_000, thinkMs = 1000, log = console.log } = options;
  const server = await startServerProcess();
  const setup = openDatabase(server.dbPath);
  const ingestToken = createToken(setup, 'load-ingest', 'ingest');
  const readToken = createToken(setup, 'load-read', 'read');
  setup.$client.close();
  const ingestHeaders = { 'content-type': 'application/json', authorization: `Bearer ${ingestToken}` };
  const readHeaders = { authorization: `Bearer ${readToken}` };
  let errors = 0;
  const firstErrors: string[] = [];
  const fail = (what: string) => {
    errors++;
    if (firstErrors.length < 5) firstErrors.push(what);
  };

  try {
    // A month of finished and running jobs across 100 projects, so dashboards read real rows.
    const start = Date.now();
    const jobs = Array.from({ length: 5000 }, (_, i) => {
      const begin = start - 30 * 24 * HOUR + i * 500_000;
      const end = i % 10 === 0 ? null : begin + (1 + (i % 12)) * HOUR;
      return {
        jobId: String(100_000 + i), arrayJobId: null, name: 'train', user: `user${i % 400}`, account: `proj-${i % 100}`, partition: i % 3 ? 'gpu' : 'gpu-long',
        qos: 'normal', state: end === null ? 'RUNNING' : 'COMPLETED', submitTime: new Date(begin - (i % 50) * 60_000).toISOString(), eligibleTime: null,
        startTime: new Date(begin).toISOString(), endTime: end === null ? null : new Date(Math.min(end, start)).toISOString(), gpus: 1 + (i % 8), gpuType: 'h200',
        cpus: 8, nodes: [`n${i % 1250}`], exitCode: 0,
      };
    });
    for (let i = 0; i < jobs.length; i += 1000) {
      const res = await fetch(`${server.url}/api/v1/ingest/jobs`, { method: 'POST', headers: ingestHeaders, body: JSON.stringify({ schema: 1, cluster: 'bench', jobs: jobs.slice(i, i + 1000) }) });
      if (res.status !== 202) throw new Error(`seeding jobs: ${res.status} ${await res.text()}`);
    }

    const endAt = performance.now() + durationS * 1000;
    const from = new Date(start - 7 * 24 * HOUR).toISOString();
    const to = new Date(start + HOUR).toISOString();
    const pages = [
      [`/api/v1/usage?from=${from}&to=${to}&groupBy=project`, `/api/v1/energy/projects?from=${from}&to=${to}`, '/api/v1/allocations', '/api/v1/queue'],
      [`/api/v1/usage?from=${from}&to=${to}&groupBy=day`, `/api/v1/energy/kpis?from=${from}&to=${to}`, `/api/v1/waits?from=${from}&to=${to}&groupBy=partition`, `/api/v1/jobs?from=${from}&to=${to}&limit=100`],
    ];
    const dashboardMs: number[] = [];
    const ingestMs: number[] = [];
    let acknowledgedSamples = 0;
    let pending = 0;

    const timed = async (url: string, init: RequestInit, into: number[]): Promise<boolean> => {
      const t0 = performance.now();
      try {
        const res = await fetch(url, init);
        await res.arrayBuffer();
        into.push(performance.now() - t0);
        if (res.status >= 300) {
          fail(`${init.method ?? 'GET'} ${url.slice(0, 80)}: ${res.status}`);
          return false;
        }
        return true;
      } catch (error) {
        into.push(performance.now() - t0);
        fail(`${url.slice(0, 80)}: ${(error as Error).message}`);
        return false;
      }
    };

    const dashboard = async (client: number) => {
      let page = client % pages.length;
      // Spread the clients' first loads over one think time.
      await new Promise((r) => setTimeout(r, (client * thinkMs) / dashboardClients));
      while (performance.now() < endAt) {
        await Promise.all(pages[page]!.map((path) => timed(`${server.url}${path}`, { headers: readHeaders }, dashboardMs)));
        page = (page + 1) % pages.length;
        await new Promise((r) => setTimeout(r, thinkMs));
      }
    };

    const ingest = async () => {
      const tickMs = 100;
      const perTick = (samplesPerS * tickMs) / 1000;
      let nextGpu = 0;
      const inflight: Promise<unknown>[] = [];
      for (let tick = 0; performance.now() < endAt; tick++) {
        const tickStart = performance.now();
        // Each GPU is sampled in turn: GPU k at the tick its turn comes, stamped now.
        const ts = new Date().toISOString();
        let remaining = perTick;
        while (remaining > 0) {
          const n = Math.min(gpusPerBatch, remaining);
          const samples = Array.from({ length: n }, (_, i) => {
            const g = (nextGpu + i) % gpus;
            return { ts, gpuUuid: `GPU-${g}`, gpuIndex: g % 8, model: 'NVIDIA H200', utilPct: (g * 7 + tick) % 100, memUsedMiB: 1000, memTotalMiB: 143771, powerW: 100 + ((g * 13 + tick) % 600), powerLimitW: 700, tempC: 55, jobIds: [String(100_000 + (g % 5000))] };
          });
          const node = `n${Math.floor(nextGpu / 8) % 1250}`;
          nextGpu = (nextGpu + n) % gpus;
          remaining -= n;
          pending++;
          const p = timed(`${server.url}/api/v1/ingest/gpu`, { method: 'POST', headers: ingestHeaders, body: JSON.stringify({ schema: 1, cluster: 'bench', node, samples }) }, ingestMs).then((ok) => {
            pending--;
            if (ok) acknowledgedSamples += n;
          });
          inflight.push(p);
        }
        const wait = tickMs - (performance.now() - tickStart);
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      return inflight;
    };

    const t0 = performance.now();
    const [inflight] = await Promise.all([ingest(), ...Array.from({ length: dashboardClients }, (_, c) => dashboard(c))]);
    const elapsedS = (performance.now() - t0) / 1000;
    const backlog = pending;
    const sustained = acknowledgedSamples / elapsedS;
    // Let the stragglers finish so the server stops cleanly; they do not count as sustained.
    await Promise.all(inflight);

    const result: LoadResult = {
      errors,
      p99Ms: percentile(dashboardMs, 0.99),
      requests: dashboardMs.length + ingestMs.length,
      dashboardRequests: dashboardMs.length,
      dashboardP50Ms: percentile(dashboardMs, 0.5),
      ingestRequests: ingestMs.length,
      ingestP99Ms: percentile(ingestMs, 0.99),
      offeredSamplesPerS: samplesPerS,
      sustainedSamplesPerS: sustained,
      ingestBacklog: backlog,
    };
    log(`load: ${JSON.stringify(result)}`);
    if (firstErrors.length) log(`load: first errors: ${firstErrors.join(' | ')}`);
    return result;
  } finally {
    await server.stop();
  }
}

// `node --import tsx test/bench/load-bench.ts [durationS] [samplesPerS]` runs it alone.
if (import.meta.url === `file://${process.argv[1]}`) {
  const [durationS, samplesPerS] = process.argv.slice(2).map(Number);
  await benchLoad({ durationS: durationS || 60, samplesPerS: samplesPerS || 10_000 });
}
