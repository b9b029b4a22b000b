/**
 * Energy attribution by project: an hour's GPU energy per project and of all GPUs (what
 * the hour's facility figures are shared by), and the attributed figures summed from the
 * hour, day and month rollups (server/services/attribution-rollup.service.ts).
 */
import type { Database } from 'better-sqlite3';
import { addSums, type AttributedSums } from '../rules/shares.ts';

// The figures and their sum are db/rules/shares.ts's; re-exported for the modules that import them from here.
export { addSums, type AttributedSums };

/** Measured GPU energy (kWh) per hour and project over [fromTs, toTs), of jobs whose record is known. */
export function measuredByHourAndAccount(sqlite: Database, fromTs: number, toTs: number): Array<{ hourTs: number; account: string; energyKWh: number }> {
  return sqlite
    .prepare(
      `SELECT h.hour_ts AS hourTs, j.account, SUM(h.energy_wh) / 1000.0 AS energyKWh
       FROM job_hour h JOIN jobs j ON j.cluster = h.cluster AND j.job_id = h.job_id
       WHERE h.hour_ts >= ? AND h.hour_ts < ?
       GROUP BY 1, 2`,
    )
    .all(fromTs, toTs) as Array<{ hourTs: number; account: string; energyKWh: number }>;
}

/** Energy of all GPUs (kWh) per hour over [fromTs, toTs), with a job or not. */
export function allGpusByHour(sqlite: Database, fromTs: number, toTs: number): Map<number, number> {
  const rows = sqlite
    .prepare('SELECT hour_ts AS hourTs, SUM(energy_wh) / 1000.0 AS kwh FROM gpu_hour WHERE hour_ts >= ? AND hour_ts < ? GROUP BY 1')
    .all(fromTs, toTs) as Array<{ hourTs: number; kwh: number }>;
  return new Map(rows.map((r) => [r.hourTs, r.kwh]));
}

/** Ranges [from, to) of whole hours, days and calendar months that make up a window. */
export interface AlignedParts {
  hours: Array<[number, number]>;
  days: Array<[number, number]>;
  months: Array<[number, number]>;
}

/**
 * Attributed figures per project (and the unattributed remainder) summed over the rollup
 * rows of `parts`; only those of `accounts` when given.
 */
export function attributedByAccount(sqlite: Database, parts: AlignedParts, accounts: string[] | null = null): Map<string, AttributedSums> {
  const out = new Map<string, AttributedSums>();
  const read = (table: string, tsColumn: string, ranges: Array<[number, number]>) => {
    if (ranges.length === 0) return;
    const stmt = sqlite.prepare(
      `SELECT account, TOTAL(it_kwh) AS itKWh, TOTAL(overhead_kwh) AS overheadKWh, TOTAL(reused_kwh) AS reusedKWh, TOTAL(co2_kg) AS co2Kg
       FROM ${table} WHERE ${tsColumn} >= @from AND ${tsColumn} < @to AND (@accounts IS NULL OR account IN (SELECT value FROM json_each(@accounts)))
       GROUP BY account`,
    );
    for (const [from, to] of ranges) {
      for (const r of stmt.all({ from, to, accounts: accounts && JSON.stringify(accounts) }) as Array<AttributedSums & { account: string }>) {
        const s = out.get(r.account);
        if (!s) out.set(r.account, { itKWh: r.itKWh, overheadKWh: r.overheadKWh, reusedKWh: r.reusedKWh, co2Kg: r.co2Kg });
        else addSums(s, r);
      }
    }
  };
  read('energy_project_hour', 'hour_ts', parts.hours);
  read('energy_project_day', 'day_ts', parts.days);
  read('energy_project_month', 'month_ts', parts.months);
  return out;
}
