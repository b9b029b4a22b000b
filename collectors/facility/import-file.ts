/**
 * `--from-file`: BMS and heat-meter exports as CSV (`timestamp,meter,quantity,value`,
 * also `;`-separated with decimal commas as Danish exports write them) or JSON (an array
 * of readings or a whole facility batch). Every error names the line and column.
 */
import { facilityQuantities, type FacilityQuantity, type FacilityReading } from '../shared/wire.ts';

/** Input that cannot be read; the message names the input and where in it. */
export class InputError extends Error {}

const quantityByLowerName = new Map(facilityQuantities.map((q) => [q.toLowerCase(), q] as const));

/** The wire quantity for a name (case-insensitive), or null. */
export function quantityOf(name: string): FacilityQuantity | null {
  return quantityByLowerName.get(name.trim().toLowerCase()) ?? null;
}

const zoned = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?)\s*(Z|[+-]\d{2}(?::?\d{2})?)$/i;

/**
 * An ISO 8601 time with `Z` or an offset, as ISO UTC with `Z`; null without a zone,
 * because a local time in a Danish export is ambiguous at the autumn clock change.
 */
export function toUtcIso(text: string): string | null {
  const m = zoned.exec(text.trim());
  if (!m) return null;
  let zone = m[3].toUpperCase();
  if (/^[+-]\d{2}$/.test(zone)) zone += ':00';
  else if (/^[+-]\d{4}$/.test(zone)) zone = `${zone.slice(0, 3)}:${zone.slice(3)}`;
  const time = m[2].replace(',', '.');
  const ms = Date.parse(`${m[1]}T${time.length === 5 ? `${time}:00` : time}${zone}`);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : null;
}

/**
 * A number as exports write it: `12.5`, `12,5`, `-0,25`, `1e3`. With `decimalComma` a `.`
 * between groups of three digits is a thousands separator (`1.234,5`, `82.600`), as Danish
 * spreadsheets write it; a `.` anywhere else is still a decimal point.
 */
export function parseDecimal(text: string, decimalComma: boolean): number | null {
  let s = text.trim().replace(/[\s\u00a0]/g, '');
  if (!s) return null;
  if (decimalComma) {
    const grouped = /^[+-]?\d{1,3}(\.\d{3})+(,\d*)?$/.test(s);
    if (grouped) s = s.replace(/\./g, '');
    else if (s.includes(',') && s.includes('.')) return null;
    s = s.replace(',', '.');
  }
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) return null;
  const value = Number(s);
  return Number.isFinite(value) ? value : null;
}

/** Splits one CSV line on `sep`, honouring double quotes. */
export function splitCsvLine(line: string, sep: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === sep) {
      cells.push(cell);
      cell = '';
    } else cell += ch;
  }
  cells.push(cell);
  return cells.map((c) => c.trim());
}

export interface CsvTable {
  header: string[];
  sep: string;
  /** Rows with their 1-based line numbers in the file. */
  rows: Array<{ line: number; cells: string[] }>;
}

/** Reads a CSV text whose first non-blank line is a header; `;` or `,` separated. */
export function readCsv(text: string): CsvTable {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const headerIndex = lines.findIndex((l) => l.trim() !== '');
  if (headerIndex < 0) return { header: [], sep: ',', rows: [] };
  const headerLine = lines[headerIndex];
  // Danish exports use ';' precisely because ',' is their decimal mark.
  const sep = headerLine.includes(';') ? ';' : headerLine.includes('\t') ? '\t' : ',';
  const header = splitCsvLine(headerLine, sep).map((h) => h.replace(/^"|"$/g, ''));
  const rows: CsvTable['rows'] = [];
  for (let i = headerIndex + 1; i < lines.length; i++) {
    if (lines[i].trim() === '') continue;
    rows.push({ line: i + 1, cells: splitCsvLine(lines[i], sep) });
  }
  return { header, sep, rows };
}

const columnAliases: Record<'timestamp' | 'meter' | 'quantity' | 'value', string[]> = {
  timestamp: ['timestamp', 'ts', 'time'],
  meter: ['meter'],
  quantity: ['quantity'],
  value: ['value'],
};

function parseCsvExport(text: string, name: string): FacilityReading[] {
  const table = readCsv(text);
  const lower = table.header.map((h) => h.toLowerCase());
  const col = {} as Record<keyof typeof columnAliases, number>;
  for (const [key, aliases] of Object.entries(columnAliases) as Array<[keyof typeof columnAliases, string[]]>) {
    const index = lower.findIndex((h) => aliases.includes(h));
    if (index < 0) throw new InputError(`${name} line 1: no '${key}' column in the header (expected timestamp,meter,quantity,value)`);
    col[key] = index;
  }
  // A ';' file is Danish-style only if some value has a decimal comma; otherwise its dots
  // are decimal points (21.125 °C must not become 21 125 °C).
  const decimalComma = table.sep !== ',' && table.rows.some((r) => (r.cells[col.value] ?? '').includes(','));
  const readings: FacilityReading[] = [];
  for (const { line, cells } of table.rows) {
    const at = (key: keyof typeof columnAliases) => `${name} line ${line} column ${col[key] + 1} (${table.header[col[key]]})`;
    const cell = (key: keyof typeof columnAliases) => cells[col[key]] ?? '';
    const ts = toUtcIso(cell('timestamp'));
    if (!ts) throw new InputError(`${at('timestamp')}: '${cell('timestamp')}' is not an ISO time with Z or an offset`);
    const meter = cell('meter');
    if (!meter) throw new InputError(`${at('meter')}: meter is empty`);
    const quantity = quantityOf(cell('quantity'));
    if (!quantity) throw new InputError(`${at('quantity')}: unknown quantity '${cell('quantity')}' (one of ${facilityQuantities.join(', ')})`);
    const value = parseDecimal(cell('value'), decimalComma);
    if (value === null) throw new InputError(`${at('value')}: '${cell('value')}' is not a number`);
    readings.push({ ts, meter, quantity, value });
  }
  return readings;
}

function parseJsonReading(item: unknown, where: string): FacilityReading {
  if (!item || typeof item !== 'object' || Array.isArray(item)) throw new InputError(`${where}: not an object`);
  const r = item as Record<string, unknown>;
  const rawTs = r.ts ?? r.timestamp;
  const ts = typeof rawTs === 'string' ? toUtcIso(rawTs) : null;
  if (!ts) throw new InputError(`${where}.ts: '${String(rawTs)}' is not an ISO time with Z or an offset`);
  if (typeof r.meter !== 'string' || !r.meter) throw new InputError(`${where}.meter: missing`);
  const quantity = typeof r.quantity === 'string' ? quantityOf(r.quantity) : null;
  if (!quantity) throw new InputError(`${where}.quantity: unknown quantity '${String(r.quantity)}' (one of ${facilityQuantities.join(', ')})`);
  const value = typeof r.value === 'number' ? r.value : typeof r.value === 'string' ? parseDecimal(r.value, r.value.includes(',')) : null;
  if (value === null || !Number.isFinite(value)) throw new InputError(`${where}.value: '${String(r.value)}' is not a number`);
  return { ts, meter: r.meter, quantity, value };
}

export interface ParsedExport {
  readings: FacilityReading[];
  /** The site a JSON batch named, if it was one. */
  site: string | null;
}

/**
 * An export's JSON value when it is JSON (it starts with `{` or `[` after a byte-order mark
 * and blanks), else undefined for CSV; invalid JSON is an InputError naming the file.
 */
export function jsonIfJson(text: string, name: string): unknown {
  const trimmed = text.replace(/^\uFEFF/, '').trimStart();
  if (!trimmed.startsWith('{') && !trimmed.startsWith('[')) return undefined;
  try {
    return JSON.parse(trimmed) as unknown;
  } catch (error) {
    throw new InputError(`${name} is not valid JSON: ${(error as Error).message}`);
  }
}

/** Parses a BMS / heat-meter export (CSV or JSON, told apart by content). */
export function parseFacilityExport(text: string, name: string): ParsedExport {
  const raw = jsonIfJson(text, name);
  if (raw !== undefined) {
    if (Array.isArray(raw)) return { readings: raw.map((item, i) => parseJsonReading(item, `${name}: [${i}]`)), site: null };
    const batch = raw as Record<string, unknown>;
    if (!Array.isArray(batch.readings)) throw new InputError(`${name}: JSON is neither an array of readings nor a facility batch with 'readings'`);
    return {
      readings: batch.readings.map((item, i) => parseJsonReading(item, `${name}: readings[${i}]`)),
      site: typeof batch.site === 'string' && batch.site ? batch.site : null,
    };
  }
  return { readings: parseCsvExport(text, name), site: null };
}
