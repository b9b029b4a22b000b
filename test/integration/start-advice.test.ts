/**
 * Issue 19 point 1: carbon-aware start advice from a stored CO2 forecast, a known queue and a
 * known energy history, against figures worked out by hand here.
 *
 * proj-a's jobs on `gpu` waited 10 minutes each and drew 500 W per GPU (0.5 kWh per GPU-hour).
 * The forecast from now: 200 g/kWh for three hours, then 100 g/kWh for three.
 * A 2-GPU, 1-hour job uses 1 kWh. Submitted now it starts in 10 minutes and runs at 200 g:
 * 0.2 kg. Submitted at now + 3 h it starts at now + 3 h 10 min, all at 100 g: 0.1 kg (−50 %).
 * (At now + 2 h 45 min it would start at now + 2 h 55 min: 5 min at 200 g and 55 at 100 g.)
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCo2EmisProg } from '../../collectors/facility/co2.ts';
import type { GpuSample } from '../../collectors/shared/wire.ts';
import { H, T0, iso, job, makeApp, sample } from '../support/factories.ts';
import { missing } from '../support/requirements.ts';

const NOW = T0 + 48 * H;
type App = ReturnType<typeof makeApp>;

async function history(t: App, waitMin = 10) {
  // Six 1-GPU jobs on gpu over the last day, each waiting 10 minutes (or `waitMin`) and running an hour at 500 W.
  const jobs = [];
  const samples: GpuSample[] = [];
  for (let k = 0; k < 6; k++) {
    const start = NOW - 24 * H + k * 2 * H;
    jobs.push(job({ jobId: `h${k}`, gpus: 1, submitTime: iso(start - waitMin * 60_000), eligibleTime: iso(start - waitMin * 60_000), startTime: iso(start), endTime: iso(start + H) }));
    for (let m = 0; m <= 60; m++) samples.push(sample({ ts: iso(start + m * 60_000), gpuUuid: 'GPU-a', powerW: 500, jobIds: [`h${k}`] }));
  }
  expect((await t.client.api.v1.ingest.jobs.$post({ json: { schema: 1, cluster: 'bitten', jobs } }, t.auth(t.tokens.ingest))).status).toBe(202);
  expect((await t.client.api.v1.ingest.gpu.$post({ json: { schema: 1, cluster: 'bitten', node: 'gpu-n01', samples } }, t.auth(t.tokens.ingest))).status).toBe(202);
}

async function forecast(t: App, values: Array<{ ts: string; gPerKWh: number }>) {
  const res = await t.app.request('/api/v1/ingest/co2-forecast', { method: 'POST', headers: { ...t.auth(t.tokens.ingest).headers, 'content-type': 'application/json' }, body: JSON.stringify({ schema: 1, priceArea: 'DK1', values }) });
  return res;
}

const sixHours = () => Array.from({ length: 72 }, (_, i) => ({ ts: iso(NOW + i * 5 * 60_000), gPerKWh: i < 36 ? 200 : 100 }));

async function advice(t: App, query = 'partition=gpu&gpus=2&hours=1&project=proj-a') {
  const res = await t.app.request(`/api/v1/advice/start?${query}`, t.auth(t.tokens.read));
  expect(res.status).toBe(200);
  return (await res.json()) as {
    expectedWaitS: number;
    energy: { kWh: number; kWhPerGpuHour: number; basis: string } | null;
    unavailable: string | null;
    candidates: Array<{ submitAt: string; startAt: string; co2Kg: number; meanGPerKWh: number }>;
    now: { co2Kg: number; startAt: string } | null;
    best: { submitAt: string; startAt: string; co2Kg: number } | null;
    savingKg: number | null;
    savingPct: number | null;
  };
}

describe('carbon-aware start advice', () => {
  it('advises the start that emits least, with the wait, the energy and its basis, against starting now', async () => {
    const t = makeApp({ now: NOW });
    await history(t);
    expect(await (await forecast(t, sixHours())).json()).toEqual({ accepted: 72, duplicates: 0 });
    const a = await advice(t);
    expect(a.expectedWaitS).toBe(600);
    expect(a.energy!.kWhPerGpuHour).toBeCloseTo(0.5, 9);
    expect(a.energy!.kWh).toBeCloseTo(1, 9);
    expect(a.energy!.basis).toMatch(/^project proj-a on gpu, last 30 days: 0\.500 kWh per GPU-hour/);
    expect(a.now!.co2Kg).toBeCloseTo(0.2, 9);
    expect(a.now!.startAt).toBe(iso(NOW + 10 * 60_000));
    expect(a.best).toMatchObject({ submitAt: iso(NOW + 3 * H), startAt: iso(NOW + 3 * H + 10 * 60_000) });
    expect(a.best!.co2Kg).toBeCloseTo(0.1, 9);
    expect(a.savingPct).toBeCloseTo(50, 9);
    const at245 = a.candidates.find((c) => c.submitAt === iso(NOW + 2 * H + 45 * 60_000))!;
    expect(at245.co2Kg).toBeCloseTo((200 * 5 + 100 * 55) / 60 / 1000, 9);
    // The last candidate still ends inside the forecast: submitted at now + 4 h 45 min, it ends at now + 5 h 55 min.
    expect(a.candidates.at(-1)!.submitAt).toBe(iso(NOW + 4 * H + 45 * 60_000));
  });

  it('takes the forecast’s first value for the 5 minutes under way when it starts at the next 5 minutes (as the API answers)', async () => {
    const t = makeApp({ now: NOW + 2 * 60_000 });
    // Jobs here start at once: the job submitted now runs in the 5 minutes the forecast lacks.
    await history(t, 0);
    // Fetched at 10:02: the forecast begins at 10:05. 300 g/kWh until 10:15, then 100.
    await forecast(t, Array.from({ length: 24 }, (_, i) => ({ ts: iso(NOW + (i + 1) * 5 * 60_000), gPerKWh: i < 2 ? 300 : 100 })));
    const a = await advice(t, 'partition=gpu&gpus=2&hours=0.5&project=proj-a');
    // Submitted and started at 10:02: 10:02–10:05 at the first value (300 g), 10:05–10:15 at 300, 10:15–10:32 at 100; 0.5 kWh.
    expect(a.expectedWaitS).toBe(0);
    expect(a.now!.startAt).toBe(iso(NOW + 2 * 60_000));
    expect(a.now!.co2Kg).toBeCloseTo((0.5 * (300 * 13 + 100 * 17)) / 30 / 1000, 9);
    // The next candidate is the quarter hour, 10:15.
    expect(a.candidates[1]!.submitAt).toBe(iso(NOW + 15 * 60_000));
  });

  it('says so, and advises nothing, when no forecast is stored', async () => {
    const t = makeApp({ now: NOW });
    await history(t);
    const a = await advice(t);
    expect(a.unavailable).toBe('no CO2 forecast for DK1 from now on is stored (heatledger collect facility --co2-forecast-api)');
    expect(a.candidates).toEqual([]);
    expect(a.best).toBeNull();
  });

  it('a newer forecast replaces the older for the same minutes; a malformed one is refused whole', async () => {
    const t = makeApp({ now: NOW });
    await history(t);
    await forecast(t, sixHours());
    // Revised: cleaner in the first hours too (50 g).
    expect(await (await forecast(t, sixHours().map((v, i) => (i < 36 ? { ...v, gPerKWh: 50 } : v)))).json()).toEqual({ accepted: 36, duplicates: 36 });
    expect((await advice(t)).now!.co2Kg).toBeCloseTo(0.05, 9);
    const bad = await forecast(t, [{ ts: iso(NOW), gPerKWh: 80 }, { ts: 'tomorrow', gPerKWh: 1 }]);
    expect(bad.status).toBe(400);
    expect(JSON.stringify(await bad.json())).toContain('values.1.ts');
    expect((t.db.$client.prepare('SELECT g_per_kwh AS g FROM co2_forecast WHERE ts = ?').get(NOW) as { g: number }).g).toBe(50);
  });
});

const fixture = resolve(import.meta.dirname, '../../../shared/fixtures/energinet/evcc-issue23181_CO2EmisProg_DK2_limit10_EXCERPT.json');
describe.skipIf(missing('../shared/fixtures/energinet', existsSync(fixture)))('a recorded CO2EmisProg answer', () => {
  it('reads its DK2 values, and refuses it for DK1 naming the area it holds', () => {
    const text = readFileSync(fixture, 'utf8');
    expect(parseCo2EmisProg(text, 'evcc.json', 'DK2')).toEqual([
      { ts: '2025-08-23T21:45:00.000Z', gPerKWh: 26 },
      { ts: '2025-08-23T21:50:00.000Z', gPerKWh: 26 },
      { ts: '2025-08-23T21:55:00.000Z', gPerKWh: 26 },
    ]);
    expect(() => parseCo2EmisProg(text, 'evcc.json', 'DK1')).toThrow('evcc.json: no CO2EmisProg value for price area DK1 (it holds DK2)');
    expect(() => parseCo2EmisProg('{"total": 1}', 'x.json', 'DK1')).toThrow("x.json: no 'records' array (expected an Energi Data Service CO2EmisProg answer)");
  });

  it('advises over the recorded forecast: a 5-minute job fits it, a 15-minute one runs past its end', async () => {
    // The recorded DK2 forecast covers 21:45–22:00 UTC on 23 August 2025 at 26 g/kWh.
    const values = parseCo2EmisProg(readFileSync(fixture, 'utf8'), 'evcc.json', 'DK2');
    const now = Date.parse('2025-08-23T21:45:00Z');
    const t = makeApp({ now });
    const jobs = [];
    const samples: GpuSample[] = [];
    // Jobs that waited exactly 5 minutes and drew 600 W: 0.6 kWh per GPU-hour.
    for (let k = 0; k < 4; k++) {
      const start = now - 12 * H + k * 2 * H;
      jobs.push(job({ jobId: `r${k}`, gpus: 1, submitTime: iso(start - 5 * 60_000), eligibleTime: iso(start - 5 * 60_000), startTime: iso(start), endTime: iso(start + H) }));
      for (let m = 0; m <= 60; m++) samples.push(sample({ ts: iso(start + m * 60_000), gpuUuid: 'GPU-a', powerW: 600, jobIds: [`r${k}`] }));
    }
    expect((await t.client.api.v1.ingest.jobs.$post({ json: { schema: 1, cluster: 'bitten', jobs } }, t.auth(t.tokens.ingest))).status).toBe(202);
    expect((await t.client.api.v1.ingest.gpu.$post({ json: { schema: 1, cluster: 'bitten', node: 'gpu-n01', samples } }, t.auth(t.tokens.ingest))).status).toBe(202);
    const res = await t.app.request('/api/v1/ingest/co2-forecast', { method: 'POST', headers: { ...t.auth(t.tokens.ingest).headers, 'content-type': 'application/json' }, body: JSON.stringify({ schema: 1, priceArea: 'DK2', values }) });
    expect(await res.json()).toEqual({ accepted: 3, duplicates: 0 });
    // 2 GPUs for 5 minutes: 0.6 × 2 × 1/12 = 0.1 kWh at 26 g = 2.6 g, starting at 21:50 after the 5-minute wait.
    const a = await advice(t, 'partition=gpu&gpus=2&hours=0.0833333333333333&project=proj-a&priceArea=DK2');
    expect(a.expectedWaitS).toBe(300);
    expect(a.now!.startAt).toBe('2025-08-23T21:50:00.000Z');
    expect(a.now!.co2Kg).toBeCloseTo(0.0026, 9);
    expect(a.best!.co2Kg).toBeCloseTo(0.0026, 9);
    expect(a.savingPct).toBe(0);
    const long = await advice(t, 'partition=gpu&gpus=2&hours=0.25&project=proj-a&priceArea=DK2');
    expect(long.unavailable).toBe('the forecast ends at 2025-08-23T22:00:00.000Z, before a job submitted now would end (expected wait 0.1 h, then 0.25 h of run)');
    expect(long.candidates).toEqual([]);
  });
});
