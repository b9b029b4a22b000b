/**
 * The facility rollups (facility_energy_hour/_day, facility_quantity_hour/_day): what KPI,
 * cooling and EED questions over long windows read instead of the 5-minute intervals.
 *
 * Facility ingest recomputes each hour a batch touched whole from facility_interval, then
 * that hour's day from its hours. Deltas could not simply be added: which of a meter's
 * power and counter counts, and each interval's CO2, are decided per interval from all of
 * it. Every row is thus a function of facility_interval alone, so late, re-sent and
 * out-of-order readings leave the rollups equal to a rebuild.
 */
import type { Database, Statement } from 'better-sqlite3';
import { addSums, facilityEnergy, intervalSums } from '../queries/facility-energy.ts';
import { DAY_MS, HOUR_MS, INTERVAL_MS, bucketOf } from '../rules/integrate.ts';

const energyColumns = [
  'it_energy_kwh', 'facility_energy_kwh', 'reused_heat_kwh', 'cooling_energy_kwh', 'heat_removed_kwh', 'water_l', 'co2_g',
  'grid_co2_g_per_kwh_sum', 'grid_intervals', 'it_covered_s', 'facility_covered_s', 'reuse_covered_s', 'grid_covered_s',
];
const quantityColumns = 'site, quantity, meter, integral_wh, increase, value_s, covered_s';
const quantitySums = 'site, quantity, meter, SUM(integral_wh), SUM(increase), SUM(value_s), SUM(covered_s)';

/** Prepared statements that recompute hours and days of the facility rollups. */
export class FacilityRollup {
  private readonly st: Record<string, Statement>;

  constructor(private readonly sqlite: Database) {
    this.st = {
      energyHourPut: sqlite.prepare(
        `INSERT OR REPLACE INTO facility_energy_hour (hour_ts, ${energyColumns.join(', ')}) VALUES (${energyColumns.map(() => '?').join(', ')}, ?)`,
      ),
      energyHourDel: sqlite.prepare('DELETE FROM facility_energy_hour WHERE hour_ts = ?'),
      quantityHourDel: sqlite.prepare('DELETE FROM facility_quantity_hour WHERE hour_ts = ?'),
      quantityHourIns: sqlite.prepare(
        `INSERT INTO facility_quantity_hour (hour_ts, ${quantityColumns})
         SELECT ?, ${quantitySums} FROM facility_interval WHERE interval_ts >= ? AND interval_ts < ? GROUP BY site, quantity, meter`,
      ),
      energyDayDel: sqlite.prepare('DELETE FROM facility_energy_day WHERE day_ts = ?'),
      energyDayIns: sqlite.prepare(
        `INSERT INTO facility_energy_day (day_ts, ${energyColumns.join(', ')})
         SELECT ?, ${energyColumns.map((c) => `SUM(${c})`).join(', ')} FROM facility_energy_hour
         WHERE hour_ts >= ? AND hour_ts < ? HAVING COUNT(*) > 0`,
      ),
      quantityDayDel: sqlite.prepare('DELETE FROM facility_quantity_day WHERE day_ts = ?'),
      quantityDayIns: sqlite.prepare(
        `INSERT INTO facility_quantity_day (day_ts, ${quantityColumns})
         SELECT ?, ${quantitySums} FROM facility_quantity_hour WHERE hour_ts >= ? AND hour_ts < ? GROUP BY site, quantity, meter`,
      ),
    };
  }

  /** Recomputes the hours holding these 5-minute intervals, then their days. */
  refresh(intervalTs: Iterable<number>): void {
    const hours = new Set<number>();
    for (const ts of intervalTs) hours.add(bucketOf(ts, HOUR_MS));
    const days = new Set<number>();
    for (const hourTs of hours) {
      this.refreshHour(hourTs);
      days.add(bucketOf(hourTs, DAY_MS));
    }
    for (const dayTs of days) {
      this.st.energyDayDel!.run(dayTs);
      this.st.energyDayIns!.run(dayTs, dayTs, dayTs + DAY_MS);
      this.st.quantityDayDel!.run(dayTs);
      this.st.quantityDayIns!.run(dayTs, dayTs, dayTs + DAY_MS);
    }
  }

  private refreshHour(hourTs: number): void {
    const intervals = facilityEnergy(this.sqlite, null, hourTs, hourTs + HOUR_MS, INTERVAL_MS).map(intervalSums);
    const s = intervals[0];
    if (s) {
      for (const i of intervals.slice(1)) addSums(s, i);
      this.st.energyHourPut!.run(
        hourTs, s.itEnergyKWh, s.facilityEnergyKWh, s.reusedHeatKWh, s.coolingEnergyKWh, s.heatRemovedKWh, s.waterL, s.co2G,
        s.gridCo2GPerKWhSum, s.gridIntervals, s.coveredS.it, s.coveredS.facility, s.coveredS.reuse, s.coveredS.grid,
      );
    } else this.st.energyHourDel!.run(hourTs);
    this.st.quantityHourDel!.run(hourTs);
    this.st.quantityHourIns!.run(hourTs, hourTs, hourTs + HOUR_MS);
  }
}

/** Recomputes the facility rollups from facility_interval (a repair, or a database that predates them). */
export function rebuildFacilityRollups(sqlite: Database): void {
  sqlite.transaction(() => {
    for (const table of ['facility_energy_hour', 'facility_energy_day', 'facility_quantity_hour', 'facility_quantity_day']) sqlite.prepare(`DELETE FROM ${table}`).run();
    const intervals = sqlite.prepare('SELECT DISTINCT interval_ts AS ts FROM facility_interval').pluck().all() as number[];
    new FacilityRollup(sqlite).refresh(intervals);
  }).immediate();
}

/** Fills the facility rollups once where the intervals have data and the rollups none. */
export function ensureFacilityRollups(sqlite: Database): void {
  if (facilityRollupsMissing(sqlite)) rebuildFacilityRollups(sqlite);
}

/** Whether the facility rollups must be filled from the stored intervals (a database that predates them). */
export function facilityRollupsMissing(sqlite: Database): boolean {
  const has = (table: string) => sqlite.prepare(`SELECT 1 FROM ${table} LIMIT 1`).get() !== undefined;
  return has('facility_interval') && !has('facility_energy_hour');
}
