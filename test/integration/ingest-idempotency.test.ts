/** Issue 15 point 12: an Idempotency-Key reused for a different body or kind is a conflict, not a duplicate. */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { T0, iso, job, makeApp, series } from '../support/factories.ts';

type App = ReturnType<typeof makeApp>;

const post = (t: App, kind: 'gpu' | 'jobs', body: string, key: string) =>
  t.app.request(`/api/v1/ingest/${kind}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${t.tokens.ingest}`, 'content-type': 'application/json', 'idempotency-key': key },
    body,
  });

const gpuBody = (fromMs: number, gpuUuid = 'GPU-aaaa') => JSON.stringify({ schema: 1, cluster: 'bitten', node: 'gpu-n01', samples: series(fromMs, fromMs + 20_000, 10, { gpuUuid }) });

describe('idempotency keys', () => {
  it('stores the body hash with the key and answers a replay of the same body as a duplicate', async () => {
    const t = makeApp();
    const body = gpuBody(T0);
    const first = await post(t, 'gpu', body, 'batch-1');
    expect(first.status).toBe(202);
    expect(await first.json()).toEqual({ accepted: 3, duplicates: 0 });
    const sha = createHash('sha256').update(body).digest('hex');
    expect(t.db.$client.prepare('SELECT key, kind, body_hash AS h, accepted FROM ingest_batches').all()).toEqual([{ key: 'batch-1', kind: 'gpu', h: sha, accepted: 3 }]);
    const again = await post(t, 'gpu', body, 'batch-1');
    expect(again.status).toBe(202);
    expect(await again.json()).toEqual({ accepted: 0, duplicates: 3 });
  });

  it('refuses a different body under a used key with 409 naming the key, and stores none of it', async () => {
    const t = makeApp();
    expect((await post(t, 'gpu', gpuBody(T0), 'batch-1')).status).toBe(202);
    // Other samples (another GPU, an hour later) under the same key.
    const res = await post(t, 'gpu', gpuBody(T0 + 3_600_000, 'GPU-bbbb'), 'batch-1');
    expect(res.status).toBe(409);
    const { error } = (await res.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe('CONFLICT');
    expect(error.message).toContain('"batch-1"');
    expect(error.message).toContain('different body');
    expect(t.count('gpu_samples')).toBe(3);
    expect(t.db.$client.prepare("SELECT COUNT(*) AS n FROM gpus WHERE uuid = 'GPU-bbbb'").get()).toEqual({ n: 0 });
  });

  it('refuses a batch of another kind under a used key', async () => {
    const t = makeApp();
    expect((await post(t, 'gpu', gpuBody(T0), 'batch-1')).status).toBe(202);
    const jobs = JSON.stringify({ schema: 1, cluster: 'bitten', jobs: [job({ jobId: '1', submitTime: iso(T0 - 3_600_000) })] });
    const res = await post(t, 'jobs', jobs, 'batch-1');
    expect(res.status).toBe(409);
    const { error } = (await res.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe('CONFLICT');
    expect(error.message).toBe('Idempotency-Key "batch-1" was already used for a gpu batch');
    expect(t.count('jobs')).toBe(0);
  });

  it('answers a key stored before bodies were hashed as before: a duplicate', async () => {
    const t = makeApp();
    t.db.$client.prepare("INSERT INTO ingest_batches (key, kind, body_hash, accepted, received_ts) VALUES ('old-key', 'gpu', NULL, 3, 0)").run();
    const res = await post(t, 'gpu', gpuBody(T0), 'old-key');
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ accepted: 0, duplicates: 3 });
    expect(t.count('gpu_samples')).toBe(0);
  });
});
