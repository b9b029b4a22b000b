/**
 * A synthetic national facility for `npm run bench`: 10,000 GPUs (1,250 nodes × 8), 365 days,
 * about 2 million jobs of 300 projects, facility meters every minute.
 *
 * How the year is built (a year of 10 s samples is 3 × 10^10 rows, which no 2-core machine
 * ingests in 15 minutes), each part through the code production uses for it:
 * - job records: every one of the ~2 M jobs through the real ingest service (JobsIngestor:
 *   record hashes, upserts, the per-project-day rollup), in-process, without zod;
 * - facility meters: one reading per minute and quantity for the whole year through the
 *   real ingest service (FacilityIngestor: raw readings and the 5-minute interval rollup);
 * - per-job-hour GPU energy (job_hour) for the year: synthesised, one constant power per job
 *   split into hours by `splitLinear` from server/services/integrate.ts, the function the
 *   GPU ingest integrates with — what a year of samples at constant power would have folded;
 * - per-GPU-hour energy (gpu_hour): synthesised the same way for the retention window only
 *   (87.6 M rows for a year: see the note in bench.ts);
 * - raw GPU samples: 10 minutes of 10 s samples of all 10,000 GPUs now, and 10 minutes 15
 *   days ago (expired by the time the bench purges, 1.5 days on), through the real GPU ingest (GpuIngestor), in-process.
 */
import { createIngestService } from '../../server/services/ingest.service.ts';
import type { FacilityBatchParsed, GpuBatchParsed, JobsBatchParsed, JobParsed } from '../../server/services/ingest-types.ts';
import { DAY_MS, HOUR_MS, splitLinear } from '../../db/rules/integrate.ts';
import { rebuildUsageRollups } from '../../db/rollups/usage.ts';
import { rebuildAttribution } from '../../db/rollups/attribution.ts';
import { rebuildWaitRollup } from '../../db/rollups/waits.ts';
import type { Config } from '../../server/config.ts';
import type { Database } from 'better-sqlite3';
import { seeded } from '../../collectors/demo/random.ts';

export const NATIONAL = {
  cluster: 'national',
  site: 'national',
  nodes: 1250,
  gpusPerNode: 8,
  days: 365,
  jobs: 2_000_000,
  projects: 300,
  users: 3000,
} as const;


const gpuChoices = [1, 2, 4, 8, 16, 32, 64];
const gpuWeights = [0.3, 0.2, 0.2, 0.18, 0.07, 0.04, 0.01];

export const projectName = (p: number) => `p${String(p).padStart(3, '0')}`;
export const nodeName = (n: number) => `n${String(n).padStart(4, '0')}`;
const iso = (ts: number) => new Date(ts).toISOString();

interface SynthJob {
  jobId: string;
  account: string;
  gpus: number;
  startTs: number | null;
  endTs: number | null;
  powerW: number;
  utilPct: number;
}

export interface NationalStats {
  jobs: number;
  jobHourRows: number;
  gpuHourRows: number;
  facilityReadings: number;
  rawSamples: number;
  timings: Record<string, number>;
}

/** Builds the national facility into `sqlite` (a migrated database) with `nowTs` as the present. */
export function buildNational(sqlite: Database, config: Config, nowTs: number, log: (line: string) => void): NationalStats {
  const ingest = createIngestService({ sqlite, config, now: () => nowTs });
  // A 1 GiB page cache for the build: SQLite's default 2 MiB makes index inserts into a
  // multi-GB file page-fault bound.
  sqlite.pragma('cache_size = -1048576');
  const timings: Record<string, number> = {};
  const random = seeded(42);
  const yearStart = nowTs - NATIONAL.days * DAY_MS;
  // Projects are unequal: a few large ones hold most of the time (Zipf-like weights).
  const projectCum: number[] = [];
  let cum = 0;
  for (let p = 0; p < NATIONAL.projects; p++) projectCum.push((cum += 1 / (p + 1)));
  const pickProject = () => {
    const x = random() * cum;
    let lo = 0;
    let hi = projectCum.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (projectCum[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const pickGpus = () => {
    let x = random();
    for (let i = 0; i < gpuChoices.length; i++) if ((x -= gpuWeights[i]!) < 0) return gpuChoices[i]!;
    return 1;
  };

  // 1. Job records, through the real job ingest in batches of 5,000.
  let t = performance.now();
  const synth: SynthJob[] = [];
  let batch: JobParsed[] = [];
  // The first 100,000 records go through the real job ingest (its rate is reported); the
  // rest are written straight into the jobs table, which 2-core time allows for two million;
  // the usage rollups are then rebuilt from all of them (rebuildUsageRollups, the code that
  // fills the rollups of an existing database) once job_hour is in.
  const viaIngest = 100_000;
  let ingestMs = 0;
  const jobIns = sqlite.prepare(
    `INSERT INTO jobs (cluster, job_id, array_job_id, name, user, account, partition, qos, state, submit_ts, eligible_ts,
       start_ts, end_ts, gpus, gpu_type, cpus, nodes, exit_code, record_hash, updated_ts)
     VALUES (?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'synthesised', ?)`,
  );
  const projectIns = sqlite.prepare('INSERT OR IGNORE INTO projects (name, created_ts) VALUES (?, ?)');
  const userIns = sqlite.prepare("INSERT OR IGNORE INTO users (username, role, created_ts) VALUES (?, 'researcher', ?)");
  const memberIns = sqlite.prepare(
    'INSERT OR IGNORE INTO project_members (project_id, user_id) SELECT p.id, u.id FROM projects p, users u WHERE p.name = ? AND u.username = ?',
  );
  const members = new Set<string>();
  const direct = sqlite.transaction((jobs: JobParsed[]) => {
    for (const j of jobs) {
      const startTs = j.startTime === null ? null : Date.parse(j.startTime);
      const endTs = j.endTime === null ? null : Date.parse(j.endTime);
      jobIns.run(NATIONAL.cluster, j.jobId, j.name, j.user, j.account, j.partition, j.qos, j.state, Date.parse(j.submitTime),
        j.eligibleTime === null ? null : Date.parse(j.eligibleTime), startTs, endTs, j.gpus, j.gpuType, j.cpus, JSON.stringify(j.nodes), j.exitCode, nowTs);
      if (!members.has(`${j.account}|${j.user}`)) {
        members.add(`${j.account}|${j.user}`);
        projectIns.run(j.account, nowTs);
        userIns.run(j.user, nowTs);
        memberIns.run(j.account, j.user);
      }
    }
  });
  let sent = 0;
  const flush = () => {
    if (batch.length === 0) return;
    if (sent < viaIngest) {
      const b: JobsBatchParsed = { schema: 1, cluster: NATIONAL.cluster, jobs: batch };
      const t0 = performance.now();
      ingest.ingest({ kind: 'jobs', batch: b });
      ingestMs += performance.now() - t0;
    } else {
      direct(batch);
    }
    sent += batch.length;
    batch = [];
  };
  for (let i = 0; i < NATIONAL.jobs; i++) {
    const p = pickProject();
    const user = `u${String((p * 10 + Math.floor(random() * 10)) % NATIONAL.users).padStart(4, '0')}`;
    const gpus = pickGpus();
    const partition = gpus >= 16 ? 'gpu-large' : random() < 0.1 ? 'gpu-dev' : random() < 0.05 ? 'gpu-long' : 'gpu';
    // Submissions in time order, as a scheduler reports them.
    const submitTs = yearStart + Math.floor(((i + random()) * (nowTs - yearStart)) / NATIONAL.jobs);
    // Waits: log-normal around ~10 minutes, up to three days.
    const waitMs = Math.min(3 * DAY_MS, Math.round(Math.exp(6.4 + 1.8 * gauss(random)) * 1000));
    const held = random() < 0.05 ? Math.min(waitMs, Math.round(random() * waitMs)) : 0;
    const durationMs = Math.max(60_000, Math.min(partition === 'gpu-dev' ? 2 * HOUR_MS : 48 * HOUR_MS, Math.round(-Math.log(1 - random()) * 4 * HOUR_MS)));
    const start = submitTs + waitMs;
    const end = start + durationMs;
    const startTs = start < nowTs ? start : null;
    const endTs = startTs !== null && end < nowTs ? end : null;
    const state = startTs === null ? 'PENDING' : endTs === null ? 'RUNNING' : random() < 0.9 ? 'COMPLETED' : 'FAILED';
    const firstNode = Math.floor(random() * NATIONAL.nodes);
    const nodes = Array.from({ length: Math.ceil(gpus / NATIONAL.gpusPerNode) }, (_, k) => nodeName((firstNode + k) % NATIONAL.nodes));
    const utilPct = random() < 0.08 ? 2 : 30 + random() * 70;
    const jobId = String(1_000_000 + i);
    synth.push({ jobId, account: projectName(p), gpus, startTs, endTs, powerW: 80 + 5.5 * utilPct, utilPct });
    batch.push({
      jobId,
      arrayJobId: null,
      name: `run-${i % 97}`,
      user,
      account: projectName(p),
      partition,
      qos: 'normal',
      state,
      submitTime: iso(submitTs),
      eligibleTime: held ? iso(submitTs + held) : null,
      startTime: startTs === null ? null : iso(startTs),
      endTime: endTs === null ? null : iso(endTs),
      gpus,
      gpuType: 'h200',
      cpus: gpus * 8,
      nodes: startTs === null ? [] : nodes,
      exitCode: state === 'FAILED' ? 1 : 0,
    });
    if (batch.length === 5000) flush();
  }
  // One running job per node that the raw samples below name (10 % of nodes name none: idle or hidden).
  for (let n = 0; n < NATIONAL.nodes; n++) {
    batch.push({
      jobId: `live-${n}`, arrayJobId: null, name: 'live', user: 'u0000', account: projectName(n % NATIONAL.projects), partition: 'gpu', qos: 'normal',
      state: 'RUNNING', submitTime: iso(nowTs - 20 * DAY_MS), eligibleTime: null, startTime: iso(nowTs - 20 * DAY_MS), endTime: null,
      gpus: NATIONAL.gpusPerNode, gpuType: 'h200', cpus: 64, nodes: [nodeName(n)], exitCode: null,
    });
  }
  flush();
  timings.jobsS = (performance.now() - t) / 1000;
  timings.jobIngestPerS = viaIngest / (ingestMs / 1000);
  log(`national: ${synth.length.toLocaleString('en-GB')} jobs ingested in ${timings.jobsS.toFixed(1)} s`);

  // 2. job_hour for the year: constant power per job, split into hours by the ingest's integrator.
  t = performance.now();
  // 100-row statements: about twice the rate of one row per statement here.
  const ROWS = 100;
  const jobHourSql = (n: number) =>
    `INSERT INTO job_hour (hour_ts, cluster, job_id, energy_wh, gpu_s, util_pct_s, idle_gpu_s) VALUES ${Array.from({ length: n }, () => '(?, ?, ?, ?, ?, ?, ?)').join(', ')}`;
  const jobHourMany = sqlite.prepare(jobHourSql(ROWS));
  const jobHourOne = sqlite.prepare(jobHourSql(1));
  let jobHourRows = 0;
  const insertJobHours = sqlite.transaction((jobs: SynthJob[]) => {
    let params: unknown[] = [];
    for (const j of jobs) {
      if (j.startTs === null) continue;
      const end = j.endTs ?? nowTs;
      if (end <= j.startTs) continue;
      for (const piece of splitLinear(j.startTs, j.powerW * j.gpus, end, j.powerW * j.gpus, HOUR_MS)) {
        const gpuS = ((piece.endMs - piece.startMs) / 1000) * j.gpus;
        params.push(piece.bucketTs, NATIONAL.cluster, j.jobId, piece.integral / HOUR_MS, gpuS, gpuS * j.utilPct, j.utilPct < config.idleUtilPct ? gpuS : 0);
        jobHourRows++;
        if (params.length === ROWS * 7) {
          jobHourMany.run(params);
          params = [];
        }
      }
    }
    for (let i = 0; i < params.length; i += 7) jobHourOne.run(params.slice(i, i + 7));
  });
  // The rows go in hour order (as ingest writes them), not job order.
  const byStart = synth.filter((j) => j.startTs !== null).sort((a, b) => a.startTs! - b.startTs!);
  for (let i = 0; i < byStart.length; i += 20_000) insertJobHours(byStart.slice(i, i + 20_000));
  timings.jobHourS = (performance.now() - t) / 1000;
  log(`national: ${jobHourRows.toLocaleString('en-GB')} job_hour rows in ${timings.jobHourS.toFixed(1)} s`);
  t = performance.now();
  const usage = rebuildUsageRollups(sqlite);
  timings.usageRollupS = (performance.now() - t) / 1000;
  log(`national: usage rollups (${usage.dayRows.toLocaleString('en-GB')} day rows, ${usage.monthRows.toLocaleString('en-GB')} month rows) in ${timings.usageRollupS.toFixed(1)} s`);
  // The wait rollup's stored runs, by the rebuild a repair would run (reads would otherwise build them on first use).
  t = performance.now();
  rebuildWaitRollup(sqlite, nowTs);
  timings.waitRollupS = (performance.now() - t) / 1000;
  log(`national: wait rollup in ${timings.waitRollupS.toFixed(1)} s`);

  // 3. Facility meters every minute for the year, through the real facility ingest, an hour per batch.
  t = performance.now();
  let facilityReadings = 0;
  for (let h = yearStart - (yearStart % HOUR_MS); h < nowTs - 60_000; h += HOUR_MS) {
    const readings: FacilityBatchParsed['readings'] = [];
    const day = (h % DAY_MS) / DAY_MS;
    for (let m = 0; m < 60; m++) {
      const ts = h + m * 60_000;
      if (ts > nowTs - 60_000) break;
      const itW = 4.2e6 + 1.2e6 * Math.sin((ts / DAY_MS) * 2 * Math.PI) + 2e5 * Math.sin(ts / 7e6);
      const s = iso(ts);
      readings.push(
        { ts: s, meter: 'it-main', quantity: 'itPowerW', value: itW },
        { ts: s, meter: 'facility-main', quantity: 'facilityPowerW', value: itW * 1.12 },
        { ts: s, meter: 'heat-export', quantity: 'heatReusedW', value: itW * 0.6 },
        { ts: s, meter: 'grid', quantity: 'gridCo2GPerKWh', value: 80 + 60 * Math.sin(day * 2 * Math.PI) },
        { ts: s, meter: 'loop-1', quantity: 'heatRemovedW', value: itW * 0.85 },
        { ts: s, meter: 'loop-1', quantity: 'flowLpm', value: 8000 },
        { ts: s, meter: 'loop-1', quantity: 'supplyTempC', value: 32 },
        { ts: s, meter: 'loop-1', quantity: 'returnTempC', value: 32 + (itW * 0.85) / (69.1 * 8000) },
      );
    }
    ingest.ingest({ kind: 'facility', batch: { schema: 1, site: NATIONAL.site, readings } });
    facilityReadings += readings.length;
  }
  timings.facilityS = (performance.now() - t) / 1000;
  log(`national: ${facilityReadings.toLocaleString('en-GB')} facility readings in ${timings.facilityS.toFixed(1)} s`);

  // 4. gpu_hour for the retention window (per GPU and hour; 10 % of GPU time names no job).
  t = performance.now();
  const gpuIds = ensureGpus(sqlite, nowTs);
  const gpuHourIns = sqlite.prepare(
    'INSERT OR IGNORE INTO gpu_hour (hour_ts, gpu_id, energy_wh, covered_s, util_pct_s, job_s, no_job_wh) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  let gpuHourRows = 0;
  const retentionStart = nowTs - config.retentionDays * DAY_MS;
  const insertGpuHours = sqlite.transaction((hourTs: number) => {
    for (let g = 0; g < gpuIds.length; g++) {
      const noJob = g % NATIONAL.gpusPerNode === 0 && (g / NATIONAL.gpusPerNode) % 10 === 0;
      const powerW = noJob ? 90 : 420;
      gpuHourIns.run(hourTs, gpuIds[g]!, powerW, 3600, noJob ? 3600 * 3 : 3600 * 60, noJob ? 0 : 3600, noJob ? powerW : 0);
      gpuHourRows++;
    }
  });
  for (let h = retentionStart - (retentionStart % HOUR_MS); h < nowTs - 2 * HOUR_MS; h += HOUR_MS) insertGpuHours(h);
  timings.gpuHourS = (performance.now() - t) / 1000;
  log(`national: ${gpuHourRows.toLocaleString('en-GB')} gpu_hour rows (retention window) in ${timings.gpuHourS.toFixed(1)} s`);

  // 5. Raw samples through the real GPU ingest: 10 minutes 15 days ago (expired), then the last 10 minutes.
  t = performance.now();
  let rawSamples = 0;
  const sendSamples = (fromTs: number) => {
    for (let n = 0; n < NATIONAL.nodes; n++) {
      const samples: GpuBatchParsed['samples'] = [];
      const jobIds = n % 10 === 0 ? [] : [`live-${n}`];
      for (let s = 0; s < 60; s++) {
        const ts = iso(fromTs + s * 10_000);
        for (let g = 0; g < NATIONAL.gpusPerNode; g++) {
          const powerW = jobIds.length ? 380 + ((s * 7 + g * 13) % 90) : 85;
          samples.push({
            ts, gpuUuid: `GPU-${n}-${g}`, gpuIndex: g, model: 'NVIDIA H200', utilPct: jobIds.length ? 88 : 0, memUsedMiB: 60_000,
            memTotalMiB: 143_771, powerW, powerLimitW: 700, tempC: 55, processes: [], jobIds,
          });
        }
      }
      ingest.ingest({ kind: 'gpu', batch: { schema: 1, cluster: NATIONAL.cluster, node: nodeName(n), samples } });
      rawSamples += samples.length;
    }
  };
  // Ingest refuses samples already past retention, so the "expired" ones are 13 days old and
  // the bench purges as if 1.5 days later (bench.ts).
  sendSamples(nowTs - 13 * DAY_MS);
  sendSamples(nowTs - 11 * 60_000);
  timings.rawSamplesS = (performance.now() - t) / 1000;
  log(`national: ${rawSamples.toLocaleString('en-GB')} raw samples through GPU ingest in ${timings.rawSamplesS.toFixed(1)} s`);

  // 6. Energy attribution rollups from all of the above, by the rebuild a database that predates them gets.
  t = performance.now();
  const attribution = rebuildAttribution(sqlite, nowTs);
  timings.attributionRollupS = (performance.now() - t) / 1000;
  log(`national: energy attribution rollups (${attribution.hours.toLocaleString('en-GB')} hours, ${attribution.jobs.toLocaleString('en-GB')} jobs) in ${timings.attributionRollupS.toFixed(1)} s`);

  return { jobs: synth.length + NATIONAL.nodes, jobHourRows, gpuHourRows, facilityReadings, rawSamples, timings };
}

/** The GPUs' ids, creating the nodes and GPUs as first ingest would. */
function ensureGpus(sqlite: Database, nowTs: number): number[] {
  const nodeIns = sqlite.prepare('INSERT OR IGNORE INTO nodes (cluster, name, first_seen_ts) VALUES (?, ?, ?)');
  const nodeGet = sqlite.prepare('SELECT id FROM nodes WHERE cluster = ? AND name = ?');
  const gpuIns = sqlite.prepare(
    "INSERT OR IGNORE INTO gpus (uuid, node_id, gpu_index, model, mem_total_mib, power_limit_w, first_seen_ts) VALUES (?, ?, ?, 'NVIDIA H200', 143771, 700, ?)",
  );
  const gpuGet = sqlite.prepare('SELECT id FROM gpus WHERE uuid = ?');
  const ids: number[] = [];
  sqlite.transaction(() => {
    for (let n = 0; n < NATIONAL.nodes; n++) {
      nodeIns.run(NATIONAL.cluster, nodeName(n), nowTs);
      const nodeId = (nodeGet.get(NATIONAL.cluster, nodeName(n)) as { id: number }).id;
      for (let g = 0; g < NATIONAL.gpusPerNode; g++) {
        gpuIns.run(`GPU-${n}-${g}`, nodeId, g, nowTs);
        ids.push((gpuGet.get(`GPU-${n}-${g}`) as { id: number }).id);
      }
    }
  })();
  return ids;
}

function gauss(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}
