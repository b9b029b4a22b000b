/**
 * Issue 15.1: administrative commands on the server's database while it ingests at full
 * rate. The real `heatledger serve` runs on a temporary file database; this process
 * drives ingest into it as fast as the server takes it (the demo's history sender, as
 * `serve --demo` would run it, plus a jobs sender of its own), while 50 real
 * `heatledger token create` and `heatledger user add` processes run against the same
 * file. None of the commands may fail, and the server must have stored everything sent.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemo } from '../../collectors/demo/demo.ts';
import { createSender } from '../../collectors/shared/sender.ts';
import type { JobRecord } from '../../collectors/shared/wire.ts';
import { createTokenByCli, startServerProcess, type ServerProcess } from '../support/server-process.ts';

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const MIN_MS = 60_000;
const DAY_MS = 86_400_000;
/** The demo's history (sent first, as fast as the server takes it); the load senders go on until the commands end. */
const HISTORY_DAYS = 2;
const COMMANDS = 50;
/** Commands at a time: the test machine has two cores, shared with the server and the senders. */
const PARALLEL = 3;
const JOBS_PER_BATCH = 200;
/** One load batch: 8 GPUs of one node over 16 one-second steps. */
const LOAD_GPUS = 8;
const LOAD_STEPS = 16;

interface CommandRun {
  args: string[];
  code: number | null;
  stderr: string;
  ms: number;
}

function runCli(args: string[], stdin: string): Promise<CommandRun> {
  const started = performance.now();
  const child = spawn(process.execPath, [join(repoRoot, 'bin/heatledger.js'), ...args], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdout.resume();
  child.stdin.end(stdin);
  return new Promise((res) => child.on('close', (code) => res({ args, code, stderr, ms: performance.now() - started })));
}

function fakeJob(n: number, nowMs: number): JobRecord {
  const start = nowMs - DAY_MS + (n % 1000) * MIN_MS;
  return {
    jobId: `load-${n}`, arrayJobId: null, name: 'load', user: `u${n % 7}`, account: 'load-test', partition: 'gpu', qos: 'normal',
    state: 'COMPLETED', submitTime: new Date(start - MIN_MS).toISOString(), eligibleTime: new Date(start - MIN_MS).toISOString(),
    startTime: new Date(start).toISOString(), endTime: new Date(start + 30 * MIN_MS).toISOString(), gpus: 1, gpuType: 'h200', cpus: 4,
    nodes: ['load-n01'], exitCode: 0,
  };
}

function loadSample(gpu: number, ts: number) {
  return {
    ts: new Date(ts).toISOString(), gpuUuid: `GPU-load-${gpu}`, gpuIndex: gpu, model: 'NVIDIA H200', utilPct: 50, memUsedMiB: 1000,
    memTotalMiB: 143771, powerW: 400, powerLimitW: 700, tempC: 55, processes: [], jobIds: [],
  };
}

describe('admin commands during full-rate ingest (issue 15.1)', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServerProcess();
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('runs 50 token and user commands without a failure, and the ingest loses nothing', async () => {
    const token = createTokenByCli(server.dbPath, 'load-ingest', 'ingest');
    const demoState = join(mkdtempSync(join(tmpdir(), 'hl-admin-load-')), 'demo.json');
    const retried: string[] = [];
    const log: string[] = [];
    const startMs = Date.now();
    const demo = startDemo({ server: server.url, token, statePath: demoState, historyDays: HISTORY_DAYS, log: (l) => log.push(l) });

    // Two more senders, one of job records and one of GPU samples, each sending its next
    // batch as soon as the server answered the last, until the commands end.
    const loadSender = () => createSender({ server: server.url, token, retry: { attempts: 20, firstDelayMs: 200, maxDelayMs: 2_000, onRetry: (r) => retried.push(r) } });
    let jobsSent = 0;
    let loadSamplesSent = 0;
    let commandsDone = false;
    const jobsLoad = (async () => {
      const sender = loadSender();
      while (!commandsDone) {
        const jobs = Array.from({ length: JOBS_PER_BATCH }, (_, i) => fakeJob(jobsSent + i, startMs));
        const outcome = await sender.send('jobs', { schema: 1, cluster: 'load', jobs });
        expect(outcome.status).toBe('sent');
        jobsSent += JOBS_PER_BATCH;
      }
    })();
    const gpuLoad = (async () => {
      const sender = loadSender();
      // Samples from six hours ago onwards, a second apart (never in the future at this pace), never the same instant twice.
      let ts = startMs - 6 * 3_600_000;
      while (!commandsDone) {
        const samples = [];
        for (let step = 0; step < LOAD_STEPS; step++, ts += 1_000) {
          for (let g = 0; g < LOAD_GPUS; g++) samples.push(loadSample(g, ts));
        }
        const outcome = await sender.send('gpu', { schema: 1, cluster: 'load', node: 'load-n01', samples });
        expect(outcome.status).toBe('sent');
        loadSamplesSent += samples.length;
      }
    })();

    // 50 real commands, alternating token create and user add (password on stdin).
    const commands = Array.from({ length: COMMANDS }, (_, i) =>
      i % 2 === 0
        ? { args: ['token', 'create', '--name', `admin-load-${i}`, '--scope', 'read', '--db', server.dbPath], stdin: '' }
        : { args: ['user', 'add', '--name', `person-${i}`, '--role', 'researcher', '--project', 'load-test', '--db', server.dbPath], stdin: 'a long enough password\n' },
    );
    const runs: CommandRun[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        while (next < commands.length) {
          const c = commands[next++]!;
          runs.push(await runCli(c.args, c.stdin));
        }
      }),
    );
    commandsDone = true;
    await Promise.all([jobsLoad, gpuLoad]);
    const historyWasRunning = demo.progress().percent < 100;
    const stats = await demo.history;
    await demo.stop();

    const failed = runs.filter((r) => r.code !== 0);
    const slowestMs = Math.max(...runs.map((r) => r.ms));
    console.log(
      `admin-under-ingest: ${runs.length} commands, ${failed.length} failed, slowest ${slowestMs.toFixed(0)} ms; ` +
        `ingested ${stats.gpuSamples} GPU samples, ${stats.facilityReadings} facility readings, ${stats.jobRecords} demo job records, ${loadSamplesSent} load GPU samples and ${jobsSent} load job records; ` +
        `${retried.length} job batch retries; demo log: ${log.filter((l) => /busy|failed/.test(l)).length} busy/failed lines; history still running at the end: ${historyWasRunning}`,
    );
    expect(failed.map((r) => `${r.args.slice(0, 2).join(' ')}: ${r.stderr.trim()}`)).toEqual([]);
    expect(runs).toHaveLength(COMMANDS);
    expect(log.join('\n')).not.toMatch(/history failed|refused/);

    // What the history sent, worked out from its own span: every 5-minute step from its
    // start to the last whole step before it began (a step more if a boundary passed while
    // it started), 32 nodes × 4 GPUs each. Live samples after it are whole steps too.
    const stepMs = 5 * MIN_MS;
    const steps = (Math.floor(startMs / stepMs) * stepMs - demo.startTs) / stepMs + 1;
    expect([steps, steps + 1]).toContain(stats.gpuSamples / 128);
    const historyEndTs = demo.startTs + (stats.gpuSamples / 128 - 1) * stepMs;
    const db = new Database(server.dbPath, { readonly: true });
    try {
      const count = (sql: string, ...params: unknown[]) => (db.prepare(sql).get(...params) as { n: number }).n;
      const demoGpus = "gpu_id IN (SELECT g.id FROM gpus g JOIN nodes n ON n.id = g.node_id WHERE n.cluster = 'bitten')";
      expect(count(`SELECT COUNT(*) AS n FROM gpu_samples WHERE ts <= ? AND ${demoGpus}`, historyEndTs)).toBe(stats.gpuSamples);
      expect(count(`SELECT COUNT(*) AS n FROM gpu_samples WHERE ts > ? AND ${demoGpus}`, historyEndTs) % 128).toBe(0);
      expect(count(`SELECT COUNT(*) AS n FROM gpu_samples WHERE NOT ${demoGpus}`)).toBe(loadSamplesSent);
      expect(count('SELECT COUNT(*) AS n FROM facility_readings WHERE ts <= ?', historyEndTs)).toBe(stats.facilityReadings);
      expect(count("SELECT COUNT(*) AS n FROM jobs WHERE cluster = 'load'")).toBe(jobsSent);
      expect(jobsSent).toBeGreaterThan(0);
      // Every command's effect is there too.
      expect(count("SELECT COUNT(*) AS n FROM api_tokens WHERE name LIKE 'admin-load-%'")).toBe(COMMANDS / 2);
      expect(count("SELECT COUNT(*) AS n FROM users WHERE username LIKE 'person-%'")).toBe(COMMANDS / 2);
    } finally {
      db.close();
    }
  }, 180_000);
});
