/**
 * GPU sample ingest: stores raw samples and folds them into the per-GPU-hour and
 * per-job-hour rollups in the same transaction, so a batch is all-or-nothing and its
 * effect is visible as soon as it is acknowledged.
 *
 * Exactness under retries and late samples: a sample whose (ts, gpu) is already stored
 * adds nothing. A new sample newer than the GPU's cursor adds the segment from the cursor
 * to it. A new sample older than the cursor (late) lies between two stored samples p and
 * n: the segment p→n is subtracted and p→s, s→n are added, so the rollups equal what an
 * in-order arrival would have produced.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { GpuBatchIn } from './records.ts';
import { ACTIVITY_METRICS, HOUR_MS, integrateGpuSegmentEach, type Activity, type GpuPieceSink, type GpuPoint } from '../rules/integrate.ts';
import type { IngestContext } from './context.ts';
import type { UsageRollup } from '../rollups/usage.ts';

interface RollupDelta {
  energyWh: number;
  seconds: number;
  utilPctS: number;
  other: number;
  noJobWh: number;
  noJobBusyS: number;
  counterWh: number;
  /** Activity integrals and seconds (GpuPiece.activity), null until a piece brings some. */
  activity: Float64Array | null;
}

/** The sample columns beyond nvidia-smi's, as a point's fields (energy counter, activities). */
const EXTRA_COLUMNS = 'energy_j AS energyJ, sm_active AS smActive, tensor_active AS tensorActive, gr_active AS grActive, dram_active AS dramActive';

/** Prepared statements and caches for GPU ingest, built once per database. */
export class GpuIngestor {
  private readonly nodeIds = new Map<string, number>();
  private readonly gpuIds = new Map<string, { id: number; nodeId: number; gpuIndex: number; model: string | null }>();
  private readonly cursors = new Map<number, GpuPoint | null>();
  private readonly st: Record<string, Statement>;

  constructor(
    private readonly ctx: IngestContext,
    private readonly usage: UsageRollup,
  ) {
    const db: Database = ctx.sqlite;
    this.st = {
      nodeGet: db.prepare('SELECT id FROM nodes WHERE cluster = ? AND name = ?'),
      nodeIns: db.prepare('INSERT INTO nodes (cluster, name, first_seen_ts) VALUES (?, ?, ?)'),
      gpuGet: db.prepare('SELECT id, node_id AS nodeId, gpu_index AS gpuIndex, model FROM gpus WHERE uuid = ?'),
      gpuIns: db.prepare(
        'INSERT INTO gpus (uuid, node_id, gpu_index, model, mem_total_mib, power_limit_w, first_seen_ts) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      gpuUpd: db.prepare('UPDATE gpus SET node_id = ?, gpu_index = ?, model = ?, mem_total_mib = ?, power_limit_w = ? WHERE id = ?'),
      sampleIns: db.prepare(
        'INSERT OR IGNORE INTO gpu_samples (ts, gpu_id, util_pct, mem_used_mib, power_w, temp_c, job_ids) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      // A sample with an energy counter or activities (a DCGM source); the plain insert stays the hot path.
      sampleInsExtra: db.prepare(
        `INSERT OR IGNORE INTO gpu_samples (ts, gpu_id, util_pct, mem_used_mib, power_w, temp_c, job_ids, energy_j, sm_active, tensor_active, gr_active, dram_active)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      cursorGet: db.prepare(`SELECT ts, power_w AS powerW, util_pct AS utilPct, job_ids AS jobIds, ${EXTRA_COLUMNS} FROM gpu_cursor WHERE gpu_id = ?`),
      cursorPut: db.prepare(
        `INSERT INTO gpu_cursor (gpu_id, ts, util_pct, power_w, job_ids, energy_j, sm_active, tensor_active, gr_active, dram_active) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (gpu_id) DO UPDATE SET ts = excluded.ts, util_pct = excluded.util_pct, power_w = excluded.power_w, job_ids = excluded.job_ids,
           energy_j = excluded.energy_j, sm_active = excluded.sm_active, tensor_active = excluded.tensor_active, gr_active = excluded.gr_active, dram_active = excluded.dram_active`,
      ),
      prev: db.prepare(
        `SELECT ts, power_w AS powerW, util_pct AS utilPct, job_ids AS jobIds, ${EXTRA_COLUMNS} FROM gpu_samples
         WHERE ts >= ? AND ts < ? AND gpu_id = ? ORDER BY ts DESC LIMIT 1`,
      ),
      next: db.prepare(
        `SELECT ts, power_w AS powerW, util_pct AS utilPct, job_ids AS jobIds, ${EXTRA_COLUMNS} FROM gpu_samples
         WHERE ts > ? AND ts <= ? AND gpu_id = ? ORDER BY ts ASC LIMIT 1`,
      ),
      gpuHourAdd: db.prepare(
        `INSERT INTO gpu_hour (hour_ts, gpu_id, energy_wh, covered_s, util_pct_s, job_s, no_job_wh, no_job_busy_s, counter_wh) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (hour_ts, gpu_id) DO UPDATE SET energy_wh = energy_wh + excluded.energy_wh,
           covered_s = covered_s + excluded.covered_s, util_pct_s = util_pct_s + excluded.util_pct_s, job_s = job_s + excluded.job_s,
           no_job_wh = no_job_wh + excluded.no_job_wh, no_job_busy_s = no_job_busy_s + excluded.no_job_busy_s, counter_wh = counter_wh + excluded.counter_wh`,
      ),
      jobHourAdd: db.prepare(
        `INSERT INTO job_hour (hour_ts, cluster, job_id, energy_wh, gpu_s, util_pct_s, idle_gpu_s) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (hour_ts, cluster, job_id) DO UPDATE SET energy_wh = energy_wh + excluded.energy_wh,
           gpu_s = gpu_s + excluded.gpu_s, util_pct_s = util_pct_s + excluded.util_pct_s, idle_gpu_s = idle_gpu_s + excluded.idle_gpu_s`,
      ),
      jobGpuAdd: db.prepare(
        `INSERT INTO job_gpu (cluster, job_id, gpu_id, gpu_s, idle_s, util_pct_s, util_s, util_peak_pct, mem_peak_mib) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (cluster, job_id, gpu_id) DO UPDATE SET gpu_s = gpu_s + excluded.gpu_s, idle_s = idle_s + excluded.idle_s,
           util_pct_s = util_pct_s + excluded.util_pct_s, util_s = util_s + excluded.util_s,
           util_peak_pct = CASE WHEN excluded.util_peak_pct IS NULL THEN util_peak_pct WHEN util_peak_pct IS NULL THEN excluded.util_peak_pct ELSE MAX(util_peak_pct, excluded.util_peak_pct) END,
           mem_peak_mib = CASE WHEN excluded.mem_peak_mib IS NULL THEN mem_peak_mib WHEN mem_peak_mib IS NULL THEN excluded.mem_peak_mib ELSE MAX(mem_peak_mib, excluded.mem_peak_mib) END`,
      ),
      jobHourExtra: db.prepare(
        `UPDATE job_hour SET counter_wh = counter_wh + ?, sm_active_s = sm_active_s + ?, sm_s = sm_s + ?, tensor_active_s = tensor_active_s + ?,
           tensor_s = tensor_s + ?, gr_active_s = gr_active_s + ?, gr_s = gr_s + ?, dram_active_s = dram_active_s + ?, dram_s = dram_s + ?
         WHERE hour_ts = ? AND cluster = ? AND job_id = ?`,
      ),
    };
  }

  /** Stores one validated batch; must run inside a transaction. */
  /** `times`: each sample's time already parsed (by the ingest service's checks), or undefined. */
  ingest(batch: GpuBatchIn, nowMs: number, times?: number[]): { accepted: number; duplicates: number } {
    const nodeId = this.nodeId(batch.cluster, batch.node, nowMs);
    // Hot path (every sample): rollup deltas keyed by numbers, pieces handed over without arrays.
    const gpuHour = new Map<number, RollupDelta>();
    const jobHour = new Map<string, Map<number, RollupDelta>>();
    // Per job and GPU: time, idle time, utilisation and the peaks of the samples naming the job.
    const jobGpu = new Map<string, Map<number, JobGpuDelta>>();
    // Hot path: consecutive samples of a GPU share one job list (the same array), so the
    // list's deltas are looked up once per run of samples, not per sample and piece.
    let cachedGpu = -1;
    let cachedIds: string[] | null = null;
    let cachedDeltas: JobGpuDelta[] = [];
    const deltasFor = (gpu: number, ids: string[]): JobGpuDelta[] => {
      if (gpu !== cachedGpu || ids !== cachedIds) {
        cachedGpu = gpu;
        cachedIds = ids;
        cachedDeltas = ids.map((j) => jobGpuDelta(jobGpu, j, gpu));
      }
      return cachedDeltas;
    };
    const touchedCursors = new Set<number>();
    const maxGapMs = this.ctx.config.maxGapS * 1000;
    const idle = this.ctx.config.idleUtilPct;
    let accepted = 0;
    let duplicates = 0;

    let gpuId = 0;
    let sign = 1;
    const sink: GpuPieceSink = (hourTs, jobIds, seconds, energy, utilS, isIdle, counter, activity) => {
      const energyWh = energy === null ? 0 : sign * energy;
      const signedS = sign * seconds;
      const utilPctS = utilS === null ? 0 : sign * utilS;
      const share = jobIds.length;
      const gpuDeltas = share > 0 ? deltasFor(gpuId, jobIds) : cachedDeltas;
      const gpu = accumulate(
        gpuHour,
        (hourTs / HOUR_MS) * GPU_KEY_SPAN + gpuId,
        energyWh,
        energy === null ? 0 : signedS,
        utilPctS,
        share > 0 ? signedS : 0,
        share === 0 ? energyWh : 0,
        share === 0 && !isIdle ? signedS : 0,
      );
      if (counter !== 0) gpu.counterWh += sign * counter;
      for (let k = 0; k < share; k++) {
        const jobId = jobIds[k]!;
        let hours = jobHour.get(jobId);
        if (!hours) jobHour.set(jobId, (hours = new Map()));
        const d = accumulate(hours, hourTs, energyWh / share, signedS / share, utilPctS / share, isIdle ? signedS / share : 0);
        const g = gpuDeltas[k]!;
        g.gpuS += signedS / share;
        if (isIdle) g.idleS += signedS / share;
        if (utilS !== null) {
          g.utilPctS += utilPctS / share;
          g.utilS += signedS / share;
        }
        if (counter !== 0) d.counterWh += (sign * counter) / share;
        if (activity) {
          d.activity ??= new Float64Array(2 * ACTIVITY_METRICS);
          for (let m = 0; m < activity.length; m++) d.activity[m]! += (sign * activity[m]!) / share;
        }
      }
    };
    const addSegment = (id: number, p: GpuPoint, n: GpuPoint, s: 1 | -1) => {
      gpuId = id;
      sign = s;
      integrateGpuSegmentEach(p, n, maxGapMs, idle, sink);
    };

    const samples = batch.samples
      .map((s, i) => ({ s, ts: times?.[i] ?? Date.parse(s.ts), gpuId: this.gpuId(s, nodeId, nowMs) }))
      .sort((a, b) => a.gpuId - b.gpuId || a.ts - b.ts);

    // Consecutive samples of a GPU usually name the same jobs: reuse the sorted list and its JSON.
    let lastRaw: string[] | null = null;
    let lastJobIds: string[] = [];
    let lastJson: string | null = null;
    for (const { s, ts, gpuId: id } of samples) {
      if (lastRaw === null || !sameList(s.jobIds, lastRaw)) {
        lastRaw = s.jobIds;
        lastJobIds = s.jobIds.length === 0 ? [] : s.jobIds.length === 1 ? [s.jobIds[0]!] : [...new Set(s.jobIds)].sort();
        lastJson = lastJobIds.length > 0 ? JSON.stringify(lastJobIds) : null;
      }
      const jobIds = lastJobIds;
      const activity = activityOf(s.smActive, s.tensorActive, s.grEngineActive, s.dramActive);
      const energyJ = s.energyJ ?? null;
      const inserted =
        (energyJ === null && activity === null
          ? this.st.sampleIns.run(ts, id, s.utilPct, s.memUsedMiB, s.powerW, s.tempC, lastJson)
          : this.st.sampleInsExtra.run(ts, id, s.utilPct, s.memUsedMiB, s.powerW, s.tempC, lastJson, energyJ, ...(activity ?? NO_ACTIVITY))
        ).changes > 0;
      if (!inserted) {
        duplicates++;
        continue;
      }
      accepted++;
      const sampleDeltas = jobIds.length > 0 ? deltasFor(id, jobIds) : cachedDeltas;
      for (let k = 0; k < jobIds.length; k++) {
        const g = sampleDeltas[k]!;
        if (s.utilPct !== null && (g.utilPeak === null || s.utilPct > g.utilPeak)) g.utilPeak = s.utilPct;
        if (s.memUsedMiB !== null && (g.memPeak === null || s.memUsedMiB > g.memPeak)) g.memPeak = s.memUsedMiB;
      }
      const point: GpuPoint = energyJ === null && activity === null ? { ts, powerW: s.powerW, utilPct: s.utilPct, jobIds } : { ts, powerW: s.powerW, utilPct: s.utilPct, jobIds, energyJ, activity };
      const cursor = this.cursor(id);
      if (!cursor || ts > cursor.ts) {
        if (cursor) addSegment(id, cursor, point, 1);
        this.cursors.set(id, point);
        touchedCursors.add(id);
        continue;
      }
      // A late sample: re-split the segment it falls into.
      const prev = toPoint(this.st.prev.get(ts - maxGapMs, ts, id));
      const next = toPoint(this.st.next.get(ts, ts + maxGapMs, id));
      if (prev && next) addSegment(id, prev, next, -1);
      if (prev) addSegment(id, prev, point, 1);
      if (next) addSegment(id, point, next, 1);
    }

    for (const [key, d] of gpuHour) {
      const gpu = key % GPU_KEY_SPAN;
      this.st.gpuHourAdd.run(((key - gpu) / GPU_KEY_SPAN) * HOUR_MS, gpu, d.energyWh, d.seconds, d.utilPctS, d.other, d.noJobWh, d.noJobBusyS, d.counterWh);
    }
    for (const [jobId, hours] of jobHour) {
      for (const [hourTs, d] of hours) {
        this.st.jobHourAdd.run(hourTs, batch.cluster, jobId, d.energyWh, d.seconds, d.utilPctS, d.other);
        if (d.counterWh !== 0 || d.activity) this.st.jobHourExtra.run(d.counterWh, ...(d.activity ?? NO_ACTIVITY_SUMS), hourTs, batch.cluster, jobId);
        this.usage.addEnergy(batch.cluster, jobId, hourTs, d.energyWh, d.seconds, d.other);
      }
    }
    for (const [jobId, gpus] of jobGpu) {
      for (const [gpu, g] of gpus) this.st.jobGpuAdd.run(batch.cluster, jobId, gpu, g.gpuS, g.idleS, g.utilPctS, g.utilS, g.utilPeak, g.memPeak);
    }
    for (const id of touchedCursors) {
      const c = this.cursors.get(id)!;
      this.st.cursorPut.run(id, c.ts, c.utilPct, c.powerW, c.jobIds.length ? JSON.stringify(c.jobIds) : null, c.energyJ ?? null, ...(c.activity ?? NO_ACTIVITY));
    }
    return { accepted, duplicates };
  }

  /** Forgets cached state (after a rolled-back transaction the caches may be ahead of the database). */
  resetCaches(): void {
    this.nodeIds.clear();
    this.gpuIds.clear();
    this.cursors.clear();
  }

  private nodeId(cluster: string, name: string, nowMs: number): number {
    const key = `${cluster}\u0000${name}`;
    let id = this.nodeIds.get(key);
    if (id === undefined) {
      const row = this.st.nodeGet.get(cluster, name) as { id: number } | undefined;
      id = row ? row.id : Number(this.st.nodeIns.run(cluster, name, nowMs).lastInsertRowid);
      this.nodeIds.set(key, id);
    }
    return id;
  }

  private gpuId(s: GpuBatchIn['samples'][number], nodeId: number, nowMs: number): number {
    let gpu = this.gpuIds.get(s.gpuUuid);
    if (!gpu) {
      gpu = this.st.gpuGet.get(s.gpuUuid) as typeof gpu;
      if (!gpu) {
        const id = Number(
          this.st.gpuIns.run(s.gpuUuid, nodeId, s.gpuIndex, s.model, s.memTotalMiB, s.powerLimitW, nowMs).lastInsertRowid,
        );
        gpu = { id, nodeId, gpuIndex: s.gpuIndex, model: s.model };
      }
      this.gpuIds.set(s.gpuUuid, gpu);
    }
    if (gpu.nodeId !== nodeId || gpu.gpuIndex !== s.gpuIndex || gpu.model !== s.model) {
      // A GPU moved to another node or slot: keep its identity, record where it is now.
      this.st.gpuUpd.run(nodeId, s.gpuIndex, s.model, s.memTotalMiB, s.powerLimitW, gpu.id);
      gpu = { ...gpu, nodeId, gpuIndex: s.gpuIndex, model: s.model };
      this.gpuIds.set(s.gpuUuid, gpu);
    }
    return gpu.id;
  }

  private cursor(gpuId: number): GpuPoint | null {
    if (!this.cursors.has(gpuId)) this.cursors.set(gpuId, toPoint(this.st.cursorGet.get(gpuId)));
    return this.cursors.get(gpuId) ?? null;
  }
}

/**
 * gpu_hour deltas are keyed by hour index × GPU_KEY_SPAN + gpu id: exact in a double for
 * gpu ids below 2^22 (the gpus table's row ids; four million GPUs) until the year 2500.
 */
const GPU_KEY_SPAN = 4_194_304;

function sameList(a: string[], b: string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

interface JobGpuDelta {
  gpuS: number;
  idleS: number;
  utilPctS: number;
  utilS: number;
  utilPeak: number | null;
  memPeak: number | null;
}

function jobGpuDelta(map: Map<string, Map<number, JobGpuDelta>>, jobId: string, gpuId: number): JobGpuDelta {
  let gpus = map.get(jobId);
  if (!gpus) map.set(jobId, (gpus = new Map()));
  let d = gpus.get(gpuId);
  if (!d) gpus.set(gpuId, (d = { gpuS: 0, idleS: 0, utilPctS: 0, utilS: 0, utilPeak: null, memPeak: null }));
  return d;
}

const NO_ACTIVITY: Activity = [null, null, null, null];
const NO_ACTIVITY_SUMS = new Float64Array(2 * ACTIVITY_METRICS);

/** A sample's activities in the integrator's order, or null when it has none. */
function activityOf(sm: number | null | undefined, tensor: number | null | undefined, gr: number | null | undefined, dram: number | null | undefined): Activity | null {
  return sm == null && tensor == null && gr == null && dram == null ? null : [sm ?? null, tensor ?? null, gr ?? null, dram ?? null];
}

function toPoint(row: unknown): GpuPoint | null {
  if (!row) return null;
  const r = row as { ts: number; powerW: number | null; utilPct: number | null; jobIds: string | null; energyJ: number | null; smActive: number | null; tensorActive: number | null; grActive: number | null; dramActive: number | null };
  const point: GpuPoint = { ts: r.ts, powerW: r.powerW, utilPct: r.utilPct, jobIds: r.jobIds ? (JSON.parse(r.jobIds) as string[]) : [] };
  const activity = activityOf(r.smActive, r.tensorActive, r.grActive, r.dramActive);
  if (r.energyJ !== null || activity !== null) Object.assign(point, { energyJ: r.energyJ, activity });
  return point;
}

function accumulate<K>(map: Map<K, RollupDelta>, key: K, energyWh: number, seconds: number, utilPctS: number, other: number, noJobWh = 0, noJobBusyS = 0): RollupDelta {
  const d = map.get(key);
  if (d) {
    d.energyWh += energyWh;
    d.seconds += seconds;
    d.utilPctS += utilPctS;
    d.other += other;
    d.noJobWh += noJobWh;
    d.noJobBusyS += noJobBusyS;
    return d;
  }
  const fresh = { energyWh, seconds, utilPctS, other, noJobWh, noJobBusyS, counterWh: 0, activity: null };
  map.set(key, fresh);
  return fresh;
}

