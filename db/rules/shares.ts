/**
 * Attribution shares (DESIGN.md, accounting rules: Attribution): each hour, the facility
 * overhead (E_DC − E_IT), the reused heat and the CO2 of the facility energy are shared to
 * projects (and jobs) in proportion to their GPU energy's part of the hour's IT energy, and
 * what no project's energy carries stays as the hour's remainder, so every column of an
 * hour's rows still sums to its meters. Pure functions, no database: the attribution
 * rollups (db/rollups/attribution.ts) store these shares per hour, the energy service
 * shares the hours not stored, and `shareSql` is the same rule for summing stored hours in SQL.
 */

/** Attributed figures of one key (a project, a job or the remainder), or an hour's figures to share out. */
export interface AttributedSums {
  itKWh: number;
  overheadKWh: number;
  reusedKWh: number;
  co2Kg: number;
}

/** An hour's figures to share out: the IT energy they are shared by, the overhead, reused heat and CO2. */
export type HourShares = AttributedSums;

/** An hour's facility meters (or part of an hour's): null where a meter read nothing. */
export interface MeteredHour {
  itKWh: number | null;
  facilityKWh: number | null;
  reusedKWh: number;
  co2Kg: number;
}

/** Adds `b` into `a`. */
export function addSums(a: AttributedSums, b: AttributedSums): void {
  a.itKWh += b.itKWh;
  a.overheadKWh += b.overheadKWh;
  a.reusedKWh += b.reusedKWh;
  a.co2Kg += b.co2Kg;
}

/**
 * The IT energy an hour's figures are shared by: the IT meters' energy, but never less
 * than the GPUs' own (the known jobs' energy, all GPUs' energy): meters that read less
 * than the GPUs alone (a missing meter, a gap) cannot be right.
 */
export function sharedItKWh(meteredItKWh: number | null, ...gpuKWh: number[]): number {
  return Math.max(meteredItKWh ?? 0, ...gpuKWh);
}

/**
 * An hour's (or part's) figures to share out, from its meters and the IT energy it is
 * shared by: the overhead is the facility energy above that IT energy (none without a
 * facility meter, never below zero).
 */
export function hourShares(meters: MeteredHour | undefined, itKWh: number): HourShares {
  return {
    itKWh,
    overheadKWh: meters?.facilityKWh != null ? Math.max(0, meters.facilityKWh - itKWh) : 0,
    reusedKWh: meters?.reusedKWh ?? 0,
    co2Kg: meters?.co2Kg ?? 0,
  };
}

/** The share of an hour's figures that `energyKWh` of its IT energy carries (none of an hour with no IT energy). */
export function shareOf(h: HourShares, energyKWh: number): AttributedSums {
  const share = h.itKWh > 0 ? energyKWh / h.itKWh : 0;
  return { itKWh: energyKWh, overheadKWh: h.overheadKWh * share, reusedKWh: h.reusedKWh * share, co2Kg: h.co2Kg * share };
}

/** One key's part of an hour. */
export type HourRow = AttributedSums & { hourTs: number; account: string };

/**
 * Each project's share of each hour (its GPU energy in `byAccount`), and per hour of
 * `byHour` the remainder under `remainder`: the hour's figures less every project's share.
 */
export function shareOut(
  a: { byHour: ReadonlyMap<number, HourShares>; byAccount: ReadonlyArray<{ hourTs: number; account: string; energyKWh: number }> },
  remainder: string,
): HourRow[] {
  const out: HourRow[] = [];
  const given = new Map<number, AttributedSums>();
  for (const m of a.byAccount) {
    const s = shareOf(a.byHour.get(m.hourTs)!, m.energyKWh);
    out.push({ hourTs: m.hourTs, account: m.account, ...s });
    const g = given.get(m.hourTs);
    if (g) addSums(g, s);
    else given.set(m.hourTs, { ...s });
  }
  for (const [hourTs, h] of a.byHour) {
    const g = given.get(hourTs);
    out.push({
      hourTs,
      account: remainder,
      itKWh: h.itKWh - (g?.itKWh ?? 0),
      overheadKWh: h.overheadKWh - (g?.overheadKWh ?? 0),
      reusedKWh: h.reusedKWh - (g?.reusedKWh ?? 0),
      co2Kg: h.co2Kg - (g?.co2Kg ?? 0),
    });
  }
  return out;
}

/**
 * `shareOf` as SQL, for summing a key's shares of stored hours: `kwh` is its energy in
 * the hour, `hour` the alias of the hour's stored figures (energy_hour, LEFT JOINed: an
 * hour without figures shares nothing out). Gives the overheadKWh, reusedKWh and co2Kg
 * columns, each summed with TOTAL.
 */
export function shareSql(kwh: string, hour: string): string {
  const part = (column: string) => `TOTAL(CASE WHEN ${hour}.it_kwh > 0 THEN ${hour}.${column} * (${kwh} / ${hour}.it_kwh) ELSE 0 END)`;
  return `${part('overhead_kwh')} AS overheadKWh,\n     ${part('reused_kwh')} AS reusedKWh,\n     ${part('co2_kg')} AS co2Kg`;
}
