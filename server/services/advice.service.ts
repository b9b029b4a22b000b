/**
 * Carbon-aware start advice (issue 19 point 1): for a job of `gpus` GPUs for `hours` on a
 * partition, submitted at each candidate time over the stored CO2 forecast, the CO2 it would
 * emit: its expected energy (the project's recent measured energy per GPU-hour on that
 * partition, else the partition's) times the forecast intensity over the hours it would run,
 * starting after the wait estimated now (waits.service.ts estimateWait). Without a forecast
 * covering the job, it says so and advises nothing: a forecast is never invented.
 */
import type { Database } from 'better-sqlite3';
import { usageByKey } from '../../db/queries/usage.ts';
import { DAY_MS } from '../../db/rules/time.ts';
import type { Co2ForecastBatch } from '../../collectors/shared/wire.ts';
import { estimateWait } from './waits.service.ts';

const SLOT_MS = 5 * 60_000;
/** Candidate submission times are the quarters of an hour after now. */
const STEP_MS = 15 * 60_000;
/** Recent energy per GPU-hour is read over this many days, from at least MIN_BASIS_GPU_HOURS. */
const BASIS_DAYS = 30;
const MIN_BASIS_GPU_HOURS = 1;

/** Stores a forecast batch; a value for a 5-minute slot already stored is replaced. */
export function storeForecast(sqlite: Database, batch: Co2ForecastBatch, nowTs: number): { accepted: number; duplicates: number } {
  const put = sqlite.prepare(
    `INSERT INTO co2_forecast (price_area, ts, g_per_kwh, received_ts) VALUES (?, ?, ?, ?)
     ON CONFLICT (price_area, ts) DO UPDATE SET g_per_kwh = excluded.g_per_kwh, received_ts = excluded.received_ts WHERE g_per_kwh <> excluded.g_per_kwh`,
  );
  return sqlite.transaction(() => {
    let accepted = 0;
    for (const v of batch.values) accepted += put.run(batch.priceArea, Math.floor(Date.parse(v.ts) / SLOT_MS) * SLOT_MS, v.gPerKWh, nowTs).changes;
    return { accepted, duplicates: batch.values.length - accepted };
  }).immediate();
}

export interface Candidate {
  submitAt: string;
  startAt: string;
  meanGPerKWh: number;
  co2Kg: number;
}

export interface StartAdvice {
  partition: string;
  gpus: number;
  hours: number;
  priceArea: string;
  expectedWaitS: number;
  waitBasis: string;
  energy: { kWh: number; kWhPerGpuHour: number; basis: string } | null;
  forecast: { from: string; to: string } | null;
  /** Why there is no advice (no forecast, no energy basis, a forecast too short), else null. */
  unavailable: string | null;
  candidates: Candidate[];
  now: Candidate | null;
  best: Candidate | null;
  savingKg: number | null;
  savingPct: number | null;
}

/** The job's expected energy per GPU-hour: the project's on the partition over the last 30 days, else the partition's. */
function energyBasis(sqlite: Database, partition: string, project: string | null, nowTs: number): { kWhPerGpuHour: number; basis: string } | null {
  const window = { fromTs: nowTs - BASIS_DAYS * DAY_MS, toTs: nowTs, nowTs, groupBy: 'partition' as const, users: null };
  const tries: Array<[string[] | null, string]> = project ? [[[project], `project ${project}`], [null, 'all projects']] : [[null, 'all projects']];
  for (const [accounts, who] of tries) {
    const row = usageByKey(sqlite, { ...window, accounts }).find((r) => r.key === partition);
    if (row && row.measuredGpuHours >= MIN_BASIS_GPU_HOURS && row.energyKWh > 0) {
      const kWhPerGpuHour = row.energyKWh / row.measuredGpuHours;
      return { kWhPerGpuHour, basis: `${who} on ${partition}, last ${BASIS_DAYS} days: ${kWhPerGpuHour.toFixed(3)} kWh per GPU-hour measured over ${row.measuredGpuHours.toFixed(1)} GPU-hours` };
    }
  }
  return null;
}

/**
 * Mean forecast intensity over [a, b) with each value holding for its 5 minutes; null where a
 * slot has none. The slot under way when the forecast was fetched may be missing (the API
 * answers from the next 5 minutes on): the forecast's first value stands for it.
 */
function meanIntensity(slots: Map<number, number>, firstTs: number, a: number, b: number): number | null {
  let sum = 0;
  for (let t = Math.floor(a / SLOT_MS) * SLOT_MS; t < b; t += SLOT_MS) {
    const v = slots.get(t) ?? (t === firstTs - SLOT_MS ? slots.get(firstTs) : undefined);
    if (v === undefined) return null;
    sum += v * (Math.min(b, t + SLOT_MS) - Math.max(a, t));
  }
  return sum / (b - a);
}

export function startAdvice(sqlite: Database, q: { partition: string; gpus: number; hours: number; project: string | null; priceArea: string }, nowTs: number): StartAdvice {
  const wait = estimateWait(sqlite, q.partition, q.gpus, nowTs);
  const expectedWaitS = wait.estimateS ?? 0;
  const basis = energyBasis(sqlite, q.partition, q.project, nowTs);
  const rows = sqlite
    .prepare('SELECT ts, g_per_kwh AS g FROM co2_forecast WHERE price_area = ? AND ts >= ? ORDER BY ts')
    .all(q.priceArea, Math.floor(nowTs / SLOT_MS) * SLOT_MS) as Array<{ ts: number; g: number }>;
  const base: StartAdvice = {
    partition: q.partition,
    gpus: q.gpus,
    hours: q.hours,
    priceArea: q.priceArea,
    expectedWaitS,
    waitBasis: wait.basis,
    energy: basis ? { kWh: basis.kWhPerGpuHour * q.gpus * q.hours, ...basis } : null,
    forecast: rows.length > 0 ? { from: new Date(rows[0]!.ts).toISOString(), to: new Date(rows.at(-1)!.ts + SLOT_MS).toISOString() } : null,
    unavailable: null,
    candidates: [],
    now: null,
    best: null,
    savingKg: null,
    savingPct: null,
  };
  if (rows.length === 0) return { ...base, unavailable: `no CO2 forecast for ${q.priceArea} from now on is stored (heatledger collect facility --co2-forecast-api)` };
  if (!basis) return { ...base, unavailable: `no measured energy on ${q.partition} in the last ${BASIS_DAYS} days to base the job's energy on` };
  const slots = new Map(rows.map((r) => [r.ts, r.g]));
  const durationMs = q.hours * 3_600_000;
  const kWh = basis.kWhPerGpuHour * q.gpus * q.hours;
  const candidates: Candidate[] = [];
  // Now, then each quarter of an hour on the clock (10:15, 10:30, …).
  for (let submit = nowTs; ; submit = Math.floor(submit / STEP_MS) * STEP_MS + STEP_MS) {
    const start = submit + expectedWaitS * 1000;
    const mean = meanIntensity(slots, rows[0]!.ts, start, start + durationMs);
    if (mean === null) break;
    candidates.push({ submitAt: new Date(submit).toISOString(), startAt: new Date(start).toISOString(), meanGPerKWh: mean, co2Kg: (kWh * mean) / 1000 });
  }
  if (candidates.length === 0) return { ...base, unavailable: `the forecast ends at ${base.forecast!.to}, before a job submitted now would end (expected wait ${(expectedWaitS / 3600).toFixed(1)} h, then ${q.hours} h of run)` };
  const now = candidates[0]!;
  const best = candidates.reduce((b, c) => (c.co2Kg < b.co2Kg - 1e-12 ? c : b));
  return { ...base, candidates, now, best, savingKg: now.co2Kg - best.co2Kg, savingPct: now.co2Kg > 0 ? (100 * (now.co2Kg - best.co2Kg)) / now.co2Kg : null };
}
