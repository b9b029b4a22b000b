import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FacilityReading } from '../../collectors/shared/wire.ts';
import { H, T0, iso, job, makeApp, series } from '../support/factories.ts';

type App = ReturnType<typeof makeApp>;

/** Constant readings of one meter every minute over [fromMs, toMs]. */
function meter(name: string, quantity: FacilityReading['quantity'], value: number | ((t: number) => number), fromMs = T0, toMs = T0 + H): FacilityReading[] {
  const out: FacilityReading[] = [];
  for (let t = fromMs; t <= toMs; t += 60_000) out.push({ ts: iso(t), meter: name, quantity, value: typeof value === 'number' ? value : value(t) });
  return out;
}

async function sendFacility(t: App, readings: FacilityReading[]) {
  const res = await t.client.api.v1.ingest.facility.$post({ json: { schema: 1, site: 'bitten', readings } }, t.auth(t.tokens.ingest));
  expect(res.status).toBe(202);
}

const window = (fromMs: number, toMs: number) => ({ query: { from: iso(fromMs), to: iso(toMs) } });

describe('facility KPIs', () => {
  it('computes PUE, ERF, ERE, WUE, CUE and coverage from meters over an hour', async () => {
    const t = makeApp();
    await sendFacility(t, [
      ...meter('it-pdu', 'itPowerW', 100_000),
      ...meter('site-main', 'facilityPowerW', 120_000),
      ...meter('dh-meter', 'heatReusedW', 60_000),
      ...meter('grid-dk1', 'gridCo2GPerKWh', 200),
      ...meter('site-water', 'waterL', (ts) => 1000 + ((ts - T0) / H) * 50),
    ]);
    const res = await t.client.api.v1.energy.kpis.$get({ query: { from: iso(T0), to: iso(T0 + H), bucket: '5m' } }, t.auth(t.tokens.read));
    const k = await res.json();
    expect(k.itEnergyKWh).toBeCloseTo(100, 9);
    expect(k.facilityEnergyKWh).toBeCloseTo(120, 9);
    expect(k.reusedHeatKWh).toBeCloseTo(60, 9);
    expect(k.pue).toBeCloseTo(1.2, 9);
    expect(k.erf).toBeCloseTo(0.5, 9);
    expect(k.ere).toBeCloseTo((120 - 60) / 100, 9);
    expect(k.wue).toBeCloseTo(50 / 100, 9);
    // 120 kWh at 200 g/kWh = 24 kg; per IT kWh 0.24.
    expect(k.co2Kg).toBeCloseTo(24, 9);
    expect(k.cue).toBeCloseTo(0.24, 9);
    expect(k.co2AvoidedKg).toBeCloseTo((60 * 100) / 1000, 9);
    expect(k.coverage.it).toBeCloseTo(1, 9);
    expect(k.series).toHaveLength(12);
    expect(k.series[0]!.pue).toBeCloseTo(1.2, 9);
  });

  it('says null, not 0, for a ratio whose term is missing, and shows lost coverage', async () => {
    const t = makeApp();
    await sendFacility(t, meter('it-pdu', 'itPowerW', 50_000, T0, T0 + H / 2));
    const k = await (await t.client.api.v1.energy.kpis.$get({ query: { from: iso(T0), to: iso(T0 + H) } }, t.auth(t.tokens.read))).json();
    expect(k.itEnergyKWh).toBeCloseTo(25, 9);
    expect(k.facilityEnergyKWh).toBeNull();
    expect(k.pue).toBeNull();
    expect(k.erf).toBeNull();
    expect(k.coverage.it).toBeCloseTo(0.5, 9);
  });

  it('prefers a meter energy counter to its power reading rather than counting both', async () => {
    const t = makeApp();
    await sendFacility(t, [...meter('site-main', 'facilityPowerW', 120_000), ...meter('site-main', 'facilityEnergyKWh', (ts) => 5000 + ((ts - T0) / H) * 130)]);
    const k = await (await t.client.api.v1.energy.kpis.$get({ query: { from: iso(T0), to: iso(T0 + H) } }, t.auth(t.tokens.read))).json();
    expect(k.facilityEnergyKWh).toBeCloseTo(130, 9);
  });
});

describe('energy attribution to projects', () => {
  it('shares overhead, reused heat and CO2 in proportion to measured IT energy; the remainder is unattributed', async () => {
    const t = makeApp();
    await t.client.api.v1.ingest.jobs.$post(
      { json: { schema: 1, cluster: 'bitten', jobs: [job({ jobId: '1', account: 'a' }), job({ jobId: '2', account: 'b' })] } },
      t.auth(t.tokens.ingest),
    );
    // GPU energy in the hour: job 1 at 10 kW-equivalent of GPUs is too many GPUs for a test; use power 10 kW and 30 kW.
    await t.client.api.v1.ingest.gpu.$post({ json: { schema: 1, cluster: 'bitten', node: 'n1', samples: series(T0, T0 + H, 60, { gpuUuid: 'GPU-1', powerW: 10_000, jobIds: ['1'] }) } }, t.auth(t.tokens.ingest));
    await t.client.api.v1.ingest.gpu.$post({ json: { schema: 1, cluster: 'bitten', node: 'n2', samples: series(T0, T0 + H, 60, { gpuUuid: 'GPU-2', powerW: 30_000, jobIds: ['2'] }) } }, t.auth(t.tokens.ingest));
    await sendFacility(t, [...meter('it', 'itPowerW', 100_000), ...meter('site', 'facilityPowerW', 120_000), ...meter('dh', 'heatReusedW', 60_000), ...meter('grid', 'gridCo2GPerKWh', 100)]);
    const body = await (await t.client.api.v1.energy.projects.$get(window(T0, T0 + H), t.auth(t.tokens.read))).json();
    const byKey = Object.fromEntries(body.rows.map((r) => [r.key, r]));
    // IT 100 kWh of which a 10 and b 30; overhead 20, reuse 60, CO2 120 kWh × 0.1 kg = 12 kg.
    expect(byKey.a!.itEnergyKWh).toBeCloseTo(10, 9);
    expect(byKey.a!.overheadKWh).toBeCloseTo(2, 9);
    expect(byKey.a!.reusedHeatKWh).toBeCloseTo(6, 9);
    expect(byKey.a!.co2Kg).toBeCloseTo(1.2, 9);
    expect(byKey.b!.overheadKWh).toBeCloseTo(6, 9);
    expect(byKey['(unattributed)']!.itEnergyKWh).toBeCloseTo(60, 9);
    expect(byKey['(unattributed)']!.overheadKWh).toBeCloseTo(12, 9);
    expect(byKey['(unattributed)']!.reusedHeatKWh).toBeCloseTo(36, 9);
    // A job's CO2 in the job list is its share of the hour's CO2, as in the attribution.
    const jobs = (await (await t.client.api.v1.jobs.$get({ query: { from: iso(T0), to: iso(T0 + H) } }, t.auth(t.tokens.read))).json()).rows;
    expect(Object.fromEntries(jobs.map((j) => [j.jobId, j.co2Kg]))).toEqual({ '1': expect.closeTo(1.2, 9), '2': expect.closeTo(3.6, 9) });
  });

  it('closes every column to the meters within 0.1 % on random scenarios', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ gpuPowerW: fc.integer({ min: 0, max: 700 }), startMin: fc.integer({ min: 0, max: 170 }), minutes: fc.integer({ min: 2, max: 180 }) }), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 20_000, max: 200_000 }),
        fc.double({ min: 1.02, max: 1.8, noNaN: true }),
        fc.double({ min: 0, max: 0.9, noNaN: true }),
        fc.integer({ min: 20, max: 400 }),
        async (jobs, itW, pue, reuseShare, co2) => {
          const t = makeApp();
          const fromMs = T0;
          const toMs = T0 + 3 * H;
          await t.client.api.v1.ingest.jobs.$post(
            {
              json: {
                schema: 1,
                cluster: 'bitten',
                jobs: jobs.map((j, i) => job({ jobId: String(i), account: `p${i % 3}`, startTime: iso(fromMs + j.startMin * 60_000), endTime: iso(fromMs + (j.startMin + j.minutes) * 60_000) })),
              },
            },
            t.auth(t.tokens.ingest),
          );
          for (const [i, j] of jobs.entries()) {
            const start = fromMs + j.startMin * 60_000;
            const samples = series(start, Math.min(toMs, start + j.minutes * 60_000), 30, { gpuUuid: `GPU-${i}`, powerW: j.gpuPowerW, jobIds: [String(i)] });
            await t.client.api.v1.ingest.gpu.$post({ json: { schema: 1, cluster: 'bitten', node: `n${i}`, samples } }, t.auth(t.tokens.ingest));
          }
          await sendFacility(t, [
            ...meter('it', 'itPowerW', (ts) => itW * (1 + 0.1 * Math.sin(ts / 600_000)), fromMs, toMs),
            ...meter('site', 'facilityPowerW', (ts) => itW * pue * (1 + 0.1 * Math.sin(ts / 600_000)), fromMs, toMs),
            ...meter('dh', 'heatReusedW', itW * reuseShare, fromMs, toMs),
            ...meter('grid', 'gridCo2GPerKWh', (ts) => co2 + 30 * Math.cos(ts / 900_000), fromMs, toMs),
          ]);
          const k = await (await t.client.api.v1.energy.kpis.$get({ query: { from: iso(fromMs), to: iso(toMs) } }, t.auth(t.tokens.read))).json();
          const a = await (await t.client.api.v1.energy.projects.$get(window(fromMs, toMs), t.auth(t.tokens.read))).json();
          const sum = (f: (r: (typeof a.rows)[number]) => number) => a.rows.reduce((s, r) => s + f(r), 0);
          const close = (x: number, y: number) => Math.abs(x - y) <= 0.001 * Math.max(Math.abs(y), 1e-9);
          expect(close(sum((r) => r.itEnergyKWh), k.itEnergyKWh!)).toBe(true);
          expect(close(sum((r) => r.itEnergyKWh + r.overheadKWh), k.facilityEnergyKWh!)).toBe(true);
          expect(close(sum((r) => r.reusedHeatKWh), k.reusedHeatKWh!)).toBe(true);
          expect(close(sum((r) => r.co2Kg), k.co2Kg!)).toBe(true);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('shows a researcher their project and folds the others into the remainder', async () => {
    const t = makeApp();
    await t.client.api.v1.ingest.jobs.$post({ json: { schema: 1, cluster: 'bitten', jobs: [job({ jobId: '1', account: 'a' }), job({ jobId: '2', account: 'b' })] } }, t.auth(t.tokens.ingest));
    await t.client.api.v1.ingest.gpu.$post({ json: { schema: 1, cluster: 'bitten', node: 'n1', samples: [...series(T0, T0 + H, 60, { gpuUuid: 'G1', powerW: 500, jobIds: ['1'] })] } }, t.auth(t.tokens.ingest));
    await t.client.api.v1.ingest.gpu.$post({ json: { schema: 1, cluster: 'bitten', node: 'n2', samples: [...series(T0, T0 + H, 60, { gpuUuid: 'G2', powerW: 300, jobIds: ['2'] })] } }, t.auth(t.tokens.ingest));
    t.addPerson('ann', 'researcher', ['a']);
    const login = await t.client.api.v1.auth.login.$post({ json: { username: 'ann', password: 'correct horse' } });
    const cookie = { headers: { cookie: login.headers.get('set-cookie')!.split(';')[0]! } };
    const body = await (await t.client.api.v1.energy.projects.$get(window(T0, T0 + H), cookie)).json();
    expect(body.rows.map((r) => r.key)).toEqual(['a', '(unattributed)']);
    expect(body.rows[1]!.itEnergyKWh).toBeCloseTo(0.3, 9);
    expect((await t.client.api.v1.energy.kpis.$get({ query: {} }, cookie)).status).toBe(403);
  });
});
