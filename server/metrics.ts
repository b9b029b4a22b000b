/**
 * `GET /metrics`: HeatLedger's figures in the Prometheus text exposition format (0.0.4), or
 * OpenMetrics 1.0 when the scraper asks for it by `Accept`. Labels are bounded: project,
 * partition, facility quantity, queue partition, collector source and node; never a job or
 * a person (README "Prometheus and Grafana" states the bound).
 *
 * Counters are totals since the first record, worked out from the stored rollups on each
 * scrape, so they survive restarts and rise with late data. A correction can lower a total
 * (a job record shortened, a project's records removed): the counter then restarts from
 * zero at that scrape (a documented reset, with its `_created` time in OpenMetrics) rather
 * than decreasing silently, which `increase()` would read as a reset followed by the whole
 * total. The offsets behind those restarts are kept in `settings` by `persist` (a timer in
 * server/main.ts; a scrape never writes).
 */
import type { Database } from 'better-sqlite3';
import { facilityEnergy, facilitySums } from '../db/queries/facility-energy.ts';
import { newestSamples, projectTotals } from '../db/queries/project-totals.ts';
import { INTERVAL_MS } from '../db/rules/time.ts';
import { grantUse } from './services/allocation.service.ts';
import { getQueue } from './services/waits.service.ts';

/** A counter's restart: exported = total − offset, counting since `createdS`. */
interface Restart {
  offset: number;
  last: number;
  createdS: number;
}

const SETTINGS_KEY = 'metricsCounterRestarts';

type Labels = Record<string, string>;
interface Family {
  name: string;
  type: 'counter' | 'gauge';
  help: string;
  unit?: string;
  samples: Array<{ labels: Labels; value: number; createdS?: number }>;
}

export interface Metrics {
  /** Counts an ingest batch refused, by kind (gpu, jobs, facility) and reason (the error code). */
  rejected(kind: string, reason: string): void;
  /** A collector's spool backlog as its last accepted batch reported it. */
  backlog(kind: string, source: string, batches: number): void;
  /** The exposition at `nowTs`; OpenMetrics when `openMetrics`. Reads only. */
  render(nowTs: number, openMetrics: boolean): string;
  /** Stores counter restarts not yet stored, and every quarter hour (or with `force`) the last values; false when nothing was due. */
  persist(force?: boolean): boolean;
}

export function createMetrics(sqlite: Database, startedS = Date.now() / 1000): Metrics {
  const rejections = new Map<string, number>();
  const backlogs = new Map<string, number>();
  const stored = sqlite.prepare('SELECT value FROM settings WHERE key = ?').get(SETTINGS_KEY) as { value: string } | undefined;
  const restarts = new Map<string, Restart>(stored ? (Object.entries(JSON.parse(stored.value)) as Array<[string, Restart]>) : []);
  let dirty = false;

  /** A total as exported: restarted from zero when it fell below what was last exported. */
  const monotone = (series: string, total: number, nowTs: number): { value: number; createdS?: number } => {
    let r = restarts.get(series);
    if (!r) restarts.set(series, (r = { offset: 0, last: total, createdS: 0 }));
    // Rounding dust of re-summed floating totals is not a correction.
    if (total - r.offset < r.last - Math.max(1e-6, Math.abs(r.last) * 1e-12)) {
      r.offset = total;
      r.createdS = nowTs / 1000;
      dirty = true;
    }
    const value = Math.max(0, total - r.offset);
    r.last = value;
    return r.createdS ? { value, createdS: r.createdS } : { value };
  };
  let storedAt = 0;

  return {
    rejected(kind, reason) {
      const key = `${kind}\u0000${reason}`;
      rejections.set(key, (rejections.get(key) ?? 0) + 1);
    },
    backlog(kind, source, batches) {
      backlogs.set(`${kind}\u0000${source}`, batches);
    },
    render(nowTs, openMetrics) {
      const families: Family[] = [];
      const family = (type: Family['type']) => (name: string, help: string, unit?: string): Family => {
        const f: Family = { name, type, help, unit, samples: [] };
        families.push(f);
        return f;
      };
      const counter = family('counter');
      const gauge = family('gauge');

      // Allocated GPU-seconds: ended jobs from the usage rollup, running jobs up to now.
      const gpuSeconds = counter('heatledger_project_gpu_seconds', 'Allocated GPU-seconds (GPUs x running time, as sreport charges) by project and partition.', 'seconds');
      const totals = projectTotals(sqlite, nowTs);
      const energyWh = new Map<string, number>();
      for (const t of totals) {
        gpuSeconds.samples.push({ labels: { project: t.project, partition: t.partition }, ...monotone(`gpu_s|${t.project}|${t.partition}`, t.gpuS, nowTs) });
        energyWh.set(t.project, (energyWh.get(t.project) ?? 0) + t.energyWh);
      }

      const energy = counter('heatledger_project_gpu_energy_joules', 'Measured GPU energy (integrated from samples) by project.', 'joules');
      // Projects in order already (projectTotals sorts by project first).
      for (const [project, wh] of energyWh) {
        energy.samples.push({ labels: { project }, ...monotone(`gpu_j|${project}`, wh * 3600, nowTs) });
      }

      // The facility over the last complete 5-minute interval.
      const intervalEnd = Math.floor(nowTs / INTERVAL_MS) * INTERVAL_MS;
      const last = facilityEnergy(sqlite, null, intervalEnd - INTERVAL_MS, intervalEnd, INTERVAL_MS)[0];
      const power = gauge('heatledger_facility_power_watts', 'Mean power over the last complete 5-minute interval, by quantity (it, facility, cooling, heat_reused).', 'watts');
      const pue = gauge('heatledger_pue', 'Power usage effectiveness (facility energy / IT energy) over the last complete 5-minute interval.');
      const erf = gauge('heatledger_erf', 'Energy reuse factor (reused heat / facility energy) over the last complete 5-minute interval.');
      const toW = (kwh: number | null | undefined) => (kwh === null || kwh === undefined ? null : (kwh * 3_600_000) / (INTERVAL_MS / 1000));
      if (last) {
        for (const [quantity, kwh] of [
          ['it', last.itEnergyKWh],
          ['facility', last.facilityEnergyKWh],
          ['cooling', last.coolingEnergyKWh],
          ['heat_reused', last.reusedHeatKWh],
        ] as const) {
          const w = toW(kwh);
          if (w !== null) power.samples.push({ labels: { quantity }, value: w });
        }
        if (last.itEnergyKWh && last.facilityEnergyKWh !== null) pue.samples.push({ labels: {}, value: last.facilityEnergyKWh / last.itEnergyKWh });
        if (last.facilityEnergyKWh && last.reusedHeatKWh !== null) erf.samples.push({ labels: {}, value: last.reusedHeatKWh / last.facilityEnergyKWh });
      }
      const reused = counter('heatledger_heat_reused_joules', 'Heat delivered to reuse (district heating) since the first reading, up to the last complete 5-minute interval.', 'joules');
      let reusedKWh = 0;
      for (const b of facilitySums(sqlite, 0, intervalEnd, Number.POSITIVE_INFINITY).buckets) reusedKWh += b.reusedHeatKWh ?? 0;
      reused.samples.push({ labels: {}, ...monotone('heat_reused_j', reusedKWh * 3_600_000, nowTs) });

      // The queue now.
      const queue = getQueue(sqlite, nowTs, { accounts: [], users: [], perUser: false, role: 'facility' });
      const pendingJobs = gauge('heatledger_queue_pending_jobs', 'Jobs waiting to start, by partition.');
      const pendingGpus = gauge('heatledger_queue_pending_gpus', 'GPUs asked for by jobs waiting to start, by partition.');
      const oldest = gauge('heatledger_queue_oldest_wait_seconds', 'Time since submission of the longest-waiting job, by partition.', 'seconds');
      for (const p of queue.partitions) {
        pendingJobs.samples.push({ labels: { partition: p.partition }, value: p.pendingJobs });
        pendingGpus.samples.push({ labels: { partition: p.partition }, value: p.pendingGpus });
        oldest.samples.push({ labels: { partition: p.partition }, value: p.oldestAgeS ?? 0 });
      }

      // Grants in their period now.
      const grants = gauge('heatledger_grant_used_ratio', 'GPU-hours used of the grant in its current period (1 = all used), by project.');
      const current = grantUse(sqlite, nowTs).filter((a) => a.grantedGpuHours > 0);
      const seen = new Set<string>();
      for (const a of current.sort((x, y) => x.project.localeCompare(y.project))) {
        if (seen.has(a.project)) continue;
        seen.add(a.project);
        grants.samples.push({ labels: { project: a.project }, value: a.usedGpuHours / a.grantedGpuHours });
      }

      // Collector health.
      const age = gauge('heatledger_source_last_sample_age_seconds', 'Seconds since the newest sample stored, by source (gpu: per node, facility: per meter).', 'seconds');
      for (const r of newestSamples(sqlite)) age.samples.push({ labels: { source: r.source, node: r.node }, value: Math.max(0, (nowTs - r.ts) / 1000) });
      const refused = counter('heatledger_ingest_rejected_batches', 'Ingest batches refused since the server started, by kind and reason (the error code).');
      for (const [key, n] of [...rejections].sort()) {
        const [kind, reason] = key.split('\u0000') as [string, string];
        refused.samples.push({ labels: { kind, reason }, value: n, createdS: startedS });
      }

      const spool = gauge('heatledger_collector_spool_batches', 'Batches waiting in a collector\'s spool, as its last accepted batch reported, by kind and source (node, cluster or site).');
      for (const [key, n] of [...backlogs].sort()) {
        const [kind, source] = key.split('\u0000') as [string, string];
        spool.samples.push({ labels: { kind, source }, value: n });
      }

      // The process's own.
      const usage = process.resourceUsage();
      const mem = process.memoryUsage();
      counter('process_cpu_seconds', 'Total user and system CPU time spent in seconds.', 'seconds').samples.push({ labels: {}, value: (usage.userCPUTime + usage.systemCPUTime) / 1e6 });
      gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', 'bytes').samples.push({ labels: {}, value: mem.rss });
      gauge('process_start_time_seconds', 'Start time of the process since unix epoch in seconds.', 'seconds').samples.push({ labels: {}, value: startedS });
      gauge('nodejs_heap_used_bytes', 'V8 heap in use, in bytes.', 'bytes').samples.push({ labels: {}, value: mem.heapUsed });
      return expose(families, openMetrics);
    },
    persist(force = false) {
      // A restart is stored within the timer's minute; the last values (which tell the next
      // process where a total stood) every quarter hour and at shutdown.
      if (!dirty && !force && Date.now() - storedAt < 15 * 60_000) return false;
      storedAt = Date.now();
      sqlite
        .prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value')
        .run(SETTINGS_KEY, JSON.stringify(Object.fromEntries(restarts)));
      dirty = false;
      return true;
    },
  };
}

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const escapeHelp = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
const number = (v: number) => (Number.isNaN(v) ? 'NaN' : v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : String(v));
const labelText = (labels: Labels) => {
  const entries = Object.entries(labels);
  return entries.length === 0 ? '' : `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
};

/** The families as Prometheus text 0.0.4 or OpenMetrics 1.0 (counters' samples end in `_total`). */
export function expose(families: Family[], openMetrics: boolean): string {
  const lines: string[] = [];
  for (const f of families) {
    // A family with nothing to show is left out (promtool reads the next family's help as its own otherwise).
    if (f.samples.length === 0) continue;
    // Prometheus text names the family by its sample name; OpenMetrics names a counter without `_total`.
    const familyName = f.type === 'counter' && !openMetrics ? `${f.name}_total` : f.name;
    lines.push(`# HELP ${familyName} ${escapeHelp(f.help)}`, `# TYPE ${familyName} ${f.type}`);
    if (openMetrics && f.unit && f.name.endsWith(`_${f.unit}`)) lines.push(`# UNIT ${familyName} ${f.unit}`);
    for (const s of f.samples) {
      const name = f.type === 'counter' ? `${f.name}_total` : f.name;
      lines.push(`${name}${labelText(s.labels)} ${number(s.value)}`);
      if (openMetrics && f.type === 'counter' && s.createdS !== undefined) lines.push(`${f.name}_created${labelText(s.labels)} ${number(s.createdS)}`);
    }
  }
  if (openMetrics) lines.push('# EOF');
  return `${lines.join('\n')}\n`;
}
