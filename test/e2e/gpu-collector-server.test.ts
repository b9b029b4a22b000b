/**
 * End to end: the real `heatledger collect gpu` process, reading a fake `nvidia-smi` on
 * PATH whose power readings change every call, sends to the real `heatledger serve`
 * process every second. The server is stopped for a while mid-run and a new server process
 * is started on the same database and port; the collector spools and replays. Checked
 * against what the fake nvidia-smi logged and an integral worked out here: every sample
 * stored exactly once, and the job's energy equal to the trapezoid integral of the
 * stored powers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenByCli, exited, startServerProcess, type ServerProcess } from '../support/server-process.ts';

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const cli = join(repoRoot, 'bin/heatledger.js');
const HOUR_MS = 3_600_000;
const MAX_GAP_MS = 300_000; // the server's default HEATLEDGER_MAX_GAP_S

const CLUSTER = 'e2e';
const NODE = 'gpu-e2e01';
const JOB_ID = '4711';
const ACCOUNT = 'proj-e2e';
const PID = 31337;
const JOB_GPU = 'GPU-e2e00000-0000-4000-8000-000000000000';
const IDLE_GPU = 'GPU-e2e11111-1111-4111-8111-111111111111';

/**
 * A two-GPU `nvidia-smi -q -x` document: the first GPU runs the job's process, the second
 * runs nothing. @P0@ and @P1@ are the board powers the fake fills in on each call.
 */
const documentTemplate = `<?xml version="1.0" ?>
<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v12.dtd">
<nvidia_smi_log>
  <driver_version>550.54.15</driver_version>
  <cuda_version>12.4</cuda_version>
  <attached_gpus>2</attached_gpus>
  <gpu id="00000000:17:00.0">
    <product_name>NVIDIA H100 80GB HBM3</product_name>
    <uuid>${JOB_GPU}</uuid>
    <minor_number>0</minor_number>
    <fb_memory_usage><total>81559 MiB</total><used>40960 MiB</used><free>40599 MiB</free></fb_memory_usage>
    <utilization><gpu_util>93 %</gpu_util><memory_util>40 %</memory_util></utilization>
    <temperature><gpu_temp>58 C</gpu_temp></temperature>
    <gpu_power_readings>
      <power_state>P0</power_state>
      <power_draw>@P0@ W</power_draw>
      <current_power_limit>700.00 W</current_power_limit>
    </gpu_power_readings>
    <processes>
      <process_info>
        <gpu_instance_id>N/A</gpu_instance_id>
        <compute_instance_id>N/A</compute_instance_id>
        <pid>${PID}</pid>
        <type>C</type>
        <process_name>python</process_name>
        <used_memory>40900 MiB</used_memory>
      </process_info>
    </processes>
  </gpu>
  <gpu id="00000000:2A:00.0">
    <product_name>NVIDIA H100 80GB HBM3</product_name>
    <uuid>${IDLE_GPU}</uuid>
    <minor_number>1</minor_number>
    <fb_memory_usage><total>81559 MiB</total><used>1 MiB</used><free>81558 MiB</free></fb_memory_usage>
    <utilization><gpu_util>0 %</gpu_util><memory_util>0 %</memory_util></utilization>
    <temperature><gpu_temp>31 C</gpu_temp></temperature>
    <gpu_power_readings>
      <power_state>P0</power_state>
      <power_draw>@P1@ W</power_draw>
      <current_power_limit>700.00 W</current_power_limit>
    </gpu_power_readings>
    <processes>
    </processes>
  </gpu>
</nvidia_smi_log>
`;

/**
 * The fake nvidia-smi: the n-th call prints powers that vary with n, and appends
 * "n args|jobPower|idlePower" to the log before printing, so the test knows how many
 * samples were taken and what each said.
 */
function fakeNvidiaSmi(dir: string, template: string, log: string): void {
  writeFileSync(
    join(dir, 'nvidia-smi'),
    `#!/bin/sh
n=$(( $(cat '${log}' 2>/dev/null | wc -l) + 1 ))
p0=$(printf '%d.%02d' $(( 250 + (n * 53) % 400 )) $(( (n * 37) % 100 )))
p1=$(printf '%d.%02d' $(( 60 + (n * 7) % 20 )) $(( (n * 11) % 100 )))
printf '%s %s|%s|%s\\n' "$n" "$*" "$p0" "$p1" >> '${log}'
sed -e "s/@P0@/$p0/" -e "s/@P1@/$p1/" '${template}'
`,
  );
  chmodSync(join(dir, 'nvidia-smi'), 0o755);
}

interface Invocation {
  args: string;
  jobPowerW: number;
  idlePowerW: number;
}

function readInvocations(log: string): Invocation[] {
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((line) => {
      const [head, p0, p1] = line.split('|');
      return { args: head!.replace(/^\d+ /, ''), jobPowerW: Number(p0), idlePowerW: Number(p1) };
    });
}

interface StoredSample {
  ts: number;
  powerW: number | null;
  jobIds: string | null;
}

/** The stored samples of one GPU, oldest first, read straight from the SQLite file. */
function storedSamples(dbPath: string, uuid: string): StoredSample[] {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return db
      .prepare(
        `SELECT s.ts, s.power_w AS powerW, s.job_ids AS jobIds FROM gpu_samples s JOIN gpus g ON g.id = s.gpu_id
         WHERE g.uuid = ? ORDER BY s.ts`,
      )
      .all(uuid) as StoredSample[];
  } finally {
    db.close();
  }
}

function countRows(dbPath: string, uuid: string): { rows: number; distinctTs: number } {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return db
      .prepare(
        `SELECT COUNT(*) AS rows, COUNT(DISTINCT s.ts) AS distinctTs FROM gpu_samples s JOIN gpus g ON g.id = s.gpu_id WHERE g.uuid = ?`,
      )
      .get(uuid) as { rows: number; distinctTs: number };
  } finally {
    db.close();
  }
}

/** Trapezoid integral in Wh over consecutive samples no more than MAX_GAP_MS apart. */
function trapezoidWh(samples: Array<{ ts: number; powerW: number }>): { energyWh: number; coveredMs: number } {
  let energyWh = 0;
  let coveredMs = 0;
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!;
    const b = samples[i]!;
    const dt = b.ts - a.ts;
    if (dt <= 0 || dt > MAX_GAP_MS) continue;
    energyWh += ((a.powerW + b.powerW) / 2) * (dt / HOUR_MS);
    coveredMs += dt;
  }
  return { energyWh, coveredMs };
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => res(port));
    });
  });
}

async function waitFor(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

const iso = (ms: number) => new Date(ms).toISOString();

describe('GPU collector process → server process, with the server away mid-run', () => {
  const work = mkdtempSync(join(tmpdir(), 'hl-e2e-gpu-'));
  const dbPath = join(work, 'heatledger.db');
  const spoolDir = join(work, 'spool');
  const invocationLog = join(work, 'nvidia-smi.calls');
  const servers: ServerProcess[] = [];
  let collector: ChildProcess | null = null;
  let collectorLog = '';
  let collectorExit: number | null = null;
  let port = 0;
  let url = '';
  let readToken = '';
  let ingestToken = '';
  let jobStartMs = 0;
  let jobEndMs = 0;
  let invocationsAtStop = 0;
  let invocationsAtRestart = 0;
  let spooledDuringOutage = 0;

  const spoolFiles = () => (existsSync(spoolDir) ? readdirSync(spoolDir).filter((f) => !f.startsWith('.')) : []);

  async function startServer(): Promise<ServerProcess> {
    // startServerProcess passes --port 0 --db <its own tmp>; the later flags win.
    const server = await startServerProcess(['--port', String(port), '--db', dbPath]);
    servers.push(server);
    return server;
  }

  async function postJob(over: Record<string, unknown>): Promise<{ accepted: number; duplicates: number }> {
    const job = {
      jobId: JOB_ID, arrayJobId: null, name: 'train', user: 'alice', account: ACCOUNT, partition: 'gpu', qos: 'normal',
      submitTime: iso(jobStartMs - 30_000), eligibleTime: iso(jobStartMs - 30_000), startTime: iso(jobStartMs),
      gpus: 1, gpuType: 'h100', cpus: 8, nodes: [NODE], exitCode: null, ...over,
    };
    const res = await fetch(`${url}/api/v1/ingest/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ingestToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ schema: 1, cluster: CLUSTER, jobs: [job] }),
    });
    expect(res.status, await res.clone().text()).toBe(202);
    return (await res.json()) as { accepted: number; duplicates: number };
  }

  beforeAll(async () => {
    const bin = join(work, 'bin');
    mkdirSync(bin);
    const template = join(work, 'nvidia-smi.xml.in');
    writeFileSync(template, documentTemplate);
    fakeNvidiaSmi(bin, template, invocationLog);
    mkdirSync(join(work, 'proc', String(PID)), { recursive: true });
    writeFileSync(join(work, 'proc', String(PID), 'cgroup'), `0::/system.slice/slurmstepd.scope/job_${JOB_ID}/step_0/user/task_0\n`);

    port = await freePort();
    const first = await startServer();
    url = first.url;
    expect(url).toBe(`http://127.0.0.1:${port}`);
    ingestToken = createTokenByCli(dbPath, 'e2e-ingest', 'ingest');
    readToken = createTokenByCli(dbPath, 'e2e-read', 'read');

    // The job is running from just before the collector's first sample.
    jobStartMs = Date.now() - 1000;
    await postJob({ state: 'RUNNING', endTime: null });

    collector = spawn(
      process.execPath,
      [cli, 'collect', 'gpu', '--server', url, '--token', ingestToken, '--interval', '1', '--max-backoff', '2',
        '--spool-dir', spoolDir, '--proc-root', join(work, 'proc'), '--cluster', CLUSTER, '--node', NODE],
      { cwd: repoRoot, env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    collector.stdout!.on('data', (d: Buffer) => (collectorLog += d.toString()));
    collector.stderr!.on('data', (d: Buffer) => (collectorLog += d.toString()));

    // Some samples reach the first server.
    await waitFor('5 samples stored', () => existsSync(dbPath) && countRows(dbPath, JOB_GPU).rows >= 5, 30_000);

    // The server goes away for ~8 s; the collector keeps sampling and spools.
    await first.stop();
    invocationsAtStop = readInvocations(invocationLog).length;
    await sleep(8000);
    invocationsAtRestart = readInvocations(invocationLog).length;
    spooledDuringOutage = spoolFiles().length;

    // A new server process on the same file and port; the collector replays.
    const second = await startServer();
    expect(second.url).toBe(url);
    await waitFor(
      'the spool to drain and the stored samples to catch up',
      () => spoolFiles().length === 0 && countRows(dbPath, JOB_GPU).rows >= invocationsAtRestart,
      30_000,
    );
    await sleep(2500); // a few live rounds after the replay

    collector.kill('SIGTERM');
    collectorExit = await exited(collector);
    jobEndMs = Date.now();
    await postJob({ state: 'COMPLETED', endTime: iso(jobEndMs), exitCode: 0 });
  }, 120_000);

  afterAll(async () => {
    if (collector && collector.exitCode === null && collector.signalCode === null) {
      collector.kill('SIGKILL');
      await exited(collector);
    }
    for (const s of servers) {
      await s.stop();
      // The helper made a temp dir for a database we did not use (our --db replaced it).
      rmSync(dirname(s.dbPath), { recursive: true, force: true });
    }
    rmSync(work, { recursive: true, force: true });
  });

  it('kept sampling and spooling while the server was away, and stopped cleanly on SIGTERM', () => {
    expect(collectorExit, collectorLog).toBe(0);
    // One sample a second over ~8 s with nobody to take them.
    expect(invocationsAtRestart - invocationsAtStop).toBeGreaterThanOrEqual(5);
    expect(spooledDuringOutage).toBeGreaterThanOrEqual(1);
    expect(collectorLog).toMatch(/server unavailable/);
    expect(spoolFiles()).toEqual([]);
  });

  it('stores every sample the collector took exactly once, with the power nvidia-smi printed', () => {
    const calls = readInvocations(invocationLog);
    expect(calls.length).toBeGreaterThanOrEqual(invocationsAtRestart + 2);
    expect(new Set(calls.map((c) => c.args))).toEqual(new Set(['-q -x']));
    for (const [uuid, printed] of [
      [JOB_GPU, calls.map((c) => c.jobPowerW)],
      [IDLE_GPU, calls.map((c) => c.idlePowerW)],
    ] as const) {
      expect(countRows(dbPath, uuid)).toEqual({ rows: calls.length, distinctTs: calls.length });
      const stored = storedSamples(dbPath, uuid);
      // Samples are stamped when nvidia-smi is asked, so time order is call order.
      expect(stored.map((s) => s.powerW)).toEqual(printed);
      expect(stored[0]!.ts).toBeGreaterThanOrEqual(jobStartMs);
      expect(stored.at(-1)!.ts).toBeLessThanOrEqual(jobEndMs);
    }
    expect(new Set(storedSamples(dbPath, JOB_GPU).map((s) => s.jobIds))).toEqual(new Set([JSON.stringify([JOB_ID])]));
    expect(new Set(storedSamples(dbPath, IDLE_GPU).map((s) => s.jobIds))).toEqual(new Set([null]));
  });

  async function usageRow() {
    const from = Math.floor(jobStartMs / HOUR_MS) * HOUR_MS;
    const to = Math.floor(jobEndMs / HOUR_MS) * HOUR_MS + HOUR_MS;
    const res = await fetch(`${url}/api/v1/usage?from=${iso(from)}&to=${iso(to)}&groupBy=project`, {
      headers: { authorization: `Bearer ${readToken}` },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { rows: Array<{ key: string; gpuHours: number; energyKWh: number; measuredGpuHours: number; jobs: number }> };
    return body.rows.find((r) => r.key === ACCOUNT);
  }

  it("gives the job the trapezoid integral of its GPU's stored powers as energy, and its allocated GPU-hours", async () => {
    const stored = storedSamples(dbPath, JOB_GPU).map((s) => ({ ts: s.ts, powerW: s.powerW! }));
    const { energyWh, coveredMs } = trapezoidWh(stored);
    // The outage left no gap the server would refuse to bridge.
    expect(coveredMs).toBe(stored.at(-1)!.ts - stored[0]!.ts);
    expect(energyWh).toBeGreaterThan(0);
    const row = await usageRow();
    expect(row).toBeDefined();
    expect(row!.energyKWh, JSON.stringify(row)).toBeCloseTo(energyWh / 1000, 9);
    expect(row!.measuredGpuHours).toBeCloseTo(coveredMs / HOUR_MS, 9);
    expect(row!.gpuHours).toBeCloseTo((jobEndMs - jobStartMs) / HOUR_MS, 9);
    expect(row!.jobs).toBe(1);
  });

  it('counts samples sent again as duplicates, and they change no figure', async () => {
    const before = await usageRow();
    const again = storedSamples(dbPath, JOB_GPU).slice(0, 6);
    const res = await fetch(`${url}/api/v1/ingest/gpu`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ingestToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        schema: 1, cluster: CLUSTER, node: NODE,
        samples: again.map((s) => ({
          ts: iso(s.ts), gpuUuid: JOB_GPU, gpuIndex: 0, model: 'NVIDIA H100 80GB HBM3', utilPct: 93, memUsedMiB: 40960,
          memTotalMiB: 81559, powerW: s.powerW, powerLimitW: 700, tempC: 58,
          processes: [{ pid: PID, usedMemMiB: 40900, jobId: JOB_ID }], jobIds: [JOB_ID],
        })),
      }),
    });
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ accepted: 0, duplicates: 6 });
    expect(await usageRow()).toEqual(before);
    expect(countRows(dbPath, JOB_GPU).rows).toBe(readInvocations(invocationLog).length);
  });
});
