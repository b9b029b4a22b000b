/**
 * Issue 17 point 2: a DCGM source's energy counter and profiling activities. A segment's
 * energy is the counter's difference where both samples carry it (its provenance kept as
 * counter_wh), integrated power elsewhere; the activities are integrated like utilisation
 * and shown per job and per project beside it. Expected figures are worked out by hand.
 */
import { describe, expect, it } from 'vitest';
import type { GpuSample } from '../../collectors/shared/wire.ts';
import { H, T0, iso, job, makeApp, sample } from '../support/factories.ts';

type App = ReturnType<typeof makeApp>;
const MIN = 60_000;

/** Job 42's GPU: power 600 W, but a counter rising at 500 W; SM 0.4, tensor ramping 0→0.6, DRAM 0.25, no graphics engine. */
function dcgmSample(t: number): GpuSample {
  const f = (t - T0) / H;
  return sample({ ts: iso(t), jobIds: ['42'], powerW: 600, energyJ: 1e6 + (500 * (t - T0)) / 1000, smActive: 0.4, tensorActive: 0.6 * f, dramActive: 0.25 });
}

async function send(t: App, samples: GpuSample[]) {
  const res = await t.client.api.v1.ingest.gpu.$post({ json: { schema: 1, cluster: 'bitten', node: 'gpu-n01', samples } }, t.auth(t.tokens.ingest));
  expect(res.status).toBe(202);
}

async function sendJobs(t: App) {
  const jobs = [job({ jobId: '42' }), job({ jobId: '43', account: 'proj-b', user: 'bob' }), job({ jobId: '44', account: 'proj-c', user: 'carol' })];
  const res = await t.client.api.v1.ingest.jobs.$post({ json: { schema: 1, cluster: 'bitten', jobs } }, t.auth(t.tokens.ingest));
  expect(res.status).toBe(202);
}

async function jobRows(t: App) {
  const res = await t.app.request(`/api/v1/jobs?from=${iso(T0 - H)}&to=${iso(T0 + 2 * H)}`, t.auth(t.tokens.read));
  expect(res.status).toBe(200);
  const body = (await res.json()) as { rows: Array<{ jobId: string; energyKWh: number; meanUtilPct: number | null; dcgm: { smActivePct: number | null; tensorActivePct: number | null; grEngineActivePct: number | null; dramActivePct: number | null; profiledGpuHours: number; counterKWh: number; counterShare: number | null } | null }> };
  return new Map(body.rows.map((r) => [r.jobId, r]));
}

const minutes = (from: number, to: number, step = 1) => Array.from({ length: (to - from) / step + 1 }, (_, i) => T0 + (from + i * step) * MIN);

describe('energy from DCGM energy counters, and GPU activity per job and project', () => {
  it('takes the energy from counter differences, not power, and means the activities over the job', async () => {
    const t = makeApp();
    await sendJobs(t);
    await send(t, minutes(0, 60).map(dcgmSample));
    const rows = await jobRows(t);
    const j = rows.get('42')!;
    // The counter rose 500 W × 1 h = 0.5 kWh; integrated power would say 0.6.
    expect(j.energyKWh).toBeCloseTo(0.5, 9);
    expect(j.meanUtilPct).toBeCloseTo(90, 9);
    expect(j.dcgm).not.toBeNull();
    expect(j.dcgm!.smActivePct).toBeCloseTo(40, 9);
    // A ramp from 0 to 60 % over the hour: mean 30 %.
    expect(j.dcgm!.tensorActivePct).toBeCloseTo(30, 9);
    expect(j.dcgm!.dramActivePct).toBeCloseTo(25, 9);
    expect(j.dcgm!.grEngineActivePct).toBeNull();
    expect(j.dcgm!.profiledGpuHours).toBeCloseTo(1, 9);
    expect(j.dcgm!.counterKWh).toBeCloseTo(0.5, 9);
    expect(j.dcgm!.counterShare).toBeCloseTo(1, 9);
    // Provenance at the GPU too: all of the hour's 500 Wh came from the counter.
    const gpuHour = t.db.$client.prepare('SELECT energy_wh AS e, counter_wh AS c FROM gpu_hour').get() as { e: number; c: number };
    expect(gpuHour.e).toBeCloseTo(500, 9);
    expect(gpuHour.c).toBeCloseTo(500, 9);
  });

  it('gives the same figures when half the samples arrive late, and replays add nothing', async () => {
    const inOrder = makeApp();
    await sendJobs(inOrder);
    await send(inOrder, minutes(0, 60).map(dcgmSample));
    const late = makeApp();
    await sendJobs(late);
    await send(late, minutes(0, 60, 2).map(dcgmSample));
    await send(late, minutes(1, 59, 2).map(dcgmSample));
    await send(late, minutes(0, 60).map(dcgmSample));
    const read = (t: App) => t.db.$client.prepare('SELECT energy_wh, counter_wh, gpu_s, sm_active_s, sm_s, tensor_active_s, tensor_s, gr_s, dram_active_s, dram_s FROM job_hour').all() as Array<Record<string, number>>;
    const [a, b] = [read(inOrder), read(late)];
    expect(b).toHaveLength(1);
    for (const k of Object.keys(a[0]!)) expect(b[0]![k]).toBeCloseTo(a[0]![k]!, 6);
    expect(a[0]!.sm_s).toBeCloseTo(3600, 9);
    expect(a[0]!.gr_s).toBe(0);
  });

  it('falls back to power where the counter went back (driver reload), and says how much was counted', async () => {
    const t = makeApp();
    await sendJobs(t);
    const s = (min: number, energyJ: number) => sample({ ts: iso(T0 + min * MIN), gpuUuid: 'GPU-bbbb', jobIds: ['43'], powerW: 600, energyJ });
    // 0→1 min: the counter says 30 kJ (8.333 Wh); 1→2 min it went back: power, 600 W × 60 s = 10 Wh.
    await send(t, [s(0, 1000), s(1, 31_000), s(2, 5)]);
    const j = (await jobRows(t)).get('43')!;
    expect(j.energyKWh * 1000).toBeCloseTo(30_000 / 3600 + 10, 6);
    expect(j.dcgm!.counterKWh * 1000).toBeCloseTo(30_000 / 3600, 6);
    expect(j.dcgm!.counterShare).toBeCloseTo(30_000 / 3600 / (30_000 / 3600 + 10), 9);
    // No activity was given: none is shown.
    expect(j.dcgm!.smActivePct).toBeNull();
    expect(j.dcgm!.profiledGpuHours).toBe(0);
  });

  it('shows nothing from DCGM for a job whose GPU reports through nvidia-smi', async () => {
    const t = makeApp();
    await sendJobs(t);
    await send(t, minutes(0, 10).map((m) => sample({ ts: iso(m), gpuUuid: 'GPU-cccc', jobIds: ['44'] })));
    const j = (await jobRows(t)).get('44')!;
    expect(j.energyKWh).toBeCloseTo((600 * 10) / 60 / 1000, 9);
    expect(j.dcgm).toBeNull();
  });

  it('shows the project’s activity in its review pack (JSON and CSV), from its own jobs only', async () => {
    const t = makeApp();
    await sendJobs(t);
    await send(t, minutes(0, 60).map(dcgmSample));
    // Another project's GPU at full SM activity must not move proj-a's mean.
    await send(t, minutes(0, 60).map((m) => sample({ ts: iso(m), gpuUuid: 'GPU-bbbb', jobIds: ['43'], smActive: 1, energyJ: (m - T0) / 10 })));
    const url = `/api/v1/projects/proj-a/review?from=${iso(T0 - H)}&to=${iso(T0 + 2 * H)}`;
    const review = (await (await t.app.request(url, t.auth(t.tokens.read))).json()) as { usage: { dcgm: { smActivePct: number; tensorActivePct: number; counterKWh: number } } };
    expect(review.usage.dcgm.smActivePct).toBeCloseTo(40, 9);
    expect(review.usage.dcgm.tensorActivePct).toBeCloseTo(30, 9);
    expect(review.usage.dcgm.counterKWh).toBeCloseTo(0.5, 9);
    const csv = await (await t.app.request(url, { headers: { ...t.auth(t.tokens.read).headers, accept: 'text/csv' } })).text();
    const line = csv.split('\n').find((l) => l.startsWith('dcgm,proj-a,smActivePct,'));
    expect(Number(line!.split(',')[3])).toBeCloseTo(40, 9);
    const other = (await (await t.app.request(url.replace('proj-a', 'proj-b'), t.auth(t.tokens.read))).json()) as { usage: { dcgm: { smActivePct: number; tensorActivePct: number; counterKWh: number } } };
    expect(other.usage.dcgm.smActivePct).toBeCloseTo(100, 9);
  });
});
