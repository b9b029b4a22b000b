/**
 * GPU samples from NVIDIA dcgm-exporter's `/metrics` (Prometheus text exposition), for sites
 * that already run it on every node: `heatledger collect gpu --dcgm-exporter URL…`.
 *
 * One sample per GPU (by UUID) and scrape, as the nvidia-smi collector builds them:
 * - power from DCGM_FI_DEV_POWER_USAGE (W). MIG exporters repeat the whole GPU's power on
 *   every GPU-instance series, sampled at slightly different times: one value per UUID is
 *   taken (the series without GPU_I_ID, else the first), never their sum;
 * - utilisation from DCGM_FI_DEV_GPU_UTIL (%), memory from DCGM_FI_DEV_FB_USED/FB_FREE
 *   (+FB_RESERVED) (MiB), temperature from DCGM_FI_DEV_GPU_TEMP, the model from `modelName`;
 * - its energy counter from DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION (mJ since the driver
 *   loaded, sent in J): the server takes a segment's energy from the counter's difference
 *   and records that it did (its provenance), integrating power only where there is none;
 * - the profiling activities DCGM_FI_PROF_SM_ACTIVE, _PIPE_TENSOR_ACTIVE, _GR_ENGINE_ACTIVE
 *   and _DRAM_ACTIVE (ratios 0–1): the whole GPU's series, or on a MIG GPU that has only
 *   per-instance series their mean (each instance counted alike, whatever its size);
 * - the jobs on it from the `hpc_job` label (dcgm-exporter's HPC job mapping; a job may own
 *   several MIG slices of one GPU), or with `jobLabel: 'pod'` from `namespace/pod`.
 * A metric a GPU does not report (a vGPU guest has no power) is null, never zero.
 */
import type { GpuBatch, GpuSample } from '../shared/wire.ts';

export interface Series {
  name: string;
  labels: Record<string, string>;
  value: number;
  /** The line number in the scrape, for errors. */
  line: number;
}

/** A scrape that is not the text exposition format, or holds values HeatLedger cannot use. */
export class ExpositionError extends Error {}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * The samples of a Prometheus text exposition (0.0.4; OpenMetrics' `# EOF` and `_created`
 * lines pass). Refuses, naming the line: a line that is not a sample or comment, a value
 * that is not a finite number (NaN, ±Inf), and the same series twice.
 */
export function parseExposition(text: string): Series[] {
  const out: Series[] = [];
  const seen = new Set<string>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.replace(/\r$/, '');
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const at = i + 1;
    const brace = line.indexOf('{');
    const space = line.search(/\s/);
    let name: string;
    const labels: Record<string, string> = {};
    let rest: string;
    if (brace !== -1 && (space === -1 || brace < space)) {
      name = line.slice(0, brace);
      let j = brace + 1;
      for (;;) {
        while (line[j] === ' ' || line[j] === ',') j++;
        if (line[j] === '}') {
          j++;
          break;
        }
        const eq = line.indexOf('=', j);
        if (eq === -1 || line[eq + 1] !== '"') throw new ExpositionError(`line ${at}: expected label="value" in ${JSON.stringify(raw.slice(0, 120))}`);
        const label = line.slice(j, eq).trim();
        if (!LABEL.test(label)) throw new ExpositionError(`line ${at}: bad label name ${JSON.stringify(label)}`);
        let value = '';
        let k = eq + 2;
        for (; k < line.length && line[k] !== '"'; k++) {
          if (line[k] === '\\') {
            const next = line[++k];
            value += next === 'n' ? '\n' : next;
          } else value += line[k];
        }
        if (k >= line.length) throw new ExpositionError(`line ${at}: unterminated label value of ${label}`);
        labels[label] = value;
        j = k + 1;
      }
      rest = line.slice(j).trim();
    } else {
      if (space === -1) throw new ExpositionError(`line ${at}: a sample needs a value: ${JSON.stringify(raw.slice(0, 120))}`);
      name = line.slice(0, space);
      rest = line.slice(space).trim();
    }
    if (!NAME.test(name)) throw new ExpositionError(`line ${at}: bad metric name ${JSON.stringify(name.slice(0, 120))}`);
    const [valueText] = rest.split(/\s+/);
    if (valueText === undefined || valueText === '' || !/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^[-+]?(Inf|NaN)$/i.test(valueText)) {
      throw new ExpositionError(`line ${at}: ${name} has no number as its value: ${JSON.stringify(rest.slice(0, 60))}`);
    }
    const value = Number(valueText);
    if (!Number.isFinite(value)) throw new ExpositionError(`line ${at}: ${name} is ${valueText}, not a finite number`);
    const key = `${name}{${Object.keys(labels).sort().map((l) => `${l}=${labels[l]}`).join(',')}}`;
    if (seen.has(key)) throw new ExpositionError(`line ${at}: duplicate series ${key}`);
    seen.add(key);
    out.push({ name, labels, value, line: at });
  }
  return out;
}

export interface DcgmOptions {
  /** Which label names the work a GPU runs: dcgm-exporter's `hpc_job` (default), or Kubernetes `pod` (as namespace/pod). */
  jobLabel?: 'hpc_job' | 'pod';
}

/** One node's GPUs in a scrape: the node (the `Hostname` label) and a sample per GPU. */
export interface DcgmNode {
  node: string | null;
  samples: GpuSample[];
}

const uuidOf = (s: Series) => s.labels.UUID ?? s.labels.uuid ?? null;

/** GPU samples at `ts` from a dcgm-exporter scrape's series, grouped by node; throws when it holds no DCGM GPU series. */
export function dcgmNodes(series: Series[], ts: string, options: DcgmOptions = {}): DcgmNode[] {
  const byGpu = new Map<string, Series[]>();
  for (const s of series) {
    if (!s.name.startsWith('DCGM_FI_')) continue;
    const uuid = uuidOf(s);
    if (uuid === null) continue;
    let list = byGpu.get(uuid);
    if (!list) byGpu.set(uuid, (list = []));
    list.push(s);
  }
  if (byGpu.size === 0) throw new ExpositionError('no DCGM_FI_* series with a UUID label: not a dcgm-exporter scrape');
  const nodes = new Map<string | null, GpuSample[]>();
  for (const [uuid, list] of byGpu) {
    // The whole GPU's value of a metric: its series without a GPU instance, else the first.
    const whole = (metric: string): number | null => {
      const all = list.filter((s) => s.name === metric);
      return (all.find((s) => s.labels.GPU_I_ID === undefined) ?? all[0])?.value ?? null;
    };
    const first = list[0]!;
    const used = whole('DCGM_FI_DEV_FB_USED');
    const free = whole('DCGM_FI_DEV_FB_FREE');
    const reserved = whole('DCGM_FI_DEV_FB_RESERVED');
    // An activity: the whole GPU's series, else the mean of its GPU instances'.
    const activity = (metric: string): number | null => {
      const all = list.filter((s) => s.name === metric);
      const wholeGpu = all.find((s) => s.labels.GPU_I_ID === undefined);
      if (wholeGpu) return clampRatio(wholeGpu.value);
      return all.length === 0 ? null : clampRatio(all.reduce((a, s) => a + s.value, 0) / all.length);
    };
    const energyMj = whole('DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION');
    const jobs = new Set<string>();
    for (const s of list) {
      if ((options.jobLabel ?? 'hpc_job') === 'hpc_job') {
        if (s.labels.hpc_job) for (const j of s.labels.hpc_job.split(',')) if (j.trim() !== '') jobs.add(j.trim());
      } else if (s.labels.pod) jobs.add(s.labels.namespace ? `${s.labels.namespace}/${s.labels.pod}` : s.labels.pod);
    }
    const index = Number(first.labels.gpu ?? first.labels.minor_number ?? NaN);
    const sample: GpuSample = {
      ts,
      gpuUuid: uuid,
      gpuIndex: Number.isInteger(index) && index >= 0 ? index : 0,
      model: list.find((s) => s.labels.modelName)?.labels.modelName ?? null,
      utilPct: clampPct(whole('DCGM_FI_DEV_GPU_UTIL')),
      memUsedMiB: used,
      memTotalMiB: used !== null && free !== null ? used + free + (reserved ?? 0) : null,
      powerW: whole('DCGM_FI_DEV_POWER_USAGE'),
      powerLimitW: whole('DCGM_FI_DEV_POWER_MGMT_LIMIT') ?? whole('DCGM_FI_DEV_ENFORCED_POWER_LIMIT'),
      tempC: whole('DCGM_FI_DEV_GPU_TEMP'),
      processes: [],
      jobIds: [...jobs].slice(0, 256),
    };
    if (energyMj !== null && energyMj >= 0) sample.energyJ = energyMj / 1000;
    for (const [field, metric] of ACTIVITY_METRICS) {
      const v = activity(metric);
      if (v !== null) sample[field] = v;
    }
    const node = list.find((s) => s.labels.Hostname)?.labels.Hostname ?? null;
    let samples = nodes.get(node);
    if (!samples) nodes.set(node, (samples = []));
    samples.push(sample);
  }
  return [...nodes].map(([node, samples]) => ({ node, samples: samples.sort((a, b) => a.gpuIndex - b.gpuIndex || a.gpuUuid.localeCompare(b.gpuUuid)) }));
}

const clampPct = (v: number | null) => (v === null ? null : Math.min(100, Math.max(0, v)));
const clampRatio = (v: number) => Math.min(1, Math.max(0, v));

/** The sample's activity fields and the DCGM profiling metric each is read from. */
const ACTIVITY_METRICS = [
  ['smActive', 'DCGM_FI_PROF_SM_ACTIVE'],
  ['tensorActive', 'DCGM_FI_PROF_PIPE_TENSOR_ACTIVE'],
  ['grEngineActive', 'DCGM_FI_PROF_GR_ENGINE_ACTIVE'],
  ['dramActive', 'DCGM_FI_PROF_DRAM_ACTIVE'],
] as const;

/** Scrapes one exporter: its text, or an error naming it (timeout, HTTP status, not the format). */
export async function scrapeExporter(url: string, timeoutMs: number): Promise<Series[]> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'text/plain;version=0.0.4' } });
  } catch (error) {
    const e = error as Error;
    throw new Error(`dcgm-exporter ${url}: ${e.name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : e.message}`, { cause: error });
  }
  if (!res.ok) throw new Error(`dcgm-exporter ${url}: HTTP ${res.status}`);
  try {
    return parseExposition(await res.text());
  } catch (error) {
    throw new Error(`dcgm-exporter ${url}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * One round over `urls`: each exporter scraped (together), its GPUs as batches per node.
 * An exporter that fails is reported in `errors`, naming it; the others' batches still go.
 */
export async function dcgmBatches(
  urls: string[],
  { cluster, node, jobLabel, timeoutMs, now = Date.now }: { cluster: string; node: string | null; jobLabel: 'hpc_job' | 'pod'; timeoutMs: number; now?: () => number },
): Promise<{ batches: GpuBatch[]; errors: string[] }> {
  const batches: GpuBatch[] = [];
  const errors: string[] = [];
  const scraped = await Promise.allSettled(urls.map(async (url) => ({ url, series: await scrapeExporter(url, timeoutMs), ts: new Date(now()).toISOString() })));
  for (const [i, r] of scraped.entries()) {
    if (r.status === 'rejected') {
      errors.push((r.reason as Error).message);
      continue;
    }
    try {
      for (const n of dcgmNodes(r.value.series, r.value.ts, { jobLabel })) {
        batches.push({ schema: 1, cluster, node: n.node ?? node ?? new URL(urls[i]!).hostname, samples: n.samples });
      }
    } catch (error) {
      errors.push(`dcgm-exporter ${r.value.url}: ${(error as Error).message}`);
    }
  }
  return { batches, errors };
}

/** The DCGM series a GPU sample is built from (dcgmNodes reads these). */
export const DCGM_SAMPLE_METRICS = [
  'DCGM_FI_DEV_POWER_USAGE',
  'DCGM_FI_DEV_GPU_UTIL',
  'DCGM_FI_DEV_FB_USED',
  'DCGM_FI_DEV_FB_FREE',
  'DCGM_FI_DEV_FB_RESERVED',
  'DCGM_FI_DEV_GPU_TEMP',
  'DCGM_FI_DEV_POWER_MGMT_LIMIT',
  'DCGM_FI_DEV_ENFORCED_POWER_LIMIT',
  'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION',
  ...ACTIVITY_METRICS.map(([, metric]) => metric),
];

/** Points per series Prometheus answers in one query_range at most (its limit is 11,000). */
const MAX_POINTS = 10_000;

/**
 * GPU batches from a Prometheus server that holds dcgm-exporter series, over [fromMs, toMs)
 * at `stepMs` (query_range, in chunks under Prometheus' point limit): at each step, the
 * series then are one scrape, built as `dcgmNodes` builds a live one. `onChunk` gets each
 * chunk's batches and the end of the chunk (the watermark to resume from).
 */
export async function prometheusBackfill(
  promUrl: string,
  { fromMs, toMs, stepMs, cluster, jobLabel, timeoutMs, onChunk }: { fromMs: number; toMs: number; stepMs: number; cluster: string; jobLabel: 'hpc_job' | 'pod'; timeoutMs: number; onChunk: (batches: GpuBatch[], untilMs: number) => Promise<void> },
): Promise<{ samples: number }> {
  const selector = `{__name__=~"${DCGM_SAMPLE_METRICS.join('|')}"}`;
  const chunkMs = stepMs * MAX_POINTS;
  let samples = 0;
  // Instants are multiples of stepMs in [first, end): a backfill resumed from the end it
  // reached asks the very next instant.
  const first = Math.ceil(fromMs / stepMs) * stepMs;
  const end = Math.floor(toMs / stepMs) * stepMs;
  for (let a = first; a < end; a += chunkMs) {
    const b = Math.min(end, a + chunkMs);
    const params = new URLSearchParams({ query: selector, start: String(a / 1000), end: String((b - stepMs) / 1000), step: `${stepMs / 1000}s` });
    const url = new URL(`api/v1/query_range?${params}`, promUrl.endsWith('/') ? promUrl : `${promUrl}/`);
    let body: { status: string; error?: string; data?: { resultType: string; result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> } };
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      body = (await res.json()) as typeof body;
    } catch (error) {
      throw new Error(`prometheus ${promUrl}: ${(error as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : (error as Error).message}`, { cause: error });
    }
    if (body.status !== 'success' || body.data?.resultType !== 'matrix') throw new Error(`prometheus ${promUrl}: query_range failed: ${body.error ?? body.status}`);
    // Series at each instant, as a scrape would hold them.
    const atInstant = new Map<number, Series[]>();
    for (const r of body.data.result) {
      const { __name__: name, ...labels } = r.metric;
      if (!name) continue;
      for (const [t, v] of r.values) {
        const value = Number(v);
        if (!Number.isFinite(value)) continue;
        const ms = Math.round(t * 1000);
        let list = atInstant.get(ms);
        if (!list) atInstant.set(ms, (list = []));
        list.push({ name, labels, value, line: 0 });
      }
    }
    const byNode = new Map<string, GpuSample[]>();
    for (const [ms, series] of [...atInstant].sort((x, y) => x[0] - y[0])) {
      for (const n of dcgmNodes(series, new Date(ms).toISOString(), { jobLabel })) {
        const node = n.node ?? series.find((s) => s.labels.instance)?.labels.instance?.split(':')[0] ?? 'unknown';
        let list = byNode.get(node);
        if (!list) byNode.set(node, (list = []));
        list.push(...n.samples);
      }
    }
    const batches: GpuBatch[] = [];
    for (const [node, list] of byNode) {
      // The wire's batch limit (100,000 samples).
      for (let i = 0; i < list.length; i += 50_000) batches.push({ schema: 1, cluster, node, samples: list.slice(i, i + 50_000) });
      samples += list.length;
    }
    await onChunk(batches, b);
  }
  return { samples };
}
