/**
 * The facility rollups (facility_energy_hour/_day, facility_quantity_hour/_day) against the
 * 5-minute intervals they summarise: readings that arrive shuffled, twice and late leave
 * the rollups equal to a rebuild from facility_interval, and the KPI, cooling and EED
 * answers read from them equal the answers computed from the intervals alone, as the
 * code before the rollups did (kept below as the reference), for aligned and odd windows.
 */
import type { Database } from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { FacilityReading } from '../../collectors/shared/wire.ts';
import { seeded } from '../../collectors/demo/random.ts';
import { coolingLoopBuckets, levelMean, loopQuantities, reuseMeters } from '../../db/queries/cooling-loop.ts';
import { facilityEnergy, type FacilityBucket } from '../../db/queries/facility-energy.ts';
import { testConfig } from '../../server/config.ts';
import { rebuildFacilityRollups } from '../../db/rollups/facility.ts';
import { H, T0, iso, makeApp } from '../support/factories.ts';

type App = ReturnType<typeof makeApp>;
const MIN = 60_000;
const DAY = 24 * H;
const INTERVAL = 5 * MIN;

// 50 hours over three UTC days, starting off any hour or 5-minute boundary.
const START = T0 - 26 * H + 7 * MIN + 13_000;
const END = START + 50 * H;

/** Readings of one series about every 2.5 minutes (jittered) over [fromMs, toMs], skipping `gaps`. */
function readings(random: () => number, site: string, meter: string, quantity: FacilityReading['quantity'], value: (ts: number) => number, fromMs = START, toMs = END, gaps: Array<[number, number]> = []) {
  const out: Array<{ site: string; reading: FacilityReading }> = [];
  for (let ts = fromMs; ts <= toMs; ts += 90_000 + Math.floor(random() * 120_000)) {
    if (gaps.some(([a, b]) => ts >= a && ts < b)) continue;
    out.push({ site, reading: { ts: iso(ts), meter, quantity, value: value(ts) } });
  }
  return out;
}

/** A facility with every rule in play: counters beside powers, gaps, a counter reset, two sites sharing a meter name, loops and a heat-only meter. */
function facility(seed: number) {
  const random = seeded(seed);
  const wave = (base: number, amp: number) => (ts: number) => base + amp * Math.sin(ts / 5_000_000) + amp * 0.2 * random();
  let water = 1000;
  let siteCounter = 50_000;
  return [
    ...readings(random, 'bitten', 'it-pdu', 'itPowerW', wave(100_000, 20_000), START, END, [[START + 7 * H, START + 7 * H + 20 * MIN]]),
    // The same meter's counter for part of the time: where it reports, it wins.
    ...readings(random, 'bitten', 'it-pdu', 'itEnergyKWh', (ts) => 2000 + (ts - START) / 36_000, START + 10 * H, START + 30 * H),
    ...readings(random, 'bitten', 'site-main', 'facilityPowerW', wave(90_000, 15_000)),
    ...readings(random, 'bitten', 'site-aux', 'facilityEnergyKWh', (ts) => (ts > START + 20 * H && ts < START + 20 * H + 200_000 ? 3 : (siteCounter += 1 + random()))),
    ...readings(random, 'bitten', 'dh', 'heatReusedKWh', (ts) => 100 + (ts - START) / 60_000),
    ...readings(random, 'bitten', 'dh', 'heatReusedW', wave(60_000, 5_000), START + 5 * H, START + 15 * H),
    ...readings(random, 'bitten', 'dh', 'supplyTempC', wave(65, 3)),
    ...readings(random, 'bitten', 'chillers', 'coolingPowerW', wave(8_000, 2_000)),
    ...readings(random, 'bitten', 'loop-1', 'flowLpm', wave(400, 50)),
    ...readings(random, 'bitten', 'loop-1', 'supplyTempC', wave(30, 2)),
    ...readings(random, 'bitten', 'loop-1', 'returnTempC', wave(40, 2)),
    ...readings(random, 'bitten', 'loop-1', 'heatRemovedW', wave(250_000, 30_000)),
    ...readings(random, 'bitten', 'heat-only', 'heatRemovedW', wave(10_000, 1_000)),
    ...readings(random, 'bitten', 'grid', 'gridCo2GPerKWh', wave(150, 80), START, END, [[START + 30 * H, START + 31 * H]]),
    ...readings(random, 'bitten', 'water', 'waterL', () => (water += 20 * random())),
    ...readings(random, 'annex', 'it-pdu', 'itPowerW', wave(30_000, 5_000), START + 12 * H, START + 18 * H),
  ];
}

async function send(t: App, site: string, batch: FacilityReading[]) {
  const res = await t.client.api.v1.ingest.facility.$post({ json: { schema: 1, site, readings: batch } }, t.auth(t.tokens.ingest));
  expect(res.status).toBe(202);
}

/** Sends the readings per site in batches of `size`, in the order given. */
async function sendAll(t: App, all: Array<{ site: string; reading: FacilityReading }>, size: number) {
  for (let i = 0; i < all.length; i += size) {
    const chunk = all.slice(i, i + size);
    for (const site of new Set(chunk.map((r) => r.site))) await send(t, site, chunk.filter((r) => r.site === site).map((r) => r.reading));
  }
}

function shuffle<T>(list: T[], random: () => number): T[] {
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const rollupTables = ['facility_energy_hour', 'facility_energy_day', 'facility_quantity_hour', 'facility_quantity_day'];
const dump = (sqlite: Database) => Object.fromEntries(rollupTables.map((table) => [table, sqlite.prepare(`SELECT * FROM ${table} ORDER BY 1, 2, 3, 4`).all()]));

/** Equal numbers within a relative 1e-9 (summation order differs), nulls and everything else exactly. */
function expectClose(actual: unknown, expected: unknown, path = '$'): void {
  if (typeof expected === 'number' && typeof actual === 'number') {
    if (Math.abs(actual - expected) > 1e-9 * Math.max(1, Math.abs(expected))) throw new Error(`${path}: ${actual} ≠ ${expected}`);
  } else if (Array.isArray(expected) && Array.isArray(actual)) {
    expect(actual.length, `${path}.length`).toBe(expected.length);
    expected.forEach((e, i) => expectClose(actual[i], e, `${path}[${i}]`));
  } else if (expected && typeof expected === 'object' && actual && typeof actual === 'object') {
    expect(Object.keys(actual).sort(), `${path} keys`).toEqual(Object.keys(expected).sort());
    for (const [k, e] of Object.entries(expected)) expectClose((actual as Record<string, unknown>)[k], e, `${path}.${k}`);
  } else expect(actual, path).toEqual(expected);
}

// The reference: KPIs as computed before the rollups, from the 5-minute intervals alone.
const addNullable = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : a + b);
const ratio = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? null : a / b);

function sumBuckets(buckets: FacilityBucket[]) {
  const t = { itEnergyKWh: null as number | null, facilityEnergyKWh: null as number | null, reusedHeatKWh: null as number | null, coolingEnergyKWh: null as number | null, heatRemovedKWh: null as number | null, waterL: null as number | null, co2Kg: null as number | null };
  for (const b of buckets) {
    t.itEnergyKWh = addNullable(t.itEnergyKWh, b.itEnergyKWh);
    t.facilityEnergyKWh = addNullable(t.facilityEnergyKWh, b.facilityEnergyKWh);
    t.reusedHeatKWh = addNullable(t.reusedHeatKWh, b.reusedHeatKWh);
    t.coolingEnergyKWh = addNullable(t.coolingEnergyKWh, b.coolingEnergyKWh);
    t.heatRemovedKWh = addNullable(t.heatRemovedKWh, b.heatRemovedKWh);
    t.waterL = addNullable(t.waterL, b.waterL);
    if (b.facilityEnergyKWh !== null && b.gridCo2GPerKWh !== null) t.co2Kg = addNullable(t.co2Kg, (b.facilityEnergyKWh * b.gridCo2GPerKWh) / 1000);
  }
  return t;
}

function kpis(t: ReturnType<typeof sumBuckets>, displacedG: number) {
  return {
    ...t,
    pue: ratio(t.facilityEnergyKWh, t.itEnergyKWh),
    erf: ratio(t.reusedHeatKWh, t.facilityEnergyKWh),
    ere: t.facilityEnergyKWh === null || t.reusedHeatKWh === null ? null : ratio(t.facilityEnergyKWh - t.reusedHeatKWh, t.itEnergyKWh),
    wue: ratio(t.waterL, t.itEnergyKWh),
    cue: ratio(t.co2Kg, t.itEnergyKWh),
    co2AvoidedKg: t.reusedHeatKWh === null ? null : (t.reusedHeatKWh * displacedG) / 1000,
  };
}

function referenceKpis(sqlite: Database, fromTs: number, toTs: number, ms: number, displacedG: number) {
  const fine = facilityEnergy(sqlite, null, fromTs, toTs, INTERVAL);
  const spanS = (toTs - fromTs) / 1000;
  const covered = (f: keyof FacilityBucket['coverage']) => fine.reduce((s, b) => s + b.coverage[f] * ((Math.min(b.ts + INTERVAL, toTs) - Math.max(b.ts, fromTs)) / 1000), 0) / spanS;
  const groups = new Map<number, FacilityBucket[]>();
  for (const b of fine) {
    const k = Math.floor(b.ts / ms) * ms;
    groups.set(k, [...(groups.get(k) ?? []), b]);
  }
  const series = [...groups].map(([ts, list]) => {
    const withGrid = list.filter((b) => b.gridCo2GPerKWh !== null);
    const grid = withGrid.length ? withGrid.reduce((s, b) => s + b.gridCo2GPerKWh!, 0) / withGrid.length : null;
    const merged = { ...list[0]!, ...sumBuckets(list), gridCo2GPerKWh: grid };
    return { ts: iso(ts), ...kpis(sumBuckets([merged]), displacedG), gridCo2GPerKWh: grid };
  });
  return { ...kpis(sumBuckets(fine), displacedG), coverage: { it: covered('it'), facility: covered('facility'), reuse: covered('reuse'), grid: covered('grid') }, series };
}

/** Cooling sums per meter and bucket as they were read from facility_interval alone. */
function referenceLoops(sqlite: Database, fromTs: number, toTs: number, ms: number | null) {
  const rows = sqlite
    .prepare(
      `SELECT interval_ts AS intervalTs, meter, quantity, SUM(integral_wh) AS integralWh, SUM(value_s) AS "valueS", SUM(covered_s) AS coveredS
       FROM facility_interval
       WHERE interval_ts >= ? AND interval_ts < ? AND quantity IN (SELECT value FROM json_each(?))
         AND meter IN (SELECT DISTINCT meter FROM facility_interval WHERE interval_ts >= ? AND interval_ts < ? AND quantity IN ('flowLpm', 'supplyTempC', 'returnTempC'))
       GROUP BY 1, 2, 3`,
    )
    .all(fromTs, toTs, JSON.stringify(loopQuantities), fromTs, toTs) as Array<{ intervalTs: number; meter: string; quantity: string; integralWh: number; valueS: number; coveredS: number }>;
  const out = new Map<string, { meter: string; ts: number; sums: Record<string, { integralWh: number; valueS: number; coveredS: number }> }>();
  for (const r of rows) {
    const ts = ms === null ? fromTs : Math.floor(r.intervalTs / ms) * ms;
    const b = out.get(`${r.meter}|${ts}`) ?? { meter: r.meter, ts, sums: {} };
    const acc = b.sums[r.quantity] ?? { integralWh: 0, valueS: 0, coveredS: 0 };
    b.sums[r.quantity] = { integralWh: acc.integralWh + r.integralWh, valueS: acc.valueS + r.valueS, coveredS: acc.coveredS + r.coveredS };
    out.set(`${r.meter}|${ts}`, b);
  }
  return [...out.values()].sort((a, b) => (a.meter < b.meter ? -1 : a.meter > b.meter ? 1 : a.ts - b.ts));
}

// Aligned and odd windows: whole days, an hour's edge, inside one hour, inside one interval, across all three days.
const dayStart = Math.floor(START / DAY) * DAY;
const windows: Array<[string, number, number]> = [
  ['all', START - H, END + H],
  ['the whole middle day', dayStart + DAY, dayStart + 2 * DAY],
  ['odd, across days', START + 3 * H + 17 * MIN + 4_321, END - 2 * H - 1_234],
  ['odd, within a day', dayStart + DAY + 2 * H + 7 * MIN + 30_000, dayStart + DAY + 9 * H + 2 * MIN + 30_000],
  ['within an hour', dayStart + DAY + 5 * H + 5 * MIN, dayStart + DAY + 5 * H + 42 * MIN + 1_000],
  ['within an interval', dayStart + DAY + 5 * H + 61_000, dayStart + DAY + 5 * H + 3 * MIN],
  ['hour-aligned across midnight', dayStart + DAY + 20 * H, dayStart + 2 * DAY + 6 * H],
];

describe('facility rollups', () => {
  it('stay equal to a rebuild and to in-order arrival when readings come shuffled, twice and late', async () => {
    for (const seed of [1, 2]) {
      const all = facility(seed);
      const inOrder = makeApp({ now: END + H });
      await sendAll(inOrder, [...all].sort((a, b) => Date.parse(a.reading.ts) - Date.parse(b.reading.ts)), 2_000);

      const random = seeded(seed + 100);
      const shuffled = makeApp({ now: END + H });
      const late = all.filter(() => random() < 0.1);
      const early = all.filter((r) => !late.includes(r));
      // Shuffled batches, a fifth of them re-sent, then the held-back readings.
      await sendAll(shuffled, [...shuffle(early, random), ...early.filter(() => random() < 0.2)], 700);
      await sendAll(shuffled, shuffle(late, random), 300);

      const incremental = dump(shuffled.db.$client);
      expect(incremental.facility_energy_hour!.length).toBeGreaterThan(48);
      expect(incremental.facility_energy_day).toHaveLength(3);
      rebuildFacilityRollups(shuffled.db.$client);
      expect(dump(shuffled.db.$client)).toEqual(incremental);
      expectClose(incremental, dump(inOrder.db.$client));
    }
  });

  it('answer KPIs over hour and day buckets and odd windows as the 5-minute intervals do', async () => {
    const t = makeApp({ now: END + H });
    await sendAll(t, shuffle(facility(3), seeded(7)), 1_000);
    const sqlite = t.db.$client;
    expect(referenceKpis(sqlite, START - H, END + H, DAY, 0).series).toHaveLength(3);
    const displacedG = testConfig().displacedHeatGPerKWh;
    for (const [name, fromTs, toTs] of windows) {
      for (const bucket of ['5m', 'hour', 'day'] as const) {
        const res = await t.client.api.v1.energy.kpis.$get({ query: { from: iso(fromTs), to: iso(toTs), bucket } }, t.auth(t.tokens.read));
        const { coverage, series, itEnergyKWh, facilityEnergyKWh, reusedHeatKWh, coolingEnergyKWh, heatRemovedKWh, waterL, co2Kg, pue, erf, ere, wue, cue, co2AvoidedKg } = await res.json();
        const ms = { '5m': INTERVAL, hour: H, day: DAY }[bucket];
        const expected = referenceKpis(sqlite, fromTs, toTs, ms, displacedG);
        expectClose(
          { itEnergyKWh, facilityEnergyKWh, reusedHeatKWh, coolingEnergyKWh, heatRemovedKWh, waterL, co2Kg, pue, erf, ere, wue, cue, co2AvoidedKg, coverage, series },
          expected,
          `${name}, ${bucket}`,
        );
      }
    }
  });

  it('answer cooling loops, the delivered heat’s mean temperature and its meters as the 5-minute intervals do', async () => {
    const t = makeApp({ now: END + H });
    await sendAll(t, shuffle(facility(4), seeded(8)), 1_000);
    const sqlite = t.db.$client;
    for (const [name, fromTs, toTs] of windows) {
      for (const ms of [INTERVAL, H, DAY, null]) {
        expectClose(coolingLoopBuckets(sqlite, fromTs, toTs, ms), referenceLoops(sqlite, fromTs, toTs, ms), `${name}, ${ms}`);
      }
      const meters = sqlite
        .prepare("SELECT DISTINCT meter FROM facility_interval WHERE interval_ts >= ? AND interval_ts < ? AND quantity IN ('heatReusedW', 'heatReusedKWh') ORDER BY meter")
        .pluck()
        .all(fromTs, toTs) as string[];
      expect(reuseMeters(sqlite, fromTs, toTs), name).toEqual(meters);
      const level = sqlite
        .prepare(`SELECT SUM(value_s) AS "valueS", SUM(covered_s) AS coveredS FROM facility_interval
                  WHERE interval_ts >= ? AND interval_ts < ? AND quantity = 'supplyTempC' AND meter IN ('dh', 'loop-1')`)
        .get(fromTs, toTs) as { valueS: number | null; coveredS: number | null };
      expectClose(levelMean(sqlite, 'supplyTempC', ['dh', 'loop-1'], fromTs, toTs), level.coveredS ? level.valueS! / level.coveredS : null, name);
    }
    // The heat-only meter is no loop; both loops' answers came from the rollups.
    expect(new Set(coolingLoopBuckets(sqlite, START, END, DAY).map((b) => b.meter))).toEqual(new Set(['dh', 'loop-1']));
  });
});
