import { describe, expect, it } from 'vitest';
import { forgetPerson } from '../../server/services/privacy.service.ts';
import { H, T0, iso, job, makeApp, sample, series } from '../support/factories.ts';

const gpuBatch = (samples: ReturnType<typeof series>, node = 'gpu-n01') => ({ schema: 1 as const, cluster: 'bitten', node, samples });
const jobsBatch = (jobs: ReturnType<typeof job>[]) => ({ schema: 1 as const, cluster: 'bitten', jobs });

describe('ingest endpoints', () => {
  it('answers health without credentials', async () => {
    const { client } = makeApp();
    const res = await client.api.health.$get();
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', demoHistory: null });
  });

  it('refuses a batch with one bad sample whole, naming the field, and stores nothing', async () => {
    const t = makeApp();
    const samples = series(T0, T0 + 60_000, 10);
    (samples[3] as Record<string, unknown>).powerW = 'lots';
    const res = await t.client.api.v1.ingest.gpu.$post({ json: gpuBatch(samples) }, t.auth(t.tokens.ingest));
    expect(res.status).toBe(400);
    const body = (await res.json()) as unknown as { error: { code: string; message: string } };
    expect(body.error.code).toBe('VALIDATION');
    expect(body.error.message).toContain('samples.3.powerW');
    expect(t.count('gpu_samples')).toBe(0);
    expect(t.count('gpus')).toBe(0);
  });

  it('refuses malformed JSON and an unknown schema version', async () => {
    const t = makeApp();
    const raw = await t.app.request('/api/v1/ingest/gpu', {
      method: 'POST',
      headers: { authorization: `Bearer ${t.tokens.ingest}`, 'content-type': 'application/json' },
      body: '{"schema": 1, "samples": [',
    });
    expect(raw.status).toBe(400);
    const v2 = await t.client.api.v1.ingest.gpu.$post({ json: { ...gpuBatch([]), schema: 2 as 1 } }, t.auth(t.tokens.ingest));
    expect(v2.status).toBe(400);
    expect(((await v2.json()) as unknown as { error: { message: string } }).error.message).toMatch(/^schema:/);
  });

  it('refuses a sample far in the future with the reason', async () => {
    const t = makeApp({ now: T0 });
    const res = await t.client.api.v1.ingest.gpu.$post({ json: gpuBatch([sample({ ts: iso(T0 + 2 * H) })]) }, t.auth(t.tokens.ingest));
    expect(res.status).toBe(400);
    expect(((await res.json()) as unknown as { error: { message: string } }).error.message).toBe(`samples.0.ts: ${iso(T0 + 2 * H)} is in the future`);
  });

  it('stores a re-sent batch once and says so', async () => {
    const t = makeApp();
    const batch = gpuBatch(series(T0, T0 + 50_000, 10));
    const first = await t.client.api.v1.ingest.gpu.$post({ json: batch }, t.auth(t.tokens.ingest));
    expect(first.status).toBe(202);
    expect(await first.json()).toEqual({ accepted: 6, duplicates: 0 });
    const again = await t.client.api.v1.ingest.gpu.$post({ json: batch }, t.auth(t.tokens.ingest));
    expect(await again.json()).toEqual({ accepted: 0, duplicates: 6 });
    expect(t.count('gpu_samples')).toBe(6);
  });

  it('recognises a replayed batch by its idempotency key', async () => {
    const t = makeApp();
    const batch = gpuBatch(series(T0, T0 + 20_000, 10));
    const headers = { authorization: `Bearer ${t.tokens.ingest}`, 'idempotency-key': 'k-1' };
    await t.client.api.v1.ingest.gpu.$post({ json: batch }, { headers });
    const again = await t.client.api.v1.ingest.gpu.$post({ json: batch }, { headers });
    expect(await again.json()).toEqual({ accepted: 0, duplicates: 3 });
  });

  it('answers 413 for a body over the limit', async () => {
    const t = makeApp({ config: { maxBodyBytes: 10_000 } });
    const res = await t.client.api.v1.ingest.gpu.$post({ json: gpuBatch(series(T0, T0 + 600_000, 10)) }, t.auth(t.tokens.ingest));
    expect(res.status).toBe(413);
    expect(((await res.json()) as unknown as { error: { code: string } }).error.code).toBe('TOO_LARGE');
  });

  it('checks credentials and scopes', async () => {
    const t = makeApp();
    const batch = gpuBatch([sample({ ts: iso(T0) })]);
    expect((await t.client.api.v1.ingest.gpu.$post({ json: batch })).status).toBe(401);
    expect((await t.client.api.v1.ingest.gpu.$post({ json: batch }, t.auth('hl_ingest_wrong'))).status).toBe(401);
    expect((await t.client.api.v1.ingest.gpu.$post({ json: batch }, t.auth(t.tokens.read))).status).toBe(403);
    expect((await t.client.api.v1.usage.$get({ query: {} }, t.auth(t.tokens.ingest))).status).toBe(403);
    expect((await t.client.api.v1.usage.$get({ query: {} })).status).toBe(401);
  });
});

describe('usage', () => {
  const window = (fromMs: number, toMs: number, groupBy: 'project' | 'user' | 'partition' | 'day' = 'project') => ({
    query: { from: iso(fromMs), to: iso(toMs), groupBy },
  });

  it('charges allocated GPUs × running time, clipped to the window, running jobs up to now', async () => {
    const t = makeApp({ now: T0 + 5 * H });
    await t.client.api.v1.ingest.jobs.$post(
      {
        json: jobsBatch([
          // 2 GPUs for 2.5 h: 5 GPU-hours, 2 of them inside 11:00-12:00.
          job({ jobId: '1', gpus: 2, startTime: iso(T0), endTime: iso(T0 + 2.5 * H) }),
          // 4 GPUs since 13:00, still running at 15:00: 8 GPU-hours so far.
          job({ jobId: '2', gpus: 4, state: 'RUNNING', startTime: iso(T0 + 3 * H), endTime: null, account: 'proj-b', user: 'bob' }),
          // Pending jobs use nothing.
          job({ jobId: '3', gpus: 8, state: 'PENDING', startTime: null, endTime: null }),
        ]),
      },
      t.auth(t.tokens.ingest),
    );
    const all = await (await t.client.api.v1.usage.$get(window(T0 - H, T0 + 10 * H), t.auth(t.tokens.read))).json();
    expect(all.rows.map((r) => [r.key, r.gpuHours, r.jobs])).toEqual([
      ['proj-b', 8, 1],
      ['proj-a', 5, 1],
    ]);
    const hour = await (await t.client.api.v1.usage.$get(window(T0 + H, T0 + 2 * H), t.auth(t.tokens.read))).json();
    expect(hour.rows).toHaveLength(1);
    expect(hour.rows[0]!.gpuHours).toBeCloseTo(2, 9);
  });

  it('splits GPU-hours by day, user and partition', async () => {
    const t = makeApp();
    const midnight = Date.parse('2026-11-21T00:00:00.000Z');
    await t.client.api.v1.ingest.jobs.$post(
      {
        json: jobsBatch([
          job({ jobId: '7', gpus: 3, startTime: iso(midnight - 2 * H), endTime: iso(midnight + 4 * H), user: 'carol', partition: 'long' }),
          job({ jobId: '8', gpus: 1, startTime: iso(midnight + H), endTime: iso(midnight + 2 * H), user: 'dave' }),
        ]),
      },
      t.auth(t.tokens.ingest),
    );
    const byDay = await (await t.client.api.v1.usage.$get(window(midnight - 24 * H, midnight + 24 * H, 'day'), t.auth(t.tokens.read))).json();
    expect(byDay.rows.map((r) => [r.key, r.gpuHours])).toEqual([
      ['2026-11-20', 6],
      ['2026-11-21', 13],
    ]);
    const byUser = await (await t.client.api.v1.usage.$get(window(midnight - 24 * H, midnight + 24 * H, 'user'), t.auth(t.tokens.read))).json();
    expect(byUser.rows.map((r) => [r.key, r.gpuHours])).toEqual([
      ['carol', 18],
      ['dave', 1],
    ]);
    const byPartition = await (await t.client.api.v1.usage.$get(window(midnight - 24 * H, midnight + 24 * H, 'partition'), t.auth(t.tokens.read))).json();
    expect(byPartition.rows.map((r) => r.key)).toEqual(['long', 'gpu']);
  });

  it('reports measured GPU energy of the job as the trapezoid integral of its power', async () => {
    const t = makeApp();
    await t.client.api.v1.ingest.jobs.$post({ json: jobsBatch([job({ jobId: '42', startTime: iso(T0), endTime: iso(T0 + H) })]) }, t.auth(t.tokens.ingest));
    // Power ramps 100 W → 700 W over the hour, sampled every 10 s: the mean is 400 W, so 0.4 kWh.
    const samples = series(T0, T0 + H, 10, { jobIds: ['42'] }).map((s, i) => ({ ...s, powerW: 100 + (600 * i) / 360 }));
    await t.client.api.v1.ingest.gpu.$post({ json: gpuBatch(samples) }, t.auth(t.tokens.ingest));
    const res = await (await t.client.api.v1.usage.$get(window(T0, T0 + H), t.auth(t.tokens.read))).json();
    expect(res.rows[0]!.key).toBe('proj-a');
    expect(res.rows[0]!.energyKWh).toBeCloseTo(0.4, 9);
    expect(res.rows[0]!.measuredGpuHours).toBeCloseTo(1, 9);
  });

  it('gives the same energy whatever order and however often samples arrive', async () => {
    const inOrder = makeApp();
    const shuffled = makeApp();
    for (const t of [inOrder, shuffled]) {
      await t.client.api.v1.ingest.jobs.$post(
        { json: jobsBatch([job({ jobId: '1', startTime: iso(T0), endTime: iso(T0 + H) }), job({ jobId: '2', account: 'proj-b', startTime: iso(T0 + H), endTime: iso(T0 + 2 * H) })]) },
        t.auth(t.tokens.ingest),
      );
    }
    const samples = series(T0, T0 + 2 * H, 30).map((s, i) => ({ ...s, powerW: 80 + ((i * 37) % 600), jobIds: [Date.parse(s.ts) < T0 + H ? '1' : '2'] }));
    await inOrder.client.api.v1.ingest.gpu.$post({ json: gpuBatch(samples) }, inOrder.auth(inOrder.tokens.ingest));
    // A deterministic shuffle, sent in small batches, every batch twice.
    const order = samples.map((s, i) => ({ s, k: (i * 7919) % samples.length })).sort((a, b) => a.k - b.k).map((x) => x.s);
    for (let i = 0; i < order.length; i += 17) {
      const part = gpuBatch(order.slice(i, i + 17));
      await shuffled.client.api.v1.ingest.gpu.$post({ json: part }, shuffled.auth(shuffled.tokens.ingest));
      await shuffled.client.api.v1.ingest.gpu.$post({ json: part }, shuffled.auth(shuffled.tokens.ingest));
    }
    // Expected, worked out directly: trapezoids over consecutive 30 s samples, each half to its nearer sample's job.
    const expected = new Map<string, number>();
    for (let i = 0; i + 1 < samples.length; i++) {
      const [a, b] = [samples[i]!, samples[i + 1]!];
      const mid = (a.powerW! + b.powerW!) / 2;
      const firstHalfWh = ((a.powerW! + mid) / 2) * 15 / 3600;
      const secondHalfWh = ((mid + b.powerW!) / 2) * 15 / 3600;
      expected.set(a.jobIds![0]!, (expected.get(a.jobIds![0]!) ?? 0) + firstHalfWh);
      expected.set(b.jobIds![0]!, (expected.get(b.jobIds![0]!) ?? 0) + secondHalfWh);
    }
    for (const t of [inOrder, shuffled]) {
      const res = await (await t.client.api.v1.usage.$get(window(T0, T0 + 2 * H), t.auth(t.tokens.read))).json();
      const energy = Object.fromEntries(res.rows.map((r) => [r.key, r.energyKWh]));
      expect(energy['proj-a']).toBeCloseTo(expected.get('1')! / 1000, 9);
      expect(energy['proj-b']).toBeCloseTo(expected.get('2')! / 1000, 9);
    }
    expect(shuffled.count('gpu_samples')).toBe(samples.length);
  });

  it('does not bridge a sampling gap longer than the bound', async () => {
    const t = makeApp();
    await t.client.api.v1.ingest.jobs.$post({ json: jobsBatch([job({ jobId: '5', startTime: iso(T0), endTime: iso(T0 + H) })]) }, t.auth(t.tokens.ingest));
    // 500 W for 10 minutes, a 20-minute hole, then 10 more minutes: 2 × 500 W × 600 s.
    const samples = [...series(T0, T0 + 600_000, 60, { jobIds: ['5'], powerW: 500 }), ...series(T0 + 1_800_000, T0 + 2_400_000, 60, { jobIds: ['5'], powerW: 500 })];
    await t.client.api.v1.ingest.gpu.$post({ json: gpuBatch(samples) }, t.auth(t.tokens.ingest));
    const res = await (await t.client.api.v1.usage.$get(window(T0, T0 + H), t.auth(t.tokens.read))).json();
    expect(res.rows[0]!.energyKWh).toBeCloseTo((2 * 500 * 600) / 3.6e6, 9);
  });

  it('replaces a job record as it moves PENDING → RUNNING → COMPLETED and keeps the usage rollup exact', async () => {
    const t = makeApp({ now: T0 + 10 * H });
    const send = (j: ReturnType<typeof job>) => t.client.api.v1.ingest.jobs.$post({ json: jobsBatch([j]) }, t.auth(t.tokens.ingest));
    await send(job({ jobId: '9', state: 'PENDING', startTime: null, endTime: null, gpus: 2 }));
    await send(job({ jobId: '9', state: 'RUNNING', endTime: null, gpus: 2 }));
    await send(job({ jobId: '9', state: 'COMPLETED', endTime: iso(T0 + 3 * H), gpus: 2 }));
    const again = await send(job({ jobId: '9', state: 'COMPLETED', endTime: iso(T0 + 3 * H), gpus: 2 }));
    expect(await again.json()).toEqual({ accepted: 0, duplicates: 1 });
    // A correction (Slurm's record ends earlier) replaces the contribution rather than adding to it.
    await send(job({ jobId: '9', state: 'COMPLETED', endTime: iso(T0 + 2 * H), gpus: 2 }));
    expect(t.count('jobs')).toBe(1);
    const day = t.db.$client.prepare('SELECT SUM(alloc_gpu_s) AS s, SUM(jobs_started) AS n FROM usage_day').get() as { s: number; n: number };
    expect(day).toEqual({ s: 2 * 2 * 3600, n: 1 });
    const month = t.db.$client.prepare('SELECT SUM(alloc_gpu_s) AS s, SUM(jobs_active) AS n FROM usage_month').get() as { s: number; n: number };
    expect(month).toEqual({ s: 2 * 2 * 3600, n: 1 });
  });
});

describe('job records that must not replace newer ones', () => {
  it('ignores a RUNNING record replayed after the job ended', async () => {
    const t = makeApp({ now: T0 + 10 * H });
    const send = (j: ReturnType<typeof job>) => t.client.api.v1.ingest.jobs.$post({ json: jobsBatch([j]) }, t.auth(t.tokens.ingest));
    await send(job({ jobId: '9', state: 'COMPLETED', endTime: iso(T0 + 2 * H), gpus: 2 }));
    const replay = await send(job({ jobId: '9', state: 'RUNNING', endTime: null, gpus: 2 }));
    expect(await replay.json()).toEqual({ accepted: 0, duplicates: 1 });
    expect(t.db.$client.prepare('SELECT state, end_ts AS endTs FROM jobs').get()).toEqual({ state: 'COMPLETED', endTs: T0 + 2 * H });
  });

  it('stores a re-sent record of a forgotten person under their pseudonym, never their name', async () => {
    const t = makeApp();
    await t.client.api.v1.ingest.jobs.$post({ json: jobsBatch([job({ jobId: '1', user: 'alice' })]) }, t.auth(t.tokens.ingest));
    const { pseudonym } = forgetPerson(t.db.$client, 'alice', { nowMs: T0, actor: 'test' });
    await t.client.api.v1.ingest.jobs.$post({ json: jobsBatch([job({ jobId: '1', user: 'alice', state: 'FAILED' }), job({ jobId: '2', user: 'alice' })]) }, t.auth(t.tokens.ingest));
    const users = t.db.$client.prepare('SELECT DISTINCT user FROM jobs').all();
    expect(users).toEqual([{ user: pseudonym }]);
    expect(t.db.$client.prepare("SELECT COUNT(*) AS n FROM users WHERE username = 'alice'").get()).toEqual({ n: 0 });
  });
});

describe('who sees what', () => {
  it('shows a researcher only their projects and only their own per-user row; keeps users from the committee', async () => {
    const t = makeApp();
    await t.client.api.v1.ingest.jobs.$post(
      { json: jobsBatch([job({ jobId: '1', user: 'alice' }), job({ jobId: '2', user: 'erin' }), job({ jobId: '3', account: 'proj-b', user: 'bob' })]) },
      t.auth(t.tokens.ingest),
    );
    t.addPerson('alice', 'researcher', ['proj-a']);
    t.addPerson('cora', 'committee');
    const login = async (username: string) => {
      const res = await t.client.api.v1.auth.login.$post({ json: { username, password: 'correct horse' } });
      expect(res.status).toBe(200);
      return { headers: { cookie: res.headers.get('set-cookie')!.split(';')[0]! } };
    };
    const alice = await login('alice');
    const q = (groupBy: 'project' | 'user') => ({ query: { from: iso(T0 - H), to: iso(T0 + 2 * H), groupBy } });
    const projects = await (await t.client.api.v1.usage.$get(q('project'), alice)).json();
    expect(projects.rows.map((r) => [r.key, r.gpuHours])).toEqual([['proj-a', 2]]);
    const users = await (await t.client.api.v1.usage.$get(q('user'), alice)).json();
    expect(users.rows.map((r) => r.key)).toEqual(['alice']);
    const cora = await login('cora');
    expect((await t.client.api.v1.usage.$get(q('user'), cora)).status).toBe(403);
    expect((await (await t.client.api.v1.usage.$get(q('project'), cora)).json()).rows).toHaveLength(2);
    const wrong = await t.client.api.v1.auth.login.$post({ json: { username: 'alice', password: 'wrong password' } });
    expect(wrong.status).toBe(401);
  });
});

describe('facility ingest', () => {
  it('integrates a power meter into 5-minute intervals and a counter by differences, resets not negative', async () => {
    const t = makeApp();
    const readings = [
      { ts: iso(T0), meter: 'site-main', quantity: 'facilityPowerW' as const, value: 100_000 },
      { ts: iso(T0 + 300_000), meter: 'site-main', quantity: 'facilityPowerW' as const, value: 100_000 },
      { ts: iso(T0 + 600_000), meter: 'site-main', quantity: 'facilityPowerW' as const, value: 100_000 },
      // Eleven minutes later: a gap over five minutes is not bridged.
      { ts: iso(T0 + 1_260_000), meter: 'site-main', quantity: 'facilityPowerW' as const, value: 100_000 },
      { ts: iso(T0), meter: 'site-water', quantity: 'waterL' as const, value: 1000 },
      { ts: iso(T0 + 300_000), meter: 'site-water', quantity: 'waterL' as const, value: 1010 },
      { ts: iso(T0 + 600_000), meter: 'site-water', quantity: 'waterL' as const, value: 4 },
    ];
    const res = await t.client.api.v1.ingest.facility.$post({ json: { schema: 1, site: 'bitten', readings } }, t.auth(t.tokens.ingest));
    expect(await res.json()).toEqual({ accepted: 7, duplicates: 0 });
    const rows = t.db.$client
      .prepare("SELECT quantity, SUM(integral_wh) AS wh, SUM(increase) AS inc FROM facility_interval GROUP BY quantity ORDER BY quantity")
      .all();
    // 100 kW for 10 minutes = 16,666.67 Wh; the water counter rose 10 L, then reset.
    expect(rows).toEqual([
      { quantity: 'facilityPowerW', wh: expect.closeTo(100_000 / 6, 6), inc: 0 },
      { quantity: 'waterL', wh: 0, inc: 10 },
    ]);
  });
});
