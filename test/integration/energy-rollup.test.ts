import { describe, expect, it, onTestFinished } from 'vitest';
import type { FacilityReading } from '../../collectors/shared/wire.ts';
import { insideScan } from '../../db/queries/energy-by-job.ts';
import { rebuildAttribution } from '../../db/rollups/attribution.ts';
import { H, T0, iso, job, makeApp, series } from '../support/factories.ts';

type App = ReturnType<typeof makeApp>;

/** Constant readings of one meter every minute over [fromMs, toMs]. */
function meter(name: string, quantity: FacilityReading['quantity'], value: number, fromMs: number, toMs: number): FacilityReading[] {
  const out: FacilityReading[] = [];
  for (let t = fromMs; t <= toMs; t += 60_000) out.push({ ts: iso(t), meter: name, quantity, value });
  return out;
}

const post = {
  jobs: async (t: App, jobs: Parameters<typeof job>[0][]) =>
    expect((await t.client.api.v1.ingest.jobs.$post({ json: { schema: 1, cluster: 'c', jobs: jobs.map(job) } }, t.auth(t.tokens.ingest))).status).toBe(202),
  gpu: async (t: App, node: string, gpuUuid: string, jobId: string, powerW: number, fromMs: number, toMs: number) =>
    expect(
      (await t.client.api.v1.ingest.gpu.$post({ json: { schema: 1, cluster: 'c', node, samples: series(fromMs, toMs, 60, { gpuUuid, powerW, jobIds: [jobId] }) } }, t.auth(t.tokens.ingest)))
        .status,
    ).toBe(202),
  facility: async (t: App, readings: FacilityReading[]) =>
    expect((await t.client.api.v1.ingest.facility.$post({ json: { schema: 1, site: 's', readings } }, t.auth(t.tokens.ingest))).status).toBe(202),
};

async function byProject(t: App, fromMs: number, toMs: number) {
  const body = await (await t.client.api.v1.energy.projects.$get({ query: { from: iso(fromMs), to: iso(toMs) } }, t.auth(t.tokens.read))).json();
  return { ...body, byKey: Object.fromEntries(body.rows.map((r) => [r.key, r])) };
}

async function jobPage(t: App, fromMs: number, toMs: number, limit: number, cursor?: string) {
  const res = await t.client.api.v1.energy.jobs.$get({ query: { from: iso(fromMs), to: iso(toMs), limit: String(limit), ...(cursor ? { cursor } : {}) } }, t.auth(t.tokens.read));
  expect(res.status).toBe(200);
  return res.json();
}

describe('energy attribution rollups', () => {
  it('follow late samples, late job records, changed accounts and late meters as a rebuild would', async () => {
    const t = makeApp();
    await post.jobs(t, [
      { jobId: '1', account: 'a', startTime: iso(T0), endTime: iso(T0 + H) },
      { jobId: '2', account: 'b', startTime: iso(T0), endTime: iso(T0 + H) },
    ]);
    await post.gpu(t, 'n1', 'G1', '1', 500, T0, T0 + H);
    await post.gpu(t, 'n2', 'G2', '2', 300, T0, T0 + H);
    await post.facility(t, [...meter('it', 'itPowerW', 10_000, T0, T0 + 2 * H), ...meter('site', 'facilityPowerW', 12_000, T0, T0 + 2 * H), ...meter('grid', 'gridCo2GPerKWh', 100, T0, T0 + 2 * H)]);
    const first = await byProject(t, T0, T0 + 2 * H);
    // Two hours of 10 kW IT and 12 kW facility: a took 0.5 kWh of the first hour's 10.
    expect(first.byKey.a!.itEnergyKWh).toBeCloseTo(0.5, 9);
    expect(first.byKey.a!.overheadKWh).toBeCloseTo(0.5 * 0.2, 9);
    expect(first.totals.itEnergyKWh).toBeCloseTo(20, 9);

    // Samples of job 3 in the second hour arrive before its record: its energy waits unattributed.
    await post.gpu(t, 'n3', 'G3', '3', 400, T0 + H, T0 + 2 * H);
    expect((await byProject(t, T0, T0 + 2 * H)).byKey.c).toBeUndefined();
    await post.jobs(t, [{ jobId: '3', account: 'c', startTime: iso(T0 + H), endTime: iso(T0 + 2 * H) }]);
    const late = await byProject(t, T0, T0 + 2 * H);
    expect(late.byKey.c!.itEnergyKWh).toBeCloseTo(0.4, 9);
    expect(late.byKey.c!.overheadKWh).toBeCloseTo(0.4 * 0.2, 9);
    expect(late.byKey.c!.co2Kg).toBeCloseTo((0.4 / 10) * 12 * 0.1, 9);
    expect(late.byKey['(unattributed)']!.itEnergyKWh).toBeCloseTo(20 - 0.5 - 0.3 - 0.4, 9);

    // Job 1 is re-sent under another account; reused heat arrives late for the first hour.
    await post.jobs(t, [{ jobId: '1', account: 'd', startTime: iso(T0), endTime: iso(T0 + H) }]);
    await post.facility(t, meter('dh', 'heatReusedW', 5_000, T0, T0 + H));
    const after = await byProject(t, T0, T0 + 2 * H);
    expect(after.byKey.a).toBeUndefined();
    expect(after.byKey.d!.itEnergyKWh).toBeCloseTo(0.5, 9);
    expect(after.byKey.d!.reusedHeatKWh).toBeCloseTo((0.5 / 10) * 5, 9);
    expect(after.totals.reusedHeatKWh).toBeCloseTo(5, 9);

    // energy_job keeps each job's figures over its stored hours (migration 0020), as they
    // are after the re-sent record and the late heat: job 1 had 0.5 kWh of the first hour's
    // 10 kWh IT and 12 kWh facility, 5 kWh reused, 100 g/kWh.
    t.compact();
    const jobRows = () => t.db.$client.prepare('SELECT * FROM energy_job ORDER BY cluster, job_id').all() as Array<Record<string, number | string>>;
    const incremental = jobRows();
    const job1 = incremental.find((r) => r.job_id === '1')!;
    expect(job1.account).toBe('d');
    expect(job1.energy_kwh).toBeCloseTo(0.5, 9);
    expect(job1.gpu_s).toBeCloseTo(3600, 6);
    expect(job1.inferred_kwh).toBe(0);
    expect(job1.overhead_kwh).toBeCloseTo(0.5 * 0.2, 9);
    expect(job1.reused_kwh).toBeCloseTo((0.5 / 10) * 5, 9);
    expect(job1.co2_kg).toBeCloseTo((0.5 / 10) * 12 * 0.1, 9);

    rebuildAttribution(t.db.$client, T0 + 48 * H);
    const fromRebuild = jobRows();
    expect(fromRebuild.map((r) => [r.job_id, r.account, r.first_hour_ts, r.last_hour_ts])).toEqual(incremental.map((r) => [r.job_id, r.account, r.first_hour_ts, r.last_hour_ts]));
    for (const [i, r] of fromRebuild.entries()) {
      for (const c of ['energy_kwh', 'inferred_kwh', 'gpu_s', 'util_pct_s', 'idle_gpu_s', 'overhead_kwh', 'reused_kwh', 'co2_kg']) expect(r[c]).toBeCloseTo(incremental[i]![c] as number, 9);
    }
    const rebuilt = await byProject(t, T0, T0 + 2 * H);
    expect(rebuilt.rows.map((r) => r.key)).toEqual(after.rows.map((r) => r.key));
    for (const [i, r] of rebuilt.rows.entries()) {
      for (const f of ['itEnergyKWh', 'overheadKWh', 'reusedHeatKWh', 'co2Kg', 'co2AvoidedKg'] as const) expect(r[f]).toBeCloseTo(after.rows[i]![f], 9);
    }
  });

  it('computes the hour not yet complete live and stores it once it is', async () => {
    const t = makeApp({ now: T0 + H / 2 });
    await post.jobs(t, [{ jobId: '1', account: 'a', startTime: iso(T0 - H), endTime: null, state: 'RUNNING' }]);
    await post.gpu(t, 'n1', 'G1', '1', 600, T0 - H, T0 + H / 2);
    const live = await byProject(t, T0 - H, T0 + H / 2);
    expect(live.byKey.a!.itEnergyKWh).toBeCloseTo(0.6 * 1.5, 9);
    t.compact();
    const stored = () => t.db.$client.prepare('SELECT hour_ts AS h FROM energy_project_hour WHERE account = ? ORDER BY 1').all('a');
    expect(stored()).toEqual([{ h: T0 - H }]);
    t.setNow(T0 + 2 * H);
    await post.gpu(t, 'n1', 'G1', '1', 600, T0 + H / 2 + 60_000, T0 + H);
    expect((await byProject(t, T0 - H, T0 + H)).byKey.a!.itEnergyKWh).toBeCloseTo(1.2, 9);
    // Reads leave the stored hours alone; the compactor stores the hour now complete.
    expect(stored()).toEqual([{ h: T0 - H }]);
    t.compact();
    expect(stored()).toEqual([{ h: T0 - H }, { h: T0 }]);
    expect((await byProject(t, T0 - H, T0 + H)).byKey.a!.itEnergyKWh).toBeCloseTo(1.2, 9);
  });

  it.each([
    ['its few jobs read by first hour', 20_000],
    ['along the energy index', 0],
  ])('pages jobs by energy in the window, the remainder last, and the pages sum to the meters (%s)', async (_, fewInside) => {
    insideScan.fewInside = fewInside;
    onTestFinished(() => void (insideScan.fewInside = 20_000));
    // Now falls in the window's last hour, which is then computed live.
    const t = makeApp({ now: T0 + 2.5 * H });
    const now = T0 + 2.5 * H;
    const short = [100, 200, 300, 400, 500].map((w, i) => ({ id: `s${i}`, w }));
    await post.jobs(t, [
      ...short.map((s) => ({ jobId: s.id, account: 'a', startTime: iso(T0 + H), endTime: iso(T0 + 2 * H) })),
      // x started an hour before the window: only its hours from the window's first count.
      { jobId: 'x', account: 'b', startTime: iso(T0), endTime: null, state: 'RUNNING' },
      { jobId: 'y', account: 'b', startTime: iso(T0 + H), endTime: null, state: 'RUNNING' },
    ]);
    for (const [i, s] of short.entries()) await post.gpu(t, `n${i}`, `G${i}`, s.id, s.w, T0 + H, T0 + 2 * H);
    await post.gpu(t, 'nx', 'GX', 'x', 600, T0, now);
    await post.gpu(t, 'ny', 'GY', 'y', 700, T0 + H, now);
    await post.facility(t, [...meter('it', 'itPowerW', 10_000, T0, now), ...meter('site', 'facilityPowerW', 11_000, T0, now)]);
    const [fromMs, toMs] = [T0 + H, T0 + 2.5 * H];
    const pages = [await jobPage(t, fromMs, toMs, 3)];
    while (pages.at(-1)!.nextCursor) pages.push(await jobPage(t, fromMs, toMs, 3, pages.at(-1)!.nextCursor!));
    const rows = pages.flatMap((p) => p.rows);
    expect(pages.map((p) => p.rows.length)).toEqual([3, 3, 2]);
    expect(pages.every((p) => p.total === 8)).toBe(true);
    expect(rows.map((r) => r.key)).toEqual(['c:y', 'c:x', 'c:s4', 'c:s3', 'c:s2', 'c:s1', 'c:s0', '(unattributed)']);
    expect(rows.slice(0, 3).map((r) => r.itEnergyKWh)).toEqual([expect.closeTo(0.7 * 1.5, 9), expect.closeTo(0.6 * 1.5, 9), expect.closeTo(0.5, 9)]);
    // The window's facility energy up to `to` (1.5 h of 11 kW), shared out with nothing lost between pages.
    const total = (f: 'itEnergyKWh' | 'overheadKWh') => rows.reduce((s, r) => s + r[f], 0);
    expect(total('itEnergyKWh') + total('overheadKWh')).toBeCloseTo(1.5 * 11, 9);
    expect(total('itEnergyKWh')).toBeCloseTo(pages[0]!.totals.itEnergyKWh, 9);
    expect(pages[0]!.totals.itEnergyKWh).toBeCloseTo((await byProject(t, fromMs, toMs)).totals.itEnergyKWh, 9);

    // A late sample of x, which crosses the window's start, in a complete hour: what was kept of the stored hours follows.
    await post.gpu(t, 'nx2', 'GX2', 'x', 600, T0 + H, T0 + 2 * H);
    const again = await jobPage(t, fromMs, toMs, 3);
    expect(again.rows.map((r) => r.key)).toEqual(['c:x', 'c:y', 'c:s4']);
    expect(again.rows[0]!.itEnergyKWh).toBeCloseTo(0.6 * 1.5 + 0.6, 9);
  });

  it('counts jobs by their first stored hour as energy_job holds them, through late samples, a forgotten job and a rebuild', async () => {
    const t = makeApp({ now: T0 + 10 * H });
    const counts = () => t.db.$client.prepare('SELECT hour_ts AS h, jobs AS n FROM energy_job_first_hour WHERE jobs <> 0 ORDER BY 1').all();
    const direct = () => t.db.$client.prepare('SELECT first_hour_ts AS h, COUNT(*) AS n FROM energy_job GROUP BY 1 ORDER BY 1').all();
    await post.jobs(t, [
      { jobId: '1', account: 'a', startTime: iso(T0), endTime: iso(T0 + 3 * H) },
      { jobId: '2', account: 'a', startTime: iso(T0 + H), endTime: iso(T0 + 3 * H) },
    ]);
    await post.gpu(t, 'n1', 'G1', '1', 500, T0 + 2 * H, T0 + 3 * H);
    await post.gpu(t, 'n2', 'G2', '2', 500, T0 + H, T0 + 3 * H);
    const first = await jobPage(t, T0, T0 + 4 * H, 10);
    t.compact();
    expect(counts()).toEqual([{ h: T0 + H, n: 1 }, { h: T0 + 2 * H, n: 1 }]);
    // Two jobs and the remainder.
    expect(first.total).toBe(3);
    // Job 1's first two hours arrive late: its first hour moves from T0 + 2 h to T0.
    await post.gpu(t, 'n1', 'G1', '1', 500, T0, T0 + 2 * H - 60_000);
    const late = await jobPage(t, T0 + H, T0 + 4 * H, 10);
    t.compact();
    expect(counts()).toEqual([{ h: T0, n: 1 }, { h: T0 + H, n: 1 }]);
    // From T0 + 1 h, job 2 starts in the window (counted per hour) and job 1 runs into it (summed apart).
    expect(late.total).toBe(3);
    expect(late.rows.map((r) => r.key)).toEqual(['c:2', 'c:1', '(unattributed)']);
    expect((await jobPage(t, T0 + 2 * H, T0 + 4 * H, 10)).total).toBe(3);
    // Job 2's record goes: it leaves energy_job.
    t.db.$client.prepare("DELETE FROM jobs WHERE job_id = '2'").run();
    await jobPage(t, T0, T0 + 4 * H, 10);
    t.compact();
    expect(counts()).toEqual([{ h: T0, n: 1 }]);
    expect(counts()).toEqual(direct());
    rebuildAttribution(t.db.$client, T0 + 10 * H);
    expect(counts()).toEqual(direct());
    expect(direct()).toEqual([{ h: T0, n: 1 }]);
  });

  it('gives a job the energy inferred for it when its record arrives after the hour was stored', async () => {
    const t = makeApp();
    // Node n1 for an hour: GPUs 0-1 busy at 500 W and 2-3 idle at 80 W, none naming a job.
    const samples = [0, 1, 2, 3].flatMap((i) => series(T0, T0 + H, 60, { gpuUuid: `GPU-${i}`, gpuIndex: i, powerW: i < 2 ? 500 : 80, jobIds: [] }));
    expect((await t.client.api.v1.ingest.gpu.$post({ json: { schema: 1, cluster: 'c', node: 'n1', samples } }, t.auth(t.tokens.ingest))).status).toBe(202);
    expect((await byProject(t, T0, T0 + H)).byKey['(unattributed)']!.itEnergyKWh).toBeCloseTo(1.16, 9);
    t.compact();
    expect(t.count('energy_hour')).toBe(1);
    await post.jobs(t, [{ jobId: '7', account: 'a', gpus: 2, nodes: ['n1'], startTime: iso(T0), endTime: iso(T0 + H) }]);
    // The job held 2 of the node's 4 unnamed GPU-hours: half of their 1.16 kWh.
    const after = await byProject(t, T0, T0 + H);
    expect(after.byKey.a!.itEnergyKWh).toBeCloseTo(0.58, 9);
    expect(after.byKey['(unattributed)']!.itEnergyKWh).toBeCloseTo(0.58, 9);
    expect((await jobPage(t, T0, T0 + H, 10)).rows.map((r) => [r.key, r.itEnergyKWh])).toEqual([['c:7', expect.closeTo(0.58, 9)], ['(unattributed)', expect.closeTo(0.58, 9)]]);
  });

  it('refuses a cursor it did not give', async () => {
    const t = makeApp();
    const res = await t.client.api.v1.energy.jobs.$get({ query: { cursor: 'not-a-cursor' } }, t.auth(t.tokens.read));
    expect(res.status).toBe(400);
    expect((await t.client.api.v1.jobs.$get({ query: { limit: '0' } }, t.auth(t.tokens.read))).status).toBe(400);
  });
});

describe('job list pages', () => {
  it('lists jobs newest first a page at a time, with their share of reused heat', async () => {
    const t = makeApp();
    await post.jobs(t, [
      ...[0, 1, 2, 3, 4].map((i) => ({ jobId: `j${i}`, startTime: iso(T0 + i * 600_000), endTime: iso(T0 + H) })),
      // Started long before the window and still running; and one waiting in the queue.
      { jobId: 'old', submitTime: iso(T0 - 21 * H), startTime: iso(T0 - 20 * H), endTime: null, state: 'RUNNING' },
      { jobId: 'queued', submitTime: iso(T0 + 5 * 600_000), startTime: null, endTime: null, state: 'PENDING', nodes: [] },
    ]);
    await post.gpu(t, 'n1', 'G1', 'j4', 800, T0 + 4 * 600_000, T0 + H);
    await post.facility(t, [...meter('it', 'itPowerW', 10_000, T0, T0 + H), ...meter('dh', 'heatReusedW', 6_000, T0, T0 + H)]);
    const query = { from: iso(T0), to: iso(T0 + H), limit: '3' };
    const first = await (await t.client.api.v1.jobs.$get({ query }, t.auth(t.tokens.read))).json();
    const second = await (await t.client.api.v1.jobs.$get({ query: { ...query, cursor: first.nextCursor! } }, t.auth(t.tokens.read))).json();
    const third = await (await t.client.api.v1.jobs.$get({ query: { ...query, cursor: second.nextCursor! } }, t.auth(t.tokens.read))).json();
    expect([first, second, third].map((p) => p.rows.map((r) => r.jobId))).toEqual([['queued', 'j4', 'j3'], ['j2', 'j1', 'j0'], ['old']]);
    expect(third.nextCursor).toBeNull();
    // j4 drew 800 W for 20 minutes of the hour's 10 kWh IT: its share of 6 kWh reused heat.
    const j4 = first.rows[1]!;
    expect(j4.energyKWh).toBeCloseTo(0.8 / 3, 9);
    expect(j4.reusedHeatKWh).toBeCloseTo((0.8 / 3 / 10) * 6, 9);
    expect(first.rows[2]!.reusedHeatKWh).toBeNull();
  });
});
