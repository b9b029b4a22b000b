/**
 * Turns the object that node-nvidia-smi returns for `nvidia-smi -q -x` (xml2js with
 * `explicitArray: false, trim: true`) into GPU samples of the wire format
 * (CONTRACTS.md §2.1). Pure: no I/O, no clock; the caller supplies the timestamp.
 *
 * The documents drift across driver generations (see ../shared/fixtures/SOURCES.md):
 * power tags were renamed twice, limits moved, values carry units, and unknown values
 * are spelled several ways. Everything here degrades to `null` rather than throwing,
 * because one odd field must not cost the whole node's sample; only a document that is
 * not an nvidia-smi log at all is an error.
 */
import type { GpuProcess, GpuSample, MigDevice } from '../shared/wire.ts';

/** The document is not an `nvidia-smi -q -x` log (garbage, empty, another root). */
export class NvidiaSmiFormatError extends Error {}

/** xml2js output: a string for a text element, an object for an element with children. */
type XmlNode = string | { [key: string]: XmlNode | XmlNode[] | undefined } | undefined;
type XmlObject = { [key: string]: XmlNode | XmlNode[] | undefined };

// Limits of the wire schema (collectors/shared/wire.ts): a value outside them would make
// the server refuse the whole batch, so it becomes null (or is capped) here instead.
const MAX_GPU_INDEX = 1023;
const MAX_POWER_W = 100_000;
const MAX_PROCESSES = 4096;
const MAX_MIG_PROCESSES = 1024;
const MAX_MIG_DEVICES = 64;
const MAX_JOB_IDS = 256;

/** Values nvidia-smi prints where it has no number ("[N/A]" is the CSV spelling). */
const UNKNOWN = new Set(['', 'n/a', 'not found', 'requested functionality has been deprecated', 'unknown error', 'not supported', 'none']);

function isObject(node: unknown): node is XmlObject {
  return typeof node === 'object' && node !== null && !Array.isArray(node);
}

/** A child element; own properties only, so a tag named `__proto__` is just a tag. */
function child(node: unknown, key: string): XmlNode | XmlNode[] | undefined {
  return isObject(node) && Object.hasOwn(node, key) ? node[key] : undefined;
}

/** Children that may be one element (object) or several (array) under explicitArray: false. */
function children(node: unknown, key: string): XmlNode[] {
  const value = child(node, key);
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** The text of an element: a string, or `_` when the element also has attributes. */
function text(node: unknown): string | null {
  const value = Array.isArray(node) ? node[0] : node;
  if (typeof value === 'string') return value.trim();
  if (typeof value === 'number') return String(value);
  if (isObject(value) && typeof value._ === 'string') return value._.trim();
  return null;
}

function path(node: unknown, ...keys: string[]): XmlNode | XmlNode[] | undefined {
  let current: unknown = node;
  for (const key of keys) {
    current = child(Array.isArray(current) ? current[0] : current, key);
    if (current === undefined) return undefined;
  }
  return current as XmlNode | XmlNode[];
}

const UNIT_FACTORS: Record<string, Record<string, number>> = {
  MiB: { '': 1, kib: 1 / 1024, mib: 1, gib: 1024, b: 1 / (1024 * 1024) },
  W: { '': 1, mw: 1 / 1000, w: 1, kw: 1000 },
  C: { '': 1, c: 1 },
  '%': { '': 1, '%': 1 },
  none: { '': 1 },
};

/**
 * Parses "66 C", "91 %", "12311 MiB", "170.16 W", " 37 C ", "[N/A]" into a number in the
 * wanted unit; anything unknown, unparsable or in an unexpected unit is null.
 */
export function parseQuantity(raw: string | null | undefined, unit: keyof typeof UNIT_FACTORS): number | null {
  if (raw === null || raw === undefined) return null;
  const trimmed = raw.trim().replace(/^\[(.*)\]$/, '$1').trim();
  if (UNKNOWN.has(trimmed.toLowerCase())) return null;
  const match = /^([-+]?\d+(?:\.\d+)?)\s*([A-Za-z%]*)$/.exec(trimmed);
  if (!match) return null;
  const factor = UNIT_FACTORS[unit][match[2].toLowerCase()];
  if (factor === undefined) return null;
  const value = Number(match[1]) * factor;
  return Number.isFinite(value) ? value : null;
}

function quantityAt(node: unknown, unit: keyof typeof UNIT_FACTORS, ...keys: string[]): number | null {
  return parseQuantity(text(path(node, ...keys)), unit);
}

function nonNegative(value: number | null): number | null {
  return value !== null && value >= 0 ? value : null;
}

function nonNegativeInt(raw: string | null): number | null {
  if (raw === null || !/^\d+$/.test(raw)) return null;
  const value = Number(raw);
  return Number.isSafeInteger(value) ? value : null;
}

function knownText(node: unknown): string | null {
  const value = text(node);
  return value === null || UNKNOWN.has(value.toLowerCase()) ? null : value;
}

/** The board's power section: module and memory readings are other quantities. */
function powerSections(gpu: unknown): unknown[] {
  return [child(gpu, 'gpu_power_readings'), child(gpu, 'power_readings')].filter((s) => s !== undefined);
}

function firstQuantity(sections: unknown[], keys: string[], unit: keyof typeof UNIT_FACTORS): number | null {
  // Key order wins over section order: a document has one of the two sections anyway.
  for (const key of keys) {
    for (const section of sections) {
      const value = quantityAt(section, unit, key);
      if (value !== null) return value;
    }
  }
  return null;
}

function powerOf(gpu: unknown): { powerW: number | null; powerLimitW: number | null } {
  const sections = powerSections(gpu);
  const powerW = nonNegative(firstQuantity(sections, ['power_draw', 'average_power_draw', 'instant_power_draw'], 'W'));
  const powerLimitW = nonNegative(firstQuantity(sections, ['enforced_power_limit', 'power_limit', 'current_power_limit'], 'W'));
  return { powerW: powerW !== null && powerW <= MAX_POWER_W ? powerW : null, powerLimitW };
}

interface ParsedProcess extends GpuProcess {
  gpuInstanceId: number | null;
  computeInstanceId: number | null;
}

function processesOf(gpu: unknown): ParsedProcess[] {
  const out: ParsedProcess[] = [];
  for (const processes of children(gpu, 'processes')) {
    for (const info of children(processes, 'process_info')) {
      const pid = nonNegativeInt(text(child(info, 'pid')));
      if (pid === null) continue;
      out.push({
        pid,
        usedMemMiB: nonNegative(quantityAt(info, 'MiB', 'used_memory')),
        gpuInstanceId: nonNegativeInt(text(child(info, 'gpu_instance_id'))),
        computeInstanceId: nonNegativeInt(text(child(info, 'compute_instance_id'))),
      });
      if (out.length >= MAX_PROCESSES) return out;
    }
  }
  return out;
}

function wireProcess(p: ParsedProcess): GpuProcess {
  return { pid: p.pid, usedMemMiB: p.usedMemMiB };
}

function isMigEnabled(gpu: unknown): boolean {
  const mode = knownText(path(gpu, 'mig_mode', 'current_mig'));
  return mode?.toLowerCase() === 'enabled' || migDeviceNodes(gpu).length > 0;
}

function migDeviceNodes(gpu: unknown): XmlNode[] {
  // `<mig_devices>None</mig_devices>` parses to the string "None": no devices.
  return children(gpu, 'mig_devices').flatMap((devices) => children(devices, 'mig_device'));
}

function migDevicesOf(gpu: unknown, processes: ParsedProcess[]): MigDevice[] {
  const devices: MigDevice[] = [];
  for (const node of migDeviceNodes(gpu).slice(0, MAX_MIG_DEVICES)) {
    const gpuInstanceId = nonNegativeInt(text(child(node, 'gpu_instance_id')));
    if (gpuInstanceId === null) continue;
    const computeInstanceId = nonNegativeInt(text(child(node, 'compute_instance_id')));
    // A process names its slice by GPU instance; the compute instance narrows it only
    // where both sides state one (several compute instances can share a GPU instance).
    const mine = processes.filter(
      (p) =>
        p.gpuInstanceId === gpuInstanceId &&
        (p.computeInstanceId === null || computeInstanceId === null || p.computeInstanceId === computeInstanceId),
    );
    devices.push({
      gpuInstanceId,
      computeInstanceId,
      memUsedMiB: nonNegative(quantityAt(node, 'MiB', 'fb_memory_usage', 'used')),
      memTotalMiB: nonNegative(quantityAt(node, 'MiB', 'fb_memory_usage', 'total')),
      processes: mine.slice(0, MAX_MIG_PROCESSES).map(wireProcess),
    });
  }
  return devices;
}

function uuidOf(gpu: unknown, position: number): string {
  const uuid = knownText(child(gpu, 'uuid'));
  if (uuid) return uuid.slice(0, 128);
  // The server keys samples by GPU; a stable stand-in beats dropping the GPU's energy.
  const busId = knownText(path(gpu, '$', 'id')) ?? knownText(path(gpu, 'pci', 'pci_bus_id'));
  return busId ? `PCI-${busId}`.slice(0, 128) : `GPU-INDEX-${position}`;
}

/** The `<gpu>` elements of a document, however many there are (never `attached_gpus`). */
export function gpuElements(doc: unknown): unknown[] {
  const log = child(doc, 'nvidia_smi_log');
  if (!isObject(log)) {
    throw new NvidiaSmiFormatError('the document has no <nvidia_smi_log> element');
  }
  return children(log, 'gpu').filter(isObject);
}

/** Converts a parsed `nvidia-smi -q -x` document into one sample per `<gpu>` element. */
export function parseNvidiaSmi(doc: unknown, ts: string): GpuSample[] {
  return gpuElements(doc).map((gpu, position) => {
    const minor = nonNegativeInt(text(child(gpu, 'minor_number')));
    const processes = processesOf(gpu);
    const { powerW, powerLimitW } = powerOf(gpu);
    const utilPct = quantityAt(gpu, '%', 'utilization', 'gpu_util');
    const model = knownText(child(gpu, 'product_name'));
    const sample: GpuSample = {
      ts,
      gpuUuid: uuidOf(gpu, position),
      gpuIndex: minor !== null && minor <= MAX_GPU_INDEX ? minor : Math.min(position, MAX_GPU_INDEX),
      model: model === null ? null : model.slice(0, 200),
      utilPct: utilPct !== null && utilPct >= 0 && utilPct <= 100 ? utilPct : null,
      memUsedMiB: nonNegative(quantityAt(gpu, 'MiB', 'fb_memory_usage', 'used')),
      memTotalMiB: nonNegative(quantityAt(gpu, 'MiB', 'fb_memory_usage', 'total')),
      powerW,
      powerLimitW,
      tempC: quantityAt(gpu, 'C', 'temperature', 'gpu_temp'),
      processes: processes.map(wireProcess),
      jobIds: [],
    };
    if (isMigEnabled(gpu)) sample.migDevices = migDevicesOf(gpu, processes);
    return sample;
  });
}

/** Upper bound on `jobIds` per sample in the wire schema. */
export const MAX_SAMPLE_JOB_IDS = MAX_JOB_IDS;
