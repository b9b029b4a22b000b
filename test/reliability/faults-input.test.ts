/**
 * Faults in what arrives (issue 9 §1): batches duplicated and reordered are stored once
 * with the same rollups as one in-order delivery; times far in the future or past are
 * refused with the reason, whole.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_FUTURE_MS, MAX_PAST_MS } from '../../collectors/shared/wire.ts';
import { H, T0, iso, job, makeApp, series } from '../support/factories.ts';
import { recomputeFromRaw, rollupDifferences, storedRollups } from './support/recompute.ts';

type App = ReturnType<typeof makeApp>;
const post = (t: App, kind: string, body: unknown, key?: string) =>
  t.app.request(`/api/v1/ingest/${kind}`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${t.tokens.ingest}`, ...(key ? { 'idempotency-key': key } : {}) },
  });

/** Twelve 10-minute GPU batches of two GPUs across two hours, jobs changing at T0+50min. */
function batches() {
  return Array.from({ length: 12 }, (_, b) => ({
    schema: 1,
    cluster: 'c',
    node: 'n1',
    samples: ['G1', 'G2'].flatMap((uuid, g) =>
      series(T0 + b * 600_000, T0 + b * 600_000 + 590_000, 10, { gpuUuid: uuid, gpuIndex: g }).map((s, i) => ({
        ...s,
        powerW: 200 + ((b * 37 + i * 11 + g * 5) % 400),
        jobIds: b * 600_000 + i * 10_000 < 50 * 60_000 ? ['1'] : g === 0 ? ['2', '3'] : [],
      })),
    ),
  }));
}

describe('duplicated and reordered batches', () => {
  const reference = makeApp();
  const all = batches();

  it('in order, once: the reference run matches a recomputation from raw', async () => {
    for (const b of all) expect((await post(reference, 'gpu', b)).status).toBe(202);
    expect(reference.count('gpu_samples')).toBe(12 * 2 * 60);
    const raw = recomputeFromRaw(reference.db.$client);
    expect(rollupDifferences(storedRollups(reference.db.$client).jobHour, raw.jobHour)).toEqual([]);
    // Job 1 ran on both GPUs for the first 50 minutes: a sanity figure worked out apart.
    expect([...raw.jobHour.keys()].some((k) => k.endsWith('|1'))).toBe(true);
  });

  it('any order, each batch sent one to three times, with or without a key: stored once, same rollups', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.shuffledSubarray(
          all.flatMap((b, i) => [0, 1, 2].map((copy) => ({ b, i, copy }))),
          { minLength: 36, maxLength: 36 },
        ),
        fc.array(fc.boolean(), { minLength: 36, maxLength: 36 }),
        fc.array(fc.nat(2), { minLength: 12, maxLength: 12 }),
        async (sends, useKey, extraCopies) => {
          const t = makeApp();
          let accepted = 0;
          let duplicates = 0;
          for (const [n, { b, i, copy }] of sends.entries()) {
            if (copy > extraCopies[i]!) continue; // batch i goes 1 + extraCopies[i] times
            const res = await post(t, 'gpu', b, useKey[n] ? `batch-${i}` : undefined);
            expect(res.status).toBe(202);
            const body = (await res.json()) as { accepted: number; duplicates: number };
            accepted += body.accepted;
            duplicates += body.duplicates;
          }
          const sent = extraCopies.reduce((sum, extra) => sum + (1 + extra) * 120, 0);
          expect(accepted).toBe(12 * 120);
          expect(accepted + duplicates).toBe(sent);
          expect(t.count('gpu_samples')).toBe(12 * 120);
          const got = storedRollups(t.db.$client);
          const want = storedRollups(reference.db.$client);
          expect(rollupDifferences(got.gpuHour, want.gpuHour)).toEqual([]);
          expect(rollupDifferences(got.jobHour, want.jobHour)).toEqual([]);
          t.db.$client.close();
        },
      ),
      { numRuns: 25 },
    );
  }, 120_000);

  it('job records sent twice and out of order are stored once, with the usage rollup matching the stored record', async () => {
    const t = makeApp();
    const running = job({ jobId: '9', state: 'RUNNING', endTime: null });
    const done = job({ jobId: '9', state: 'COMPLETED', endTime: iso(T0 + 2 * H) });
    const day = () => t.db.$client.prepare('SELECT COALESCE(SUM(alloc_gpu_s), 0) AS s, COALESCE(SUM(jobs_started), 0) AS n FROM usage_day').get() as { s: number; n: number };
    for (const j of [running, done, done, running, done]) {
      expect((await post(t, 'jobs', { schema: 1, cluster: 'c', jobs: [j] })).status).toBe(202);
      expect(t.count('jobs')).toBe(1);
      const [row] = t.db.$client.prepare('SELECT state, end_ts AS endTs FROM jobs').all() as Array<{ state: string; endTs: number | null }>;
      // An ended job counts 1 GPU × 2 h = 7200 GPU-s and one ended job; a running one nothing yet.
      expect(day()).toEqual(row!.endTs === null ? { s: 0, n: 0 } : { s: 7200, n: 1 });
    }
  });
});

describe('times far in the future or past', () => {
  const now = T0 + 48 * H;
  const t = makeApp({ now });
  const at = (ts: number) => ({ schema: 1, cluster: 'c', node: 'n', samples: [...series(now - H, now - H + 60_000, 60), series(ts, ts, 1, { gpuUuid: 'G-edge' })[0]!] });

  it.each([
    ['gpu', (ts: number) => at(ts), 'samples.2.ts'],
    ['facility', (ts: number) => ({ schema: 1, site: 's', readings: [{ ts: iso(now - H), meter: 'm', quantity: 'itPowerW', value: 5 }, { ts: iso(ts), meter: 'm', quantity: 'itPowerW', value: 5 }] }), 'readings.1.ts'],
  ] as const)('%s: refuses the whole batch, naming the field, just past either bound', async (kind, make, path) => {
    for (const [ts, reason] of [[now + MAX_FUTURE_MS + 1, /is in the future/], [now - MAX_PAST_MS - 1, /is older than the server accepts/], [Date.parse('2999-01-01T00:00:00.000Z'), /is in the future/], [0, /older/]] as const) {
      const res = await post(t, kind, make(ts));
      expect(res.status).toBe(400);
      const { error } = (await res.json()) as { error: { code: string; message: string } };
      expect(error.code).toBe('VALIDATION');
      expect(error.message.startsWith(`${path}: ${iso(ts)} `)).toBe(true);
      expect(error.message).toMatch(reason);
      expect(t.count('gpu_samples') + t.count('facility_readings')).toBe(0);
    }
  });

  it('accepts the bounds themselves; GPU samples only within the raw retention window', async () => {
    const retentionMs = 14 * 24 * H;
    expect((await post(t, 'gpu', at(now + MAX_FUTURE_MS))).status).toBe(202);
    expect((await post(t, 'gpu', at(now - retentionMs))).status).toBe(202);
    expect(t.count('gpu_samples')).toBe(4);
    const tooOld = await post(t, 'gpu', at(now - retentionMs - 1));
    expect(tooOld.status).toBe(400);
    expect(((await tooOld.json()) as { error: { message: string } }).error.message).toBe(
      `samples.2.ts: ${iso(now - retentionMs - 1)} is older than the 14-day raw-sample retention window`,
    );
    const facility = { schema: 1, site: 's', readings: [{ ts: iso(now - MAX_PAST_MS), meter: 'm', quantity: 'itPowerW', value: 5 }] };
    expect((await post(t, 'facility', facility)).status).toBe(202);
  });

  it('takes old job records (a past year of sacct) but not ones that end in the future', async () => {
    expect((await post(t, 'jobs', { schema: 1, cluster: 'c', jobs: [job({ jobId: 'old', submitTime: '2020-01-01T00:00:00.000Z', eligibleTime: null, startTime: '2020-01-01T01:00:00.000Z', endTime: '2020-01-02T00:00:00.000Z' })] })).status).toBe(202);
    const res = await post(t, 'jobs', { schema: 1, cluster: 'c', jobs: [job({ jobId: 'a' }), job({ jobId: 'b', endTime: iso(now + H) })] });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/^jobs\.1\.endTime: .* is in the future/);
    expect(t.count('jobs')).toBe(1);
  });
});
