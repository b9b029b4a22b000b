import { describe, expect, it } from 'vitest';
import { checkReportedHeat, heatFromFlowW, waterDensityKgPerM3, waterSpecificHeatJPerKgK, wattsPerLpmPerK } from './heat.ts';

// IAPWS-95 at 0.1 MPa, as tabulated in the CRC Handbook / NIST webbook.
const textbook: Array<[tempC: number, densityKgPerM3: number, cpKJPerKgK: number]> = [
  [20, 998.21, 4.1818],
  [25, 997.05, 4.1796],
  [30, 995.65, 4.1784],
  [35, 994.03, 4.1781],
  [40, 992.22, 4.1785],
  [45, 990.22, 4.1794],
  [50, 988.04, 4.1806],
  [55, 985.69, 4.1822],
  [60, 983.2, 4.1843],
];

describe('water properties', () => {
  it.each(textbook)('at %i °C match the textbook density and specific heat', (t, rho, cp) => {
    expect(waterDensityKgPerM3(t)).toBeCloseTo(rho, 1);
    expect(Math.abs(waterSpecificHeatJPerKgK(t) / (cp * 1000) - 1)).toBeLessThan(1e-4);
  });

  it('carries about 69.1–69.2 W per L/min per K at 30–40 °C', () => {
    // 994.03 kg/m³ × 4178.1 J/(kg K) / 60 000 = 69.22 W at 35 °C.
    expect(wattsPerLpmPerK(35)).toBeCloseTo((994.03 * 4178.1) / 60_000, 2);
    for (const t of [30, 35, 40]) {
      expect(wattsPerLpmPerK(t)).toBeGreaterThan(69.0);
      expect(wattsPerLpmPerK(t)).toBeLessThan(69.4);
    }
    // Warmer water is lighter: 60 °C carries measurably less per litre than 20 °C.
    expect(wattsPerLpmPerK(60)).toBeCloseTo((983.2 * 4184.3) / 60_000, 1);
    expect(wattsPerLpmPerK(20)).toBeCloseTo((998.21 * 4181.8) / 60_000, 1);
  });

  it('refuses temperatures that are not liquid water', () => {
    expect(() => waterDensityKgPerM3(-5)).toThrow(RangeError);
    expect(() => waterSpecificHeatJPerKgK(120)).toThrow(/outside 0–100/);
    expect(() => heatFromFlowW({ flowLpm: -1, supplyTempC: 30, returnTempC: 40 })).toThrow(/not a flow/);
  });
});

describe('heat from a loop', () => {
  it('gives 42 L/min × 10 K at 30/40 °C ≈ 29.07 kW (the DMTF CDU mockup)', () => {
    const expectedW = 42 * 10 * ((994.03 * 4178.1) / 60_000);
    expect(heatFromFlowW({ flowLpm: 42, supplyTempC: 30, returnTempC: 40 })).toBeCloseTo(expectedW, -1);
    // ΔT sign does not matter: a return colder than supply is a heat exchanger's other side.
    expect(heatFromFlowW({ flowLpm: 42, supplyTempC: 40, returnTempC: 30 })).toBeCloseTo(expectedW, -1);
  });

  it('flags the mockup’s 25.48 kW as more than 10 % off and accepts a consistent reading', () => {
    const loop = { flowLpm: 42, supplyTempC: 30, returnTempC: 40 };
    const bad = checkReportedHeat(25_480, loop);
    expect(bad.suspect).toBe(true);
    expect(bad.disagreement).toBeCloseTo(1 - 25_480 / 29_072, 2); // ≈ 12.4 %
    expect(checkReportedHeat(28_000, loop).suspect).toBe(false); // 3.7 % low
    expect(checkReportedHeat(32_500, loop).suspect).toBe(true); // 11.8 % high
    expect(checkReportedHeat(0, { flowLpm: 0, supplyTempC: 30, returnTempC: 40 }).suspect).toBe(false);
    expect(checkReportedHeat(100, { flowLpm: 0, supplyTempC: 30, returnTempC: 40 }).disagreement).toBe(Infinity);
  });
});
