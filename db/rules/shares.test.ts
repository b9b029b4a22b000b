import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { hourShares, shareOf, shareOut, shareSql, sharedItKWh, type HourShares } from './shares.ts';

const REST = '(rest)';

describe('an hour shared out by hand', () => {
  // Meters: IT 100 kWh, facility 130 kWh, 40 kWh of heat reused, 13 kg CO2. GPUs: project a
  // 30 kWh, b 50 kWh, all GPUs (some with no known job) 85 kWh: the meters' 100 kWh stand.
  const meters = { itKWh: 100, facilityKWh: 130, reusedKWh: 40, co2Kg: 13 };
  const itKWh = sharedItKWh(meters.itKWh, 30 + 50, 85);
  const hour = hourShares(meters, itKWh);

  it('shares by the IT meter and takes the overhead as facility less IT', () => {
    expect(itKWh).toBe(100);
    expect(hour).toEqual({ itKWh: 100, overheadKWh: 30, reusedKWh: 40, co2Kg: 13 });
  });

  it('gives a project with 30 % of the IT energy 30 % of the overhead, reused heat and CO2', () => {
    const a = shareOf(hour, 30);
    expect(a.itKWh).toBe(30);
    expect(a.overheadKWh).toBeCloseTo(9, 12);
    expect(a.reusedKWh).toBeCloseTo(12, 12);
    expect(a.co2Kg).toBeCloseTo(3.9, 12);
  });

  it('leaves the hour less both projects’ shares as the remainder row', () => {
    const rows = shareOut({ byHour: new Map([[0, hour]]), byAccount: [{ hourTs: 0, account: 'a', energyKWh: 30 }, { hourTs: 0, account: 'b', energyKWh: 50 }] }, REST);
    const by = Object.fromEntries(rows.map((r) => [r.account, r]));
    expect(Object.keys(by).sort()).toEqual([REST, 'a', 'b'].sort());
    expect(by.b!.overheadKWh).toBeCloseTo(15, 12);
    expect(by.b!.reusedKWh).toBeCloseTo(20, 12);
    expect(by.b!.co2Kg).toBeCloseTo(6.5, 12);
    expect(by[REST]!.itKWh).toBeCloseTo(20, 12);
    expect(by[REST]!.overheadKWh).toBeCloseTo(6, 12);
    expect(by[REST]!.reusedKWh).toBeCloseTo(8, 12);
    expect(by[REST]!.co2Kg).toBeCloseTo(2.6, 12);
  });
});

describe('the IT energy an hour is shared by', () => {
  it('is the GPUs’ own energy where the IT meter reads less (75 kWh of GPUs, a meter reading 60)', () => {
    const itKWh = sharedItKWh(60, 75, 70);
    expect(itKWh).toBe(75);
    // Facility 90 kWh: 15 kWh of overhead, all of it the one project's.
    const hour = hourShares({ itKWh: 60, facilityKWh: 90, reusedKWh: 0, co2Kg: 0 }, itKWh);
    expect(hour.overheadKWh).toBe(15);
    const rows = shareOut({ byHour: new Map([[0, hour]]), byAccount: [{ hourTs: 0, account: 'a', energyKWh: 75 }] }, REST);
    expect(rows.find((r) => r.account === 'a')!.overheadKWh).toBe(15);
    expect(rows.find((r) => r.account === REST)).toEqual({ hourTs: 0, account: REST, itKWh: 0, overheadKWh: 0, reusedKWh: 0, co2Kg: 0 });
  });

  it('is the GPUs’ energy with no IT meter; no facility meter means no overhead, and an overhead never goes below zero', () => {
    expect(sharedItKWh(null, 12)).toBe(12);
    expect(hourShares({ itKWh: null, facilityKWh: null, reusedKWh: 5, co2Kg: 1 }, 12)).toEqual({ itKWh: 12, overheadKWh: 0, reusedKWh: 5, co2Kg: 1 });
    expect(hourShares({ itKWh: 50, facilityKWh: 40, reusedKWh: 0, co2Kg: 0 }, 50).overheadKWh).toBe(0);
    expect(hourShares(undefined, 7)).toEqual({ itKWh: 7, overheadKWh: 0, reusedKWh: 0, co2Kg: 0 });
  });

  it('shares nothing of an hour with no IT energy but the energy itself', () => {
    expect(shareOf({ itKWh: 0, overheadKWh: 3, reusedKWh: 2, co2Kg: 1 }, 4)).toEqual({ itKWh: 4, overheadKWh: 0, reusedKWh: 0, co2Kg: 0 });
  });
});

const kwh = fc.double({ min: 0, max: 1e4, noNaN: true });
const hourArb = fc.record({ itKWh: kwh, overheadKWh: kwh, reusedKWh: kwh, co2Kg: kwh });

describe('shareOut', () => {
  it('gives rows that sum per hour to the hour’s figures, every column', () => {
    const projects = fc.array(fc.record({ hour: fc.integer({ min: 0, max: 3 }), account: fc.constantFrom('a', 'b', 'c'), part: fc.double({ min: 0, max: 1, noNaN: true }) }), { maxLength: 12 });
    fc.assert(
      fc.property(fc.array(hourArb, { minLength: 4, maxLength: 4 }), projects, (hours, parts) => {
        const byHour = new Map(hours.map((h, i) => [i * 3_600_000, h] as [number, HourShares]));
        const byAccount = parts.map((p) => ({ hourTs: p.hour * 3_600_000, account: p.account, energyKWh: (hours[p.hour]!.itKWh * p.part) / 12 }));
        const rows = shareOut({ byHour, byAccount }, REST);
        expect(rows.filter((r) => r.account === REST)).toHaveLength(4);
        for (const [hourTs, h] of byHour) {
          const mine = rows.filter((r) => r.hourTs === hourTs);
          for (const k of ['itKWh', 'overheadKWh', 'reusedKWh', 'co2Kg'] as const) {
            expect(mine.reduce((s, r) => s + r[k], 0)).toBeCloseTo(h[k], 6);
          }
        }
      }),
    );
  });
});

describe('shareSql, the SQL copy of shareOf', () => {
  const db = new Database(':memory:');
  afterAll(() => db.close());
  db.exec('CREATE TABLE energy_hour (hour_ts INTEGER, it_kwh REAL, overhead_kwh REAL, reused_kwh REAL, co2_kg REAL); CREATE TABLE x (hour_ts INTEGER, energy_kwh REAL)');
  const sum = db.prepare(`SELECT ${shareSql('x.energy_kwh', 'e')} FROM x LEFT JOIN energy_hour e ON e.hour_ts = x.hour_ts`);

  it('gives a key’s share of a stored hour as shareOf does, to the last bit, and nothing of an hour without figures', () => {
    // A key's energy is part of the hour's IT energy (the IT energy is never below the GPUs' own).
    fc.assert(
      fc.property(hourArb, fc.double({ min: 0, max: 1, noNaN: true }), fc.boolean(), (h, part, stored) => {
        const e = h.itKWh * part;
        db.exec('DELETE FROM energy_hour; DELETE FROM x');
        if (stored) db.prepare('INSERT INTO energy_hour VALUES (0, ?, ?, ?, ?)').run(h.itKWh, h.overheadKWh, h.reusedKWh, h.co2Kg);
        db.prepare('INSERT INTO x VALUES (0, ?)').run(e);
        const s = shareOf(stored ? h : { itKWh: 0, overheadKWh: 0, reusedKWh: 0, co2Kg: 0 }, e);
        expect(sum.get()).toEqual({ overheadKWh: s.overheadKWh, reusedKWh: s.reusedKWh, co2Kg: s.co2Kg });
      }),
      { numRuns: 300 },
    );
  });
});
