/**
 * GET /metrics: what a Prometheus scrape holds, worked out by hand from the records sent.
 */
import { describe, expect, it } from 'vitest';
import { createAllocation } from '../../server/services/allocation.service.ts';
import { allowed } from '../../server/app.ts';
import { H, T0, iso, job, makeApp, series } from '../support/factories.ts';

/** Sample lines of an exposition as name{labels} → value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

async function setUp() {
  const now = T0 + 3 * H + 7 * 60_000;
  const t = makeApp({ now });
  const post = (kind: string, body: unknown) =>
    t.app.request(`/api/v1/ingest/${kind}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', authorization: `Bearer ${t.tokens.ingest}` } });
  // proj-a: 2 GPUs for 1 h (ended) on gpu; proj-b: 1 GPU running since T0 + 2 h on partition debug; a job pending since T0.
  const jobs = [
    job({ jobId: '1', gpus: 2, nodes: ['n1'] }),
    job({ jobId: '2', account: 'proj-b', user: 'bob', partition: 'debug', state: 'RUNNING', startTime: iso(T0 + 2 * H), endTime: null }),
    job({ jobId: '3', account: 'proj-b', user: 'bob', partition: 'gpu', state: 'PENDING', submitTime: iso(T0), eligibleTime: iso(T0), startTime: null, endTime: null, gpus: 4 }),
  ];
  expect((await post('jobs', { schema: 1, cluster: 'c', jobs })).status).toBe(202);
  // Job 1's two GPUs at 600 W for its hour, sampled every 60 s: 2 × 600 W × 3600 s.
  const gpu = [...series(T0, T0 + H, 60, { gpuUuid: 'G1', gpuIndex: 0, jobIds: ['1'] }), ...series(T0, T0 + H, 60, { gpuUuid: 'G2', gpuIndex: 1, jobIds: ['1'] })];
  expect((await post('gpu', { schema: 1, cluster: 'c', node: 'n1', samples: gpu })).status).toBe(202);
  // The facility at constant power through the last complete 5-minute interval [T0+3h, T0+3h+5min).
  const readings = [0, 60, 120, 180, 240, 300, 360].flatMap((s) => {
    const ts = iso(T0 + 3 * H + s * 1000);
    return [
      { ts, meter: 'it', quantity: 'itPowerW', value: 100_000 },
      { ts, meter: 'main', quantity: 'facilityPowerW', value: 125_000 },
      { ts, meter: 'heat', quantity: 'heatReusedW', value: 50_000 },
    ];
  });
  expect((await post('facility', { schema: 1, site: 's', readings })).status).toBe(202);
  createAllocation(t.db.$client, { project: 'proj-a', parentId: null, grantedGpuHours: 8, periodStart: iso(T0 - 24 * H), periodEnd: iso(T0 + 24 * H) }, 'test', now);
  return { t, now, post };
}

describe('GET /metrics', () => {
  it('exports project GPU-seconds and energy, the facility, the queue, grants and collector health as worked out by hand', async () => {
    const { t, now } = await setUp();
    const res = await t.app.request('/metrics', t.auth(t.tokens.read));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await res.text();
    const m = samples(text);
    expect(m.get('heatledger_project_gpu_seconds_total{project="proj-a",partition="gpu"}')).toBe(2 * 3600);
    // Running since T0 + 2 h, 1 GPU, up to now (T0 + 3 h 7 min).
    expect(m.get('heatledger_project_gpu_seconds_total{project="proj-b",partition="debug"}')).toBe(3600 + 7 * 60);
    expect(m.get('heatledger_project_gpu_energy_joules_total{project="proj-a"}')).toBeCloseTo(2 * 600 * 3600, 3);
    expect(m.get('heatledger_facility_power_watts{quantity="it"}')).toBeCloseTo(100_000, 6);
    expect(m.get('heatledger_facility_power_watts{quantity="facility"}')).toBeCloseTo(125_000, 6);
    expect(m.get('heatledger_facility_power_watts{quantity="heat_reused"}')).toBeCloseTo(50_000, 6);
    expect(m.get('heatledger_pue')).toBeCloseTo(1.25, 9);
    expect(m.get('heatledger_erf')).toBeCloseTo(0.4, 9);
    // Heat reused: 50 kW over the one complete interval (5 min) = 15 MJ.
    expect(m.get('heatledger_heat_reused_joules_total')).toBeCloseTo(50_000 * 300, 3);
    expect(m.get('heatledger_queue_pending_jobs{partition="gpu"}')).toBe(1);
    expect(m.get('heatledger_queue_pending_gpus{partition="gpu"}')).toBe(4);
    expect(m.get('heatledger_queue_oldest_wait_seconds{partition="gpu"}')).toBe((now - T0) / 1000);
    // 2 of 8 GPU-hours used.
    expect(m.get('heatledger_grant_used_ratio{project="proj-a"}')).toBeCloseTo(0.25, 9);
    // Node n1's newest sample is at T0 + 1 h; the facility's at T0 + 3 h 6 min.
    expect(m.get('heatledger_source_last_sample_age_seconds{source="gpu",node="c/n1"}')).toBe((now - T0 - H) / 1000);
    expect(m.get('heatledger_source_last_sample_age_seconds{source="facility",node="s/it"}')).toBe(60);
    expect(m.get('process_resident_memory_bytes')).toBeGreaterThan(0);
    // Bounded labels: no job id and no user name anywhere.
    expect(text).not.toMatch(/alice|bob|job_?id/i);
    // Families are typed before their samples.
    expect(text).toMatch(/# TYPE heatledger_project_gpu_seconds_total counter\nheatledger_project_gpu_seconds_total\{/);
  });

  it('answers OpenMetrics when asked, ending in # EOF, with units and counter families named without _total', async () => {
    const { t } = await setUp();
    const res = await t.app.request('/metrics', { headers: { authorization: `Bearer ${t.tokens.read}`, accept: 'application/openmetrics-text; version=1.0.0' } });
    expect(res.headers.get('content-type')).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
    const text = await res.text();
    expect(text.endsWith('# EOF\n')).toBe(true);
    expect(text).toContain('# TYPE heatledger_project_gpu_seconds counter\n# UNIT heatledger_project_gpu_seconds seconds\n');
    expect(samples(text).get('heatledger_project_gpu_seconds_total{project="proj-a",partition="gpu"}')).toBe(7200);
  });

  it('exports each collector\'s spool backlog as its last accepted batch reported it', async () => {
    const { t } = await setUp();
    const send = (backlog: string) =>
      t.app.request('/api/v1/ingest/gpu', {
        method: 'POST',
        body: JSON.stringify({ schema: 1, cluster: 'c', node: 'n7', samples: series(T0, T0 + 60_000, 60, { gpuUuid: 'G7' }) }),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${t.tokens.ingest}`, 'x-heatledger-spool-batches': backlog },
      });
    expect((await send('12')).status).toBe(202);
    expect(samples(await (await t.app.request('/metrics', t.auth(t.tokens.read))).text()).get('heatledger_collector_spool_batches{kind="gpu",source="c/n7"}')).toBe(12);
    expect((await send('0')).status).toBe(202);
    // A header that is not a count is ignored.
    expect((await send('lots')).status).toBe(202);
    expect(samples(await (await t.app.request('/metrics', t.auth(t.tokens.read))).text()).get('heatledger_collector_spool_batches{kind="gpu",source="c/n7"}')).toBe(0);
  });

  it('counts refused batches by kind and reason', async () => {
    const { t, post } = await setUp();
    expect((await post('gpu', { schema: 1, cluster: 'c', node: 'n1', samples: 'nope' })).status).toBe(400);
    expect((await post('gpu', { schema: 1, cluster: 'c', node: 'n1', samples: 'nope' })).status).toBe(400);
    const m = samples(await (await t.app.request('/metrics', t.auth(t.tokens.read))).text());
    expect(m.get('heatledger_ingest_rejected_batches_total{kind="gpu",reason="VALIDATION"}')).toBe(2);
  });

  it('restarts a counter from zero when a correction lowers its total, never decreasing silently', async () => {
    const { t, post } = await setUp();
    const key = 'heatledger_project_gpu_seconds_total{project="proj-a",partition="gpu"}';
    expect(samples(await (await t.app.request('/metrics', t.auth(t.tokens.read))).text()).get(key)).toBe(7200);
    // A late correction: job 1 ran half an hour, not an hour (7200 → 3600 GPU-seconds).
    expect((await post('jobs', { schema: 1, cluster: 'c', jobs: [job({ jobId: '1', gpus: 2, nodes: ['n1'], endTime: iso(T0 + H / 2) })] })).status).toBe(202);
    const after = await (await t.app.request('/metrics', { headers: { authorization: `Bearer ${t.tokens.read}`, accept: 'application/openmetrics-text' } })).text();
    expect(samples(after).get(key)).toBe(0);
    expect(samples(after).get('heatledger_project_gpu_seconds_created{project="proj-a",partition="gpu"}')).toBe((T0 + 3 * H + 7 * 60_000) / 1000);
    // Later use counts from the restart: another 2-GPU hour adds 7200.
    expect((await post('jobs', { schema: 1, cluster: 'c', jobs: [job({ jobId: '4', gpus: 2, nodes: ['n1'], startTime: iso(T0 + H), endTime: iso(T0 + 2 * H) })] })).status).toBe(202);
    expect(samples(await (await t.app.request('/metrics', t.auth(t.tokens.read))).text()).get(key)).toBe(7200);
  });

  it('sees a correction in a month that has ended (its kept sums are dropped)', async () => {
    const { t, post } = await setUp();
    const key = 'heatledger_project_gpu_seconds_total{project="proj-a",partition="gpu"}';
    // A scrape in December keeps November's sums.
    t.setNow(Date.parse('2026-12-02T00:00:00Z'));
    expect(samples(await (await t.app.request('/metrics', t.auth(t.tokens.read))).text()).get(key)).toBe(7200);
    // A second 2-GPU job of proj-a in November, sent late: +3600 GPU-seconds.
    expect((await post('jobs', { schema: 1, cluster: 'c', jobs: [job({ jobId: '5', gpus: 2, nodes: ['n1'], startTime: iso(T0 + 5 * H), endTime: iso(T0 + 5 * H + H / 2) })] })).status).toBe(202);
    expect(samples(await (await t.app.request('/metrics', t.auth(t.tokens.read))).text()).get(key)).toBe(7200 + 3600);
  });

  it('refuses a scrape without a read token unless the address is allowed, and an ingest token always', async () => {
    const { t } = await setUp();
    expect((await t.app.request('/metrics')).status).toBe(401);
    expect((await t.app.request('/metrics', t.auth(t.tokens.ingest))).status).toBe(403);
    // A researcher signed in to the dashboard gets no figures (the projects' totals are not theirs to see).
    t.addPerson('rita', 'researcher', ['proj-a']);
    const login = await t.app.request('http://heatledger.example/api/v1/auth/login', { method: 'POST', body: JSON.stringify({ username: 'rita', password: 'correct horse' }), headers: { 'content-type': 'application/json' } });
    expect(login.status).toBe(200);
    const asRita = await t.app.request('/metrics', { headers: { cookie: login.headers.get('set-cookie')!.split(';')[0]! } });
    expect(asRita.status).toBe(403);
    expect(await asRita.text()).not.toContain('heatledger_project_gpu_seconds_total');
    expect(allowed(['10.0.0.0/8', '192.168.1.5'], '10.20.30.40')).toBe(true);
    expect(allowed(['10.0.0.0/8', '192.168.1.5'], '::ffff:192.168.1.5')).toBe(true);
    expect(allowed(['10.0.0.0/8', '192.168.1.5'], '192.168.1.6')).toBe(false);
    expect(allowed(['10.0.0.0/8'], '11.0.0.1')).toBe(false);
    expect(allowed([], '127.0.0.1')).toBe(false);
  });
});
