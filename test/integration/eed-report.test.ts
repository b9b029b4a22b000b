/**
 * The EU data-centre report (EED, Reg. 2024/1364) for a constructed year: two days of
 * meter readings in March and one hour across New Year, with every annual sum and ratio
 * worked out by hand.
 */
import { describe, expect, it } from 'vitest';
import type { FacilityReading } from '../../collectors/shared/wire.ts';
import type { EedReport } from '../../server/services/eed-report.service.ts';
import { H, makeApp } from '../support/factories.ts';

type App = ReturnType<typeof makeApp>;

const iso = (ms: number) => new Date(ms).toISOString();
const STEP = 5 * 60_000; // 5-minute readings: not over the 300 s gap limit, so bridged
const MARCH_1 = Date.parse('2026-03-01T00:00:00.000Z');
const MARCH_2 = MARCH_1 + 24 * H;
const MARCH_3 = MARCH_1 + 48 * H;
const NEW_YEAR = Date.parse('2026-01-01T00:00:00.000Z');

function readings(meter: string, quantity: FacilityReading['quantity'], value: number | ((t: number) => number), fromMs: number, toMs: number): FacilityReading[] {
  const out: FacilityReading[] = [];
  for (let t = fromMs; t <= toMs; t += STEP) out.push({ ts: iso(t), meter, quantity, value: typeof value === 'number' ? value : value(t) });
  return out;
}

async function send(t: App, list: FacilityReading[]) {
  const res = await t.client.api.v1.ingest.facility.$post({ json: { schema: 1, site: 'bitten', readings: list } }, t.auth(t.tokens.ingest));
  expect(res.status).toBe(202);
}

/** The constructed year: March 1-3 with every meter, and 23:00-01:00 across New Year with IT, site and grid. */
async function constructedYear(t: App) {
  await send(t, [
    ...readings('site-main', 'facilityPowerW', 130_000, MARCH_1, MARCH_3),
    ...readings('it-pdus', 'itPowerW', 100_000, MARCH_1, MARCH_3),
    ...readings('district-heating', 'heatReusedW', 70_000, MARCH_1, MARCH_3),
    ...readings('district-heating', 'supplyTempC', (ts) => (ts < MARCH_2 ? 55 : 65), MARCH_1, MARCH_3),
    ...readings('site-water', 'waterL', (ts) => 500_000 + ((ts - MARCH_1) / (24 * H)) * 2000, MARCH_1, MARCH_3),
    ...readings('grid-dk1', 'gridCo2GPerKWh', 150, MARCH_1, MARCH_3),
  ]);
  await send(t, [
    ...readings('site-main', 'facilityPowerW', 130_000, NEW_YEAR - H, NEW_YEAR + H),
    ...readings('it-pdus', 'itPowerW', 100_000, NEW_YEAR - H, NEW_YEAR + H),
    ...readings('grid-dk1', 'gridCo2GPerKWh', 150, NEW_YEAR - H, NEW_YEAR + H),
  ]);
}

const config = { renewableShare: 0.8, supplySetpointC: 32, heatPumpOnSite: false };

describe('EED report', () => {
  it('fills the indicators the meters and configuration can, for the calendar year only', async () => {
    const t = makeApp({ config });
    await constructedYear(t);
    const res = await t.client.api.v1.reports.eed.$get({ query: { year: '2026' } }, t.auth(t.tokens.read));
    expect(res.status).toBe(200);
    // The route answers JSON or CSV, so the client cannot type the JSON branch by itself.
    const r = (await res.json()) as EedReport;
    expect(r.regulation).toBe('Commission Delegated Regulation (EU) 2024/1364');
    expect(r.from).toBe('2026-01-01T00:00:00.000Z');
    expect(r.to).toBe('2027-01-01T00:00:00.000Z');
    const i = r.indicators;
    // Site 130 kW and IT 100 kW for 48 h in March plus the first hour of 2026.
    expect(i.totalEnergyConsumptionKWh!).toBeCloseTo(130 * 49, 6); // 6370
    expect(i.itEnergyConsumptionKWh!).toBeCloseTo(100 * 49, 6); // 4900
    expect(i.wasteHeatReusedKWh!).toBeCloseTo(70 * 48, 6); // 3360
    // Supply 55 °C to 23:55 on day one, 65 °C from midnight; the five minutes between ramp (mean 60).
    expect(i.wasteHeatAverageTempC!).toBeCloseTo((1435 * 55 + 5 * 60 + 1440 * 65) / 2880, 6);
    expect(i.totalWaterInputM3!).toBeCloseTo(4, 6); // 2 m³ a day for two days
    expect(i.pue!).toBeCloseTo(6370 / 4900, 9); // 1.3
    expect(i.erf!).toBeCloseTo(3360 / 6370, 9); // 0.5275
    expect(i.wueLPerKWh!).toBeCloseTo(4000 / 4900, 9); // 0.816 L/kWh
    expect(i.renewableEnergyShare).toBe(0.8);
    expect(i.ref).toBe(0.8);
    expect(i.renewableEnergyKWh!).toBeCloseTo(0.8 * 6370, 6);
    // 6370 kWh at 150 g/kWh = 955.5 kg; per IT kWh 0.195.
    expect(r.co2Kg!).toBeCloseTo(955.5, 6);
    expect(i.cueKgPerKWh!).toBeCloseTo(955.5 / 4900, 9);
    expect(i.supplySetpointC).toBe(32);
    expect(i.inletAirSetpointC).toBeNull();
    expect(r.heatPumpOnSite).toBe(false);
    // 49 metered hours of 8760.
    expect(r.coverage.it).toBeCloseTo(49 / 8760, 9);
    const missing = Object.fromEntries(r.missing.map((m) => [m.indicator, m.reason]));
    expect(Object.keys(missing).sort()).toEqual(
      [
        'computerRoomFloorAreaM2',
        'dataStoredAndProcessed',
        'incomingDataTraffic',
        'inletAirSetpointC',
        'installedItPowerDemandKW',
        'outgoingDataTraffic',
        'potableWaterInputM3',
        'renewableEnergyByOrigin',
        'totalFloorAreaM2',
      ].sort(),
    );
    expect(missing.inletAirSetpointC).toContain('HEATLEDGER_INLET_AIR_SETPOINT_C');
    expect(missing.installedItPowerDemandKW).toMatch(/not a meter reading/);
  });

  it('keeps the previous year apart and lists what its meters did not record', async () => {
    const t = makeApp({ config: { supplySetpointC: 32 } });
    await constructedYear(t);
    const r = (await (await t.client.api.v1.reports.eed.$get({ query: { year: '2025' } }, t.auth(t.tokens.admin))).json()) as EedReport;
    // Only 23:00-24:00 on 31 December 2025.
    expect(r.indicators.itEnergyConsumptionKWh!).toBeCloseTo(100, 6);
    expect(r.indicators.totalEnergyConsumptionKWh!).toBeCloseTo(130, 6);
    expect(r.indicators.pue!).toBeCloseTo(1.3, 9);
    for (const key of ['wasteHeatReusedKWh', 'wasteHeatAverageTempC', 'totalWaterInputM3', 'erf', 'wueLPerKWh', 'ref', 'renewableEnergyShare'] as const) {
      expect(r.indicators[key]).toBeNull();
    }
    const missing = new Map(r.missing.map((m) => [m.indicator, m.reason]));
    expect(missing.get('totalWaterInputM3')).toMatch(/no water counter/);
    expect(missing.get('ref')).toMatch(/HEATLEDGER_RENEWABLE_SHARE/);
    expect(missing.has('potableWaterInputM3')).toBe(false);
    // The heat pump setting defaults to on site.
    expect(r.heatPumpOnSite).toBe(true);
    const row = t.db.$client.prepare("SELECT heat_pump_on_site AS onSite FROM sites WHERE id = 'bitten'").get() as { onSite: number };
    expect(row.onSite).toBe(1);
  });

  it('applies the heat-pump setting to the site row at ingest', async () => {
    const t = makeApp({ config: { heatPumpOnSite: false } });
    await send(t, readings('it-pdus', 'itPowerW', 1000, MARCH_1, MARCH_1 + STEP));
    const row = t.db.$client.prepare("SELECT heat_pump_on_site AS onSite FROM sites WHERE id = 'bitten'").get() as { onSite: number };
    expect(row.onSite).toBe(0);
    const k = await (await t.client.api.v1.energy.kpis.$get({ query: { from: iso(MARCH_1), to: iso(MARCH_2) } }, t.auth(t.tokens.read))).json();
    expect(k.heatPumpOnSite).toBe(false);
  });

  it('answers CSV for format=csv and for Accept: text/csv', async () => {
    const t = makeApp({ config });
    await constructedYear(t);
    const res = await t.app.request('/api/v1/reports/eed?year=2026&format=csv', t.auth(t.tokens.read));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
    const text = await res.text();
    const lines = text.trim().split('\n');
    expect(lines[0]).toBe('indicator,value,unit,note');
    const row = (name: string) => lines.find((l) => l.startsWith(`${name},`))!.split(',');
    expect(Number(row('pue')[1])).toBeCloseTo(1.3, 9);
    expect(Number(row('totalEnergyConsumptionKWh')[1])).toBeCloseTo(6370, 6);
    expect(row('totalEnergyConsumptionKWh')[2]).toBe('kWh');
    expect(row('heatPumpOnSite')[1]).toBe('false');
    expect(row('installedItPowerDemandKW')[1]).toBe('');
    expect(row('inletAirSetpointC')[1]).toBe('');
    const accept = await t.app.request('/api/v1/reports/eed?year=2026', { headers: { ...t.auth(t.tokens.read).headers, accept: 'text/csv' } });
    expect(accept.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(await accept.text()).toBe(text);
  });

  it('is for the facility, the committee and admins; a bad year is a 400', async () => {
    const t = makeApp();
    t.addPerson('ann', 'researcher', ['a']);
    t.addPerson('pat', 'pi', ['a']);
    t.addPerson('fay', 'facility');
    t.addPerson('cal', 'committee');
    const cookie = async (username: string) => {
      const login = await t.client.api.v1.auth.login.$post({ json: { username, password: 'correct horse' } });
      return { headers: { cookie: login.headers.get('set-cookie')!.split(';')[0]! } };
    };
    const q = { query: { year: '2026' } };
    expect((await t.client.api.v1.reports.eed.$get(q, await cookie('ann'))).status).toBe(403);
    expect((await t.client.api.v1.reports.eed.$get(q, await cookie('pat'))).status).toBe(403);
    expect((await t.client.api.v1.reports.eed.$get(q, await cookie('fay'))).status).toBe(200);
    expect((await t.client.api.v1.reports.eed.$get(q, await cookie('cal'))).status).toBe(200);
    expect((await t.client.api.v1.reports.eed.$get(q)).status).toBe(401);
    expect((await t.app.request('/api/v1/reports/eed?year=twenty', t.auth(t.tokens.read))).status).toBe(400);
    expect((await t.app.request('/api/v1/reports/eed', t.auth(t.tokens.read))).status).toBe(400);
  });
});
