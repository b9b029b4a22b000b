/**
 * Grid carbon intensity from Energinet's Energi Data Service dataset `CO2Emis`
 * (5-minute g/kWh per price area; Sønderborg is DK1), from a saved JSON/CSV export or
 * the public API, as `gridCo2GPerKWh` readings of meter `grid-<area>`.
 */
import type { FacilityReading } from '../shared/wire.ts';
import { InputError, jsonIfJson, parseDecimal, readCsv, toUtcIso } from './import-file.ts';

export const ENERGI_DATA_SERVICE_URL = 'https://api.energidataservice.dk';

/** The meter name carbon readings of a price area go to. */
export function gridMeter(priceArea: string): string {
  return `grid-${priceArea.toLowerCase()}`;
}

const naiveTime = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(:\d{2}(\.\d+)?)?$/;

/** `Minutes5UTC` ("2026-11-28T10:05:00", no zone, UTC by its name) as ISO UTC with Z. */
function minutes5Utc(text: string): string | null {
  const m = naiveTime.exec(text.trim());
  if (m) {
    const ms = Date.parse(`${m[1]}T${m[2]}${m[3] ?? ':00'}Z`);
    return Number.isFinite(ms) ? new Date(ms).toISOString() : null;
  }
  return toUtcIso(text); // tolerate an explicit Z or offset
}

interface Co2Record {
  Minutes5UTC?: unknown;
  PriceArea?: unknown;
  CO2Emission?: unknown;
}

function toReading(record: Co2Record, priceArea: string, where: string): FacilityReading | null {
  if (typeof record.PriceArea === 'string' && record.PriceArea.toUpperCase() !== priceArea.toUpperCase()) return null;
  const ts = typeof record.Minutes5UTC === 'string' ? minutes5Utc(record.Minutes5UTC) : null;
  if (!ts) throw new InputError(`${where} Minutes5UTC: '${String(record.Minutes5UTC)}' is not a time`);
  // Energinet publishes null for intervals not yet computed; unknown is not zero.
  if (record.CO2Emission === null || record.CO2Emission === '') return null;
  const value =
    typeof record.CO2Emission === 'number'
      ? record.CO2Emission
      : typeof record.CO2Emission === 'string'
        ? parseDecimal(record.CO2Emission, record.CO2Emission.includes(','))
        : null;
  if (value === null || !Number.isFinite(value)) throw new InputError(`${where} CO2Emission: '${String(record.CO2Emission)}' is not a number`);
  return { ts, meter: gridMeter(priceArea), quantity: 'gridCo2GPerKWh', value };
}

function sorted(readings: FacilityReading[]): FacilityReading[] {
  return readings.sort((a, b) => a.ts.localeCompare(b.ts));
}

/** Parses a `CO2Emis` export (API JSON `{records: [...]}` or the CSV download) for one price area. */
export function parseCo2Emis(text: string, name: string, priceArea = 'DK1', dataset: 'CO2Emis' | 'CO2EmisProg' = 'CO2Emis'): FacilityReading[] {
  const raw = jsonIfJson(text, name);
  if (raw !== undefined) {
    const records = Array.isArray(raw) ? raw : (raw as { records?: unknown }).records;
    if (!Array.isArray(records)) throw new InputError(`${name}: no 'records' array (expected an Energi Data Service ${dataset} answer)`);
    const readings: FacilityReading[] = [];
    records.forEach((record: unknown, i) => {
      if (!record || typeof record !== 'object') throw new InputError(`${name}: records[${i}] is not an object`);
      const reading = toReading(record as Co2Record, priceArea, `${name}: records[${i}]`);
      if (reading) readings.push(reading);
    });
    return sorted(readings);
  }
  const table = readCsv(text);
  const col = (key: string) => table.header.findIndex((h) => h.toLowerCase() === key.toLowerCase());
  const tsCol = col('Minutes5UTC');
  const valueCol = col('CO2Emission');
  const areaCol = col('PriceArea');
  if (tsCol < 0 || valueCol < 0) throw new InputError(`${name} line 1: no Minutes5UTC and CO2Emission columns in the header`);
  // As for BMS exports: a ';' file's dots are thousands separators only if it uses decimal commas.
  const decimalComma = table.sep !== ',' && table.rows.some((r) => (r.cells[valueCol] ?? '').includes(','));
  const readings: FacilityReading[] = [];
  for (const { line, cells } of table.rows) {
    const rawValue = cells[valueCol] ?? '';
    const record: Co2Record = {
      Minutes5UTC: cells[tsCol] ?? '',
      PriceArea: areaCol >= 0 ? cells[areaCol] : undefined,
      CO2Emission: rawValue === '' ? null : (parseDecimal(rawValue, decimalComma) ?? rawValue),
    };
    const reading = toReading(record, priceArea, `${name} line ${line} column ${valueCol + 1}`);
    if (reading) readings.push(reading);
  }
  return sorted(readings);
}

export interface Co2ApiOptions {
  /** Window start and end in UTC (ISO); the API reads them as minutes. */
  start: Date;
  end: Date;
  priceArea?: string;
  baseUrl?: string;
  timeoutMs?: number;
  fetchImpl?: typeof fetch;
}

function apiMinute(date: Date): string {
  return date.toISOString().slice(0, 16); // YYYY-MM-DDTHH:MM
}

/** The request URL for `CO2Emis` (or the forecast `CO2EmisProg`) over a UTC window for one price area. */
export function co2ApiUrl(options: Co2ApiOptions, dataset: 'CO2Emis' | 'CO2EmisProg' = 'CO2Emis'): URL {
  const url = new URL(`/dataset/${dataset}`, options.baseUrl ?? ENERGI_DATA_SERVICE_URL);
  url.searchParams.set('start', apiMinute(options.start));
  url.searchParams.set('end', apiMinute(options.end));
  url.searchParams.set('filter', JSON.stringify({ PriceArea: [options.priceArea ?? 'DK1'] }));
  // Without timezone=UTC the API reads start/end as Danish local time; limit=0 lifts
  // the default page of 100 records (a day of one area is 288).
  url.searchParams.set('timezone', 'UTC');
  url.searchParams.set('sort', 'Minutes5UTC asc');
  url.searchParams.set('limit', '0');
  return url;
}

/** The body of a dataset's answer, and the address asked (for errors); an unreachable API or an HTTP error is an InputError. */
async function fetchDataset(options: Co2ApiOptions, dataset: 'CO2Emis' | 'CO2EmisProg'): Promise<{ text: string; where: string }> {
  const url = co2ApiUrl(options, dataset);
  const doFetch = options.fetchImpl ?? fetch;
  let response: Response;
  try {
    response = await doFetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(options.timeoutMs ?? 30_000) });
  } catch (error) {
    throw new InputError(`GET ${url.href}: ${(error as Error).message}`);
  }
  const text = await response.text().catch(() => '');
  if (!response.ok) throw new InputError(`GET ${url.href}: HTTP ${response.status} ${text.slice(0, 160)}`);
  return { text, where: `GET ${url.href}` };
}

/** Fetches `CO2Emis` records from Energi Data Service and returns the readings. */
export async function fetchCo2Emis(options: Co2ApiOptions): Promise<FacilityReading[]> {
  const { text, where } = await fetchDataset(options, 'CO2Emis');
  return parseCo2Emis(text, where, options.priceArea ?? 'DK1');
}

/** One 5-minute value of a CO2 forecast. */
export interface ForecastValue {
  ts: string;
  gPerKWh: number;
}

/**
 * Parses a `CO2EmisProg` (forecast) export, JSON or CSV as `CO2Emis`, for one price area.
 * A file holding no value of that area is refused, naming the areas it holds: a forecast
 * for another area would advise wrongly.
 */
export function parseCo2EmisProg(text: string, name: string, priceArea = 'DK1'): ForecastValue[] {
  const values = parseCo2Emis(text, name, priceArea, 'CO2EmisProg').map((r) => ({ ts: r.ts, gPerKWh: r.value }));
  if (values.length === 0) {
    const areas = [...new Set([...text.matchAll(/"?PriceArea"?\s*[:;,]\s*"?(DK\d)/g)].map((m) => m[1]))];
    throw new InputError(`${name}: no CO2EmisProg value for price area ${priceArea}${areas.length > 0 ? ` (it holds ${areas.join(', ')})` : ''}`);
  }
  return values;
}

/** Fetches the `CO2EmisProg` forecast from now on (the API publishes about a day ahead). */
export async function fetchCo2EmisProg(options: Co2ApiOptions): Promise<ForecastValue[]> {
  const { text, where } = await fetchDataset(options, 'CO2EmisProg');
  return parseCo2EmisProg(text, where, options.priceArea ?? 'DK1');
}
