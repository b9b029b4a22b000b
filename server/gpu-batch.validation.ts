/**
 * A hand-written check of a GPU batch (collectors/shared/wire.ts `gpuBatchSchema`) for the
 * ingest hot path: zod costs about as much per sample as storing it. It returns what zod
 * would return (unknown keys dropped, defaults filled) or undefined whenever a value is not
 * plainly valid; zod then decides and words the error (server/validation.ts
 * `validateFast`). It must never accept what the schema refuses: every test here is the
 * schema's own or stricter (integers must be safe integers, keys must be present).
 */
import { ISO_UTC, activityFields, isCalendarTime } from '../collectors/shared/wire.ts';
import type { GpuBatchParsed } from './services/ingest-types.ts';

type Sample = GpuBatchParsed['samples'][number];
type Process = Sample['processes'][number];
type MigDevice = NonNullable<Sample['migDevices']>[number];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown, min: number, max: number): v is string => typeof v === 'string' && v.length >= min && v.length <= max;
const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const nonNegInt = (v: unknown, max = Number.MAX_SAFE_INTEGER): v is number => Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= max;
/** A finite number in [min, max] or null; `undefined` (a missing key) fails. */
const numOrNull = (v: unknown, min = -Infinity, max = Infinity) => v === null || (finite(v) && v >= min && v <= max);

function processes(v: unknown, max: number): Process[] | undefined {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.length > max) return undefined;
  const out: Process[] = [];
  for (const p of v as unknown[]) {
    if (!isObject(p) || !nonNegInt(p.pid) || !numOrNull(p.usedMemMiB, 0)) return undefined;
    const proc: Process = { pid: p.pid as number, usedMemMiB: p.usedMemMiB as number | null };
    if ('jobId' in p) {
      if (p.jobId !== null && !str(p.jobId, 1, 64)) return undefined;
      proc.jobId = p.jobId as string | null;
    }
    out.push(proc);
  }
  return out;
}

function migDevices(v: unknown): MigDevice[] | undefined {
  if (!Array.isArray(v) || v.length > 64) return undefined;
  const out: MigDevice[] = [];
  for (const m of v as unknown[]) {
    if (!isObject(m) || !nonNegInt(m.gpuInstanceId) || !(m.computeInstanceId === null || nonNegInt(m.computeInstanceId))) return undefined;
    if (!numOrNull(m.memUsedMiB, 0) || !numOrNull(m.memTotalMiB, 0)) return undefined;
    const procs = processes(m.processes, 1024);
    if (!procs) return undefined;
    out.push({
      gpuInstanceId: m.gpuInstanceId as number,
      computeInstanceId: m.computeInstanceId as number | null,
      memUsedMiB: m.memUsedMiB as number | null,
      memTotalMiB: m.memTotalMiB as number | null,
      processes: procs,
    });
  }
  return out;
}

function sample(s: unknown): Sample | undefined {
  if (!isObject(s)) return undefined;
  const { ts, gpuUuid, gpuIndex, model, utilPct, memUsedMiB, memTotalMiB, powerW, powerLimitW, tempC } = s;
  if (typeof ts !== 'string' || !ISO_UTC.test(ts) || !isCalendarTime(ts)) return undefined;
  if (!str(gpuUuid, 1, 128) || !nonNegInt(gpuIndex, 1023) || !(model === null || str(model, 0, 200))) return undefined;
  if (!numOrNull(utilPct, 0, 100) || !numOrNull(memUsedMiB, 0) || !numOrNull(memTotalMiB, 0)) return undefined;
  if (!numOrNull(powerW, 0, 100_000) || !numOrNull(powerLimitW, 0) || !numOrNull(tempC)) return undefined;
  const procs = processes(s.processes, 4096);
  if (!procs) return undefined;
  let jobIds: string[] = [];
  if (s.jobIds !== undefined) {
    if (!Array.isArray(s.jobIds) || s.jobIds.length > 256) return undefined;
    for (const j of s.jobIds as unknown[]) if (!str(j, 1, 64)) return undefined;
    jobIds = s.jobIds as string[];
  }
  const out: Sample = {
    ts,
    gpuUuid,
    gpuIndex,
    model: model as string | null,
    utilPct: utilPct as number | null,
    memUsedMiB: memUsedMiB as number | null,
    memTotalMiB: memTotalMiB as number | null,
    powerW: powerW as number | null,
    powerLimitW: powerLimitW as number | null,
    tempC: tempC as number | null,
    processes: procs,
    jobIds,
  };
  if (s.migDevices !== undefined) {
    const mig = migDevices(s.migDevices);
    if (!mig) return undefined;
    out.migDevices = mig;
  }
  if (s.energyJ !== undefined) {
    if (!numOrNull(s.energyJ, 0)) return undefined;
    out.energyJ = s.energyJ as number | null;
  }
  for (const f of activityFields) {
    if (s[f] === undefined) continue;
    if (!numOrNull(s[f], 0, 1)) return undefined;
    out[f] = s[f] as number | null;
  }
  return out;
}

/** The parsed batch when it is plainly valid, else undefined (then zod decides). */
export function checkGpuBatch(value: unknown): GpuBatchParsed | undefined {
  if (!isObject(value) || value.schema !== 1 || !str(value.cluster, 1, 200) || !str(value.node, 1, 200)) return undefined;
  const raw = value.samples;
  if (!Array.isArray(raw) || raw.length > 100_000) return undefined;
  const samples: Sample[] = new Array<Sample>(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const s = sample(raw[i]);
    if (!s) return undefined;
    samples[i] = s;
  }
  return { schema: 1, cluster: value.cluster, node: value.node, samples };
}
