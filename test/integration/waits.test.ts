import { describe, expect, it } from 'vitest';
import { H, T0, iso, job, makeApp } from '../support/factories.ts';

/** percentile_cont written out for the test: rank (n-1)p, linear between neighbours. */
function pcont(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  const r = (s.length - 1) * p;
  const lo = Math.floor(r);
  return s[lo]! + ((s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (r - lo));
}

describe('queue waits', () => {
  it('reports mean, percentiles and max of start − submit per partition, and eligible-waits beside them', async () => {
    const t = makeApp();
    const waitsMin = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89];
    const jobs = waitsMin.map((w, i) =>
      job({
        jobId: String(i),
        partition: i % 2 ? 'gpu' : 'short',
        submitTime: iso(T0 - w * 60_000),
        // Held for the first half of its wait: eligible later than submit.
        eligibleTime: iso(T0 - (w * 60_000) / 2),
        startTime: iso(T0),
        endTime: iso(T0 + H),
      }),
    );
    // A rejected submission never queued and must not count.
    jobs.push(job({ jobId: 'rej', partition: 'gpu', submitTime: iso(T0), startTime: iso(T0), endTime: iso(T0), state: 'FAILED', nodes: [], gpus: 0 }));
    // A job that started outside the window does not count either.
    jobs.push(job({ jobId: 'old', partition: 'gpu', submitTime: iso(T0 - 10 * H), startTime: iso(T0 - 5 * H), endTime: iso(T0 - 4 * H) }));
    await t.client.api.v1.ingest.jobs.$post({ json: { schema: 1, cluster: 'bitten', jobs } }, t.auth(t.tokens.ingest));
    const res = await t.client.api.v1.waits.$get({ query: { from: iso(T0 - H), to: iso(T0 + H), groupBy: 'partition' } }, t.auth(t.tokens.read));
    const body = await res.json();
    const gpu = waitsMin.filter((_, i) => i % 2).map((m) => m * 60);
    const row = body.rows.find((r) => r.key === 'gpu')!;
    expect(row.jobs).toBe(5);
    expect(row.meanS).toBeCloseTo(gpu.reduce((a, b) => a + b, 0) / 5, 9);
    expect(row.p50S).toBeCloseTo(pcont(gpu, 0.5), 9);
    expect(row.p90S).toBeCloseTo(pcont(gpu, 0.9), 9);
    expect(row.p99S).toBeCloseTo(pcont(gpu, 0.99), 9);
    expect(row.maxS).toBe(89 * 60);
    expect(row.eligibleP50S).toBeCloseTo(pcont(gpu, 0.5) / 2, 9);
    expect(body.rows.map((r) => r.key)).toEqual(['gpu', 'short']);
  });

  it('groups by hour of week in Copenhagen time', async () => {
    // 2026-11-23 is a Monday; 07:30 UTC is 08:30 in Copenhagen (CET, UTC+1).
    const submit = Date.parse('2026-11-23T07:30:00.000Z');
    const t = makeApp({ now: submit + 2 * H });
    await t.client.api.v1.ingest.jobs.$post(
      { json: { schema: 1, cluster: 'bitten', jobs: [job({ jobId: '1', submitTime: iso(submit), eligibleTime: iso(submit), startTime: iso(submit + 600_000), endTime: iso(submit + H) })] } },
      t.auth(t.tokens.ingest),
    );
    const body = await (await t.client.api.v1.waits.$get({ query: { from: iso(submit - H), to: iso(submit + H), groupBy: 'hourOfWeek' } }, t.auth(t.tokens.read))).json();
    expect(body.rows.map((r) => [r.key, r.p50S])).toEqual([['1-08', 600]]);
  });

  it('shows the queue now with ages, and estimates a wait from similar recent jobs with its sample size', async () => {
    const now = T0 + 10 * H;
    const t = makeApp({ now });
    const history = Array.from({ length: 30 }, (_, i) =>
      job({ jobId: `h${i}`, partition: 'gpu', gpus: 2, submitTime: iso(T0 + i * 600_000), startTime: iso(T0 + i * 600_000 + (i + 1) * 60_000), endTime: iso(T0 + i * 600_000 + H) }),
    );
    const pending = [
      job({ jobId: 'p1', partition: 'gpu', gpus: 4, state: 'PENDING', submitTime: iso(now - 2 * H), startTime: null, endTime: null }),
      job({ jobId: 'p2', partition: 'gpu', gpus: 1, state: 'PENDING', submitTime: iso(now - H), startTime: null, endTime: null, account: 'other' }),
    ];
    await t.client.api.v1.ingest.jobs.$post({ json: { schema: 1, cluster: 'bitten', jobs: [...history, ...pending] } }, t.auth(t.tokens.ingest));
    const queue = await (await t.client.api.v1.queue.$get({}, t.auth(t.tokens.read))).json();
    expect(queue.partitions).toEqual([{ partition: 'gpu', pendingJobs: 2, pendingGpus: 5, oldestAgeS: 7200, runningJobs: 0, runningGpus: 0 }]);
    expect(queue.pending.map((p) => [p.jobId, p.ageS])).toEqual([
      ['p1', 7200],
      ['p2', 3600],
    ]);
    const est = await (await t.client.api.v1.waits.estimate.$get({ query: { partition: 'gpu', gpus: '2' } }, t.auth(t.tokens.read))).json();
    // All 30 similar jobs are within the 40 nearest neighbours; their waits are 1…30 minutes.
    const waits = Array.from({ length: 30 }, (_, i) => (i + 1) * 60);
    expect(est.sampleSize).toBe(30);
    expect(est.estimateS).toBeCloseTo(pcont(waits, 0.5), 9);
    expect(est.p90S).toBeCloseTo(pcont(waits, 0.9), 9);
    expect(est.queueNow.pendingGpus).toBe(5);
    const unknown = await t.client.api.v1.waits.estimate.$get({ query: { partition: 'nope', gpus: '1' } }, t.auth(t.tokens.read));
    expect(unknown.status).toBe(404);
  });
});
