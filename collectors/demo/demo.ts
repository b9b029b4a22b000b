/**
 * Runs the simulated facility against a HeatLedger server through the real ingest API:
 * first a history (default 30 days, sampled every 5 minutes), then live samples every
 * 10 seconds. Progress is kept in a state file so a restarted demo replays its history
 * silently and sends only what the server has not seen. A batch the server cannot take
 * now (503 while another process writes, or unreachable) is tried again with growing
 * pauses until it is taken or the demo stops: the history never ends half sent.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { DAY_MS, HOUR_MS } from '../../db/rules/time.ts';
import { createSender, type Sender } from '../shared/sender.ts';
import type { GpuBatch, JobRecord } from '../shared/wire.ts';
import { FacilityModel } from './facility-model.ts';
import { Simulator } from './simulator.ts';

export const DEMO_CLUSTER = 'bitten';
export const DEMO_SITE = 'bitten';

export interface DemoOptions {
  server: string;
  token: string;
  statePath: string;
  historyDays?: number;
  historyStepMs?: number;
  liveStepMs?: number;
  now?: () => number;
  log?: (line: string) => void;
}

interface DemoState {
  seed: number;
  startTs: number;
  sentUntilTs: number;
}

export interface DemoStats {
  gpuSamples: number;
  facilityReadings: number;
  jobRecords: number;
  requests: number;
  elapsedMs: number;
}

/** How far the history has been sent, for a newcomer who opens the dashboard meanwhile. */
export interface DemoProgress {
  historyDays: number;
  /** Share of the history the server has taken, 0–100 (100 only when all of it is in). */
  percent: number;
  done: boolean;
}

export interface DemoHandle {
  /** Start of the simulated history (epoch ms). */
  startTs: number;
  progress(): DemoProgress;
  /** Resolves when the history has been sent. */
  history: Promise<DemoStats>;
  stop(): Promise<void>;
}

/** Starts the demo; it runs until stopped. */
export function startDemo(options: DemoOptions): DemoHandle {
  const now = options.now ?? Date.now;
  const log = options.log ?? (() => {});
  const historyStepMs = options.historyStepMs ?? 300_000;
  const liveStepMs = options.liveStepMs ?? 10_000;
  const stopping = new AbortController();
  const sender = createSender({
    server: options.server,
    token: options.token,
    retry: {
      attempts: Infinity,
      maxDelayMs: 5_000,
      signal: stopping.signal,
      // The first of a run of failures is worth a line; the server says why each time.
      onRetry: (reason, delayMs, attempt) => attempt === 1 && log(`demo: server busy or away (${reason}); trying again every ${delayMs / 1000}–5 s until it takes the batch`),
    },
  });
  const facility = new FacilityModel();
  let stopped = false;
  let historyDone = false;
  let historyEndTs: number | null = null;
  let timer: NodeJS.Timeout | null = null;
  let liveTick: Promise<void> = Promise.resolve();

  const state = loadState(options.statePath, now(), options.historyDays ?? 30);
  const sim = new Simulator(state.seed, state.startTs);
  const stats: DemoStats = { gpuSamples: 0, facilityReadings: 0, jobRecords: 0, requests: 0, elapsedMs: 0 };

  async function tick(ts: number, gpu: Map<number, GpuBatch>, readings: ReturnType<FacilityModel['readings']>[]) {
    sim.advanceTo(ts);
    const samples = sim.samples();
    for (const { node, samples: s } of samples) {
      const batch = gpu.get(node) ?? { schema: 1, cluster: DEMO_CLUSTER, node: sim.nodeName(node), samples: [] };
      batch.samples.push(...s);
      gpu.set(node, batch);
    }
    readings.push(facility.readings({ ts, gpuPowerW: sim.snapshot(samples).gpuPowerW, nodes: sim.nodeCount }));
  }

  async function flush(gpu: Map<number, GpuBatch>, readings: ReturnType<FacilityModel['readings']>[], jobs: JobRecord[]) {
    if (jobs.length > 0) {
      await deliver(sender, 'jobs', { schema: 1, cluster: DEMO_CLUSTER, jobs });
      stats.jobRecords += jobs.length;
      stats.requests++;
    }
    for (const batch of gpu.values()) {
      await deliver(sender, 'gpu', batch);
      stats.gpuSamples += batch.samples.length;
      stats.requests++;
    }
    const flat = readings.flat();
    if (flat.length > 0) {
      await deliver(sender, 'facility', { schema: 1, site: DEMO_SITE, readings: flat });
      stats.facilityReadings += flat.length;
      stats.requests++;
    }
  }

  async function runHistory(): Promise<DemoStats> {
    const started = Date.now();
    // Replay silently what an earlier run already sent.
    if (state.sentUntilTs > state.startTs) {
      for (let t = state.startTs; t <= state.sentUntilTs; t += historyStepMs) sim.advanceTo(t);
      sim.advanceTo(state.sentUntilTs);
      // Ended jobs were sent; pending and running ones may have been held back, so stay flagged.
      sim.takeChangedJobs({ endedOnly: true });
    }
    let t = state.sentUntilTs > state.startTs ? state.sentUntilTs + historyStepMs : state.startTs;
    const end = Math.floor(now() / historyStepMs) * historyStepMs;
    historyEndTs = end;
    while (t <= end && !stopped) {
      const chunkEnd = Math.min(end, t + 12 * HOUR_MS);
      const gpu = new Map<number, GpuBatch>();
      const readings: ReturnType<FacilityModel['readings']>[] = [];
      for (; t <= chunkEnd; t += historyStepMs) await tick(t, gpu, readings);
      await flush(gpu, readings, sim.takeChangedJobs({ endedOnly: t <= end }));
      state.sentUntilTs = t - historyStepMs;
      saveState(options.statePath, state);
    }
    stats.elapsedMs = Date.now() - started;
    historyDone = !stopped;
    return { ...stats };
  }

  // The grid's CO2 forecast for the next two days (Energinet's reaches the end of the next day; two
  // days keep a job behind the demo queue's longest waits inside it), sent at the first live tick and hourly after it.
  let forecastSentTs = 0;
  async function live(): Promise<void> {
    if (stopped) return;
    const ts = now();
    if (ts - forecastSentTs >= HOUR_MS) {
      await deliver(sender, 'co2Forecast', { schema: 1, priceArea: 'DK1', values: facility.co2Forecast(ts, 48) });
      await deliver(sender, 'fairshare', sim.fairshare(ts, DEMO_CLUSTER));
      forecastSentTs = ts;
    }
    if (ts > state.sentUntilTs) {
      const gpu = new Map<number, GpuBatch>();
      const readings: ReturnType<FacilityModel['readings']>[] = [];
      await tick(ts, gpu, readings);
      await flush(gpu, readings, sim.takeChangedJobs());
      state.sentUntilTs = ts;
      saveState(options.statePath, state);
    }
  }

  // Stopping cuts a batch's tries short; that is the demo stopping, not its history failing.
  const historySent = runHistory().catch((error: unknown) => {
    if (stopped) return { ...stats };
    throw error;
  });
  const history = historySent.then((s) => {
    log(
      `demo: history ${stopped ? 'stopped early after' : 'sent:'} ${s.gpuSamples} GPU samples, ${s.jobRecords} job records, ${s.facilityReadings} facility readings ` +
        `in ${(s.elapsedMs / 1000).toFixed(1)} s (${Math.round(s.gpuSamples / Math.max(0.001, s.elapsedMs / 1000))} GPU samples/s)`,
    );
    const loop = () => {
      if (stopped) return;
      liveTick = live()
        .catch((error: Error) => {
          if (!stopped) log(`demo: live tick failed: ${error.message}`);
        })
        .finally(() => {
          if (!stopped) timer = setTimeout(loop, liveStepMs);
        });
    };
    loop();
    return s;
  });

  const historyDays = options.historyDays ?? 30;
  return {
    startTs: state.startTs,
    history,
    progress() {
      if (historyDone) return { historyDays, percent: 100, done: true };
      const spanMs = (historyEndTs ?? now()) - state.startTs;
      const sentMs = Math.max(0, state.sentUntilTs - state.startTs);
      // Floor, and below 100 until the last batch is in: "100 %" must mean it is all there.
      const percent = spanMs > 0 ? Math.min(99, Math.floor((100 * sentMs) / spanMs)) : 0;
      return { historyDays, percent, done: false };
    },
    async stop() {
      stopped = true;
      stopping.abort();
      if (timer) clearTimeout(timer);
      await history.catch(() => undefined);
      await liveTick;
    },
  };
}

async function deliver(sender: Sender, kind: 'gpu' | 'jobs' | 'facility' | 'co2Forecast' | 'fairshare', batch: unknown): Promise<void> {
  const outcome = await sender.send(kind, batch);
  if (outcome.status === 'refused') throw new Error(`the server refused a demo ${kind} batch: ${outcome.message}`);
}

function loadState(path: string, nowTs: number, historyDays: number): DemoState {
  if (existsSync(path)) {
    const s = JSON.parse(readFileSync(path, 'utf8')) as DemoState;
    // Too old to catch up sensibly: the demo starts a fresh history window.
    if (nowTs - s.sentUntilTs < historyDays * DAY_MS) return s;
  }
  return { seed: 20261128, startTs: Math.floor((nowTs - historyDays * DAY_MS) / HOUR_MS) * HOUR_MS, sentUntilTs: 0 };
}

function saveState(path: string, state: DemoState): void {
  writeFileSync(path, JSON.stringify(state));
}
