/**
 * The cooling-loop endpoint: time-weighted means of flow and temperatures, heat removed,
 * and the check of reported heat against flow × ΔT, with values worked out by hand.
 */
import { describe, expect, it } from 'vitest';
import type { FacilityReading } from '../../collectors/shared/wire.ts';
import { H, T0, iso, makeApp } from '../support/factories.ts';

type App = ReturnType<typeof makeApp>;

// Water at 35 °C (IAPWS-95, 0.1 MPa): ρ = 994.03 kg/m³, c_p = 4178.1 J/(kg·K), so one L/min
// across one kelvin carries 994.03 × 4178.1 / 60 000 = 69.217 W.
const W_PER_LPM_K_35C = (994.03 * 4178.1) / 60_000;

/** Readings of one meter every minute over [fromMs, toMs]. */
function meter(name: string, quantity: FacilityReading['quantity'], value: number | ((t: number) => number), fromMs = T0, toMs = T0 + H): FacilityReading[] {
  const out: FacilityReading[] = [];
  for (let t = fromMs; t <= toMs; t += 60_000) out.push({ ts: iso(t), meter: name, quantity, value: typeof value === 'number' ? value : value(t) });
  return out;
}

/** A loop with constant flow, temperatures and reported heat over the hour from T0. */
function loop(name: string, flowLpm: number, supplyTempC: number, returnTempC: number, heat: { quantity: 'heatRemovedW' | 'heatReusedW'; w: number } | null) {
  return [
    ...meter(name, 'flowLpm', flowLpm),
    ...meter(name, 'supplyTempC', supplyTempC),
    ...meter(name, 'returnTempC', returnTempC),
    ...(heat ? meter(name, heat.quantity, heat.w) : []),
  ];
}

async function send(t: App, readings: FacilityReading[]) {
  const res = await t.client.api.v1.ingest.facility.$post({ json: { schema: 1, site: 'bitten', readings } }, t.auth(t.tokens.ingest));
  expect(res.status).toBe(202);
}

const hour = (bucket: '5m' | 'hour' | 'day' = 'hour') => ({ query: { from: iso(T0), to: iso(T0 + H), bucket } });

describe('cooling loops', () => {
  it('flags the DMTF mockup’s loop: 42 L/min × 10 K ≈ 29.07 kW against 25.48 kW reported', async () => {
    const t = makeApp();
    await send(t, loop('cdu-1', 42, 30, 40, { quantity: 'heatRemovedW', w: 25_480 }));
    const res = await t.client.api.v1.energy.cooling.$get(hour(), t.auth(t.tokens.read));
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.meters.map((m) => m.meter)).toEqual(['cdu-1']);
    const m = body.meters[0]!;
    expect(m.flowLpm).toBeCloseTo(42, 9);
    expect(m.supplyTempC).toBeCloseTo(30, 9);
    expect(m.returnTempC).toBeCloseTo(40, 9);
    // 25.48 kW for one hour.
    expect(m.heatRemovedKWh).toBeCloseTo(25.48, 9);
    expect(m.heatRemovedKW).toBeCloseTo(25.48, 9);
    const computedKW = (42 * 10 * W_PER_LPM_K_35C) / 1000; // 29.071 kW
    expect(m.computedHeatKW!).toBeGreaterThan(computedKW * 0.999);
    expect(m.computedHeatKW!).toBeLessThan(computedKW * 1.001);
    expect(m.heatCheck!.quantity).toBe('heatRemovedW');
    expect(m.heatCheck!.reportedKW).toBeCloseTo(25.48, 9);
    // (25.48 − 29.071) / 29.071 = −12.35 %.
    expect(m.heatCheck!.disagreementPct!).toBeCloseTo(-12.35, 1);
    expect(m.heatCheck!.flagged).toBe(true);
    expect(body.flaggedMeters).toEqual(['cdu-1']);
    expect(m.coverage).toEqual({ flow: 1, supplyTemp: 1, returnTemp: 1, heat: 1 });
    expect(m.series).toHaveLength(1);
    expect(m.series[0]!.ts).toBe(iso(T0));
  });

  it('does not flag consistent loops, flags an over-reporting one, and checks delivered heat where no removed heat is reported', async () => {
    const t = makeApp();
    await send(t, [
      // 42 × 10 × 69.217 = 29.07 kW against 28.5 kW: −1.96 %.
      ...loop('cdu-ok', 42, 30, 40, { quantity: 'heatRemovedW', w: 28_500 }),
      // 60 L/min × 14 K (28 → 42 °C, mean 35 °C) = 58.14 kW against 55 kW: −5.4 %.
      ...loop('cdu-wide', 60, 28, 42, { quantity: 'heatRemovedW', w: 55_000 }),
      // 29.07 kW against 33 kW: +13.5 %.
      ...loop('cdu-high', 42, 30, 40, { quantity: 'heatRemovedW', w: 33_000 }),
      // The district-heating meter reports delivered heat: 100 L/min × 10 K = 69.22 kW against 70 kW: +1.1 %.
      ...loop('dh', 100, 40, 30, { quantity: 'heatReusedW', w: 70_000 }),
      // A loop without a heat reading: computed heat, nothing to check.
      ...loop('cdu-bare', 42, 30, 40, null),
      // A heat meter without flow or temperatures is not a loop.
      ...meter('heat-only', 'heatRemovedW', 10_000),
    ]);
    const body = await (await t.client.api.v1.energy.cooling.$get(hour(), t.auth(t.tokens.read))).json();
    const by = Object.fromEntries(body.meters.map((m) => [m.meter, m]));
    expect(Object.keys(by).sort()).toEqual(['cdu-bare', 'cdu-high', 'cdu-ok', 'cdu-wide', 'dh']);
    const pct = (reportedKW: number, computedKW: number) => ((reportedKW - computedKW) / computedKW) * 100;
    expect(by['cdu-ok']!.heatCheck!.disagreementPct!).toBeCloseTo(pct(28.5, (420 * W_PER_LPM_K_35C) / 1000), 1);
    expect(by['cdu-ok']!.heatCheck!.flagged).toBe(false);
    expect(by['cdu-wide']!.computedHeatKW!).toBeCloseTo((60 * 14 * W_PER_LPM_K_35C) / 1000, 1);
    expect(by['cdu-wide']!.heatCheck!.disagreementPct!).toBeCloseTo(pct(55, (840 * W_PER_LPM_K_35C) / 1000), 1);
    expect(by['cdu-wide']!.heatCheck!.flagged).toBe(false);
    expect(by['cdu-high']!.heatCheck!.disagreementPct!).toBeCloseTo(13.5, 0);
    expect(by['cdu-high']!.heatCheck!.flagged).toBe(true);
    expect(by.dh!.heatCheck!.quantity).toBe('heatReusedW');
    expect(by.dh!.heatReusedKWh).toBeCloseTo(70, 9);
    expect(by.dh!.heatRemovedKWh).toBeNull();
    expect(by.dh!.heatCheck!.disagreementPct!).toBeCloseTo(pct(70, (1000 * W_PER_LPM_K_35C) / 1000), 1);
    expect(by.dh!.heatCheck!.flagged).toBe(false);
    expect(by['cdu-bare']!.heatCheck).toBeNull();
    expect(by['cdu-bare']!.heatRemovedKWh).toBeNull();
    expect(by['cdu-bare']!.computedHeatKW!).toBeCloseTo((420 * W_PER_LPM_K_35C) / 1000, 1);
    expect(body.flaggedMeters).toEqual(['cdu-high']);
  });

  it('weights means by time, per 5-minute bucket and over the window, and shows partial coverage', async () => {
    const t = makeApp();
    // Flow 40 L/min at minutes 0-30 and 50 L/min at minutes 31-60: the 30→31 minute ramps
    // between them (mean 45), so the hour's mean is (30·40 + 1·45 + 29·50) / 60 = 44.9167.
    // Heat is reported only for the first half hour.
    await send(t, [
      ...meter('cdu-1', 'flowLpm', (ts) => (ts - T0 <= 30 * 60_000 ? 40 : 50)),
      ...meter('cdu-1', 'supplyTempC', 30),
      ...meter('cdu-1', 'returnTempC', 40),
      ...meter('cdu-1', 'heatRemovedW', 27_000, T0, T0 + H / 2),
    ]);
    const body = await (await t.client.api.v1.energy.cooling.$get(hour('5m'), t.auth(t.tokens.read))).json();
    const m = body.meters[0]!;
    expect(m.flowLpm).toBeCloseTo((30 * 40 + 45 + 29 * 50) / 60, 9);
    expect(m.heatRemovedKWh).toBeCloseTo(13.5, 9); // 27 kW for half an hour
    expect(m.heatRemovedKW).toBeCloseTo(27, 9); // the mean over the covered half hour
    expect(m.coverage.heat).toBeCloseTo(0.5, 9);
    expect(m.coverage.flow).toBeCloseTo(1, 9);
    expect(m.series).toHaveLength(12);
    expect(m.series[0]!.flowLpm).toBeCloseTo(40, 9);
    // Minutes 30-35: one minute at a mean of 45, four at 50 → 49.
    expect(m.series[6]!.ts).toBe(iso(T0 + 30 * 60_000));
    expect(m.series[6]!.flowLpm).toBeCloseTo(49, 9);
    expect(m.series[6]!.heatRemovedKWh).toBeNull();
    // The first bucket: 40 L/min × 10 K = 27.69 kW against 27 kW, −2.5 %; the window mean
    // compares 27 kW with 44.92 × 10 × 69.217 W = 31.09 kW, −13.2 %: flagged.
    expect(m.series[0]!.heatCheck!.flagged).toBe(false);
    expect(m.series[0]!.heatCheck!.disagreementPct!).toBeCloseTo(((27 - (400 * W_PER_LPM_K_35C) / 1000) / ((400 * W_PER_LPM_K_35C) / 1000)) * 100, 1);
    expect(m.heatCheck!.flagged).toBe(true);
    const sum = m.series.reduce((s, b) => s + (b.heatRemovedKWh ?? 0), 0);
    expect(sum).toBeCloseTo(13.5, 9);
  });

  it('is for the facility, the committee and admins: 403 for researchers, PIs and ingest tokens, 401 without credentials, 400 for a bad bucket', async () => {
    const t = makeApp();
    await send(t, loop('cdu-1', 42, 30, 40, { quantity: 'heatRemovedW', w: 25_480 }));
    t.addPerson('ann', 'researcher', ['a']);
    t.addPerson('pat', 'pi', ['a']);
    t.addPerson('fay', 'facility');
    t.addPerson('cal', 'committee');
    const cookie = async (username: string) => {
      const login = await t.client.api.v1.auth.login.$post({ json: { username, password: 'correct horse' } });
      return { headers: { cookie: login.headers.get('set-cookie')!.split(';')[0]! } };
    };
    expect((await t.client.api.v1.energy.cooling.$get(hour(), await cookie('ann'))).status).toBe(403);
    expect((await t.client.api.v1.energy.cooling.$get(hour(), await cookie('pat'))).status).toBe(403);
    expect((await t.client.api.v1.energy.cooling.$get(hour(), t.auth(t.tokens.ingest))).status).toBe(403);
    expect((await t.client.api.v1.energy.cooling.$get(hour())).status).toBe(401);
    const fay = await t.client.api.v1.energy.cooling.$get(hour(), await cookie('fay'));
    expect(fay.status).toBe(200);
    expect((await fay.json()).meters[0]!.heatRemovedKWh).toBeCloseTo(25.48, 9);
    expect((await t.client.api.v1.energy.cooling.$get(hour(), await cookie('cal'))).status).toBe(200);
    const bad = await t.app.request(`/api/v1/energy/cooling?bucket=week`, t.auth(t.tokens.read));
    expect(bad.status).toBe(400);
    // The energy routes beside it still answer.
    expect((await t.client.api.v1.energy.kpis.$get({ query: { from: iso(T0), to: iso(T0 + H) } }, t.auth(t.tokens.read))).status).toBe(200);
  });
});
