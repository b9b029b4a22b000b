import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../db/client.ts';
import { testConfig } from '../../server/config.ts';
import type { GpuBatchParsed } from '../../server/services/ingest-types.ts';
import { createIngestService } from '../../server/services/ingest.service.ts';
import { H, T0, series } from '../support/factories.ts';

describe('batches submitted together', () => {
  it('are each all or nothing: a bad one is refused alone, the others stored once, a repeated key recognised within the group', async () => {
    const db = openDatabase(':memory:');
    const sqlite = db.$client;
    const ingest = createIngestService({ sqlite, config: testConfig(), now: () => T0 + H });
    const batch = (uuid: string, from: number): { kind: 'gpu'; batch: GpuBatchParsed } => ({
      kind: 'gpu',
      batch: { schema: 1, cluster: 'c', node: 'n1', samples: series(from, from + 9 * 60_000, 60, { gpuUuid: uuid }) as GpuBatchParsed['samples'] },
    });
    const results = await Promise.allSettled([
      ingest.submit(batch('GPU-1', T0), 'k1'),
      ingest.submit(batch('GPU-2', T0 + 400 * 24 * H)), // in the future: refused whole
      ingest.submit(batch('GPU-3', T0), 'k3'),
      ingest.submit(batch('GPU-1', T0), 'k1'), // the first one again, by its key
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason.message).toMatch(/samples\.0\.ts: .* is in the future/);
    expect(results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<unknown>).value)).toEqual([
      { accepted: 10, duplicates: 0 },
      { accepted: 10, duplicates: 0 },
      { accepted: 0, duplicates: 10 },
    ]);
    const perGpu = sqlite.prepare('SELECT g.uuid AS uuid, COUNT(*) AS n FROM gpu_samples s JOIN gpus g ON g.id = s.gpu_id GROUP BY 1 ORDER BY 1').all();
    expect(perGpu).toEqual([
      { uuid: 'GPU-1', n: 10 },
      { uuid: 'GPU-3', n: 10 },
    ]);
    // A batch submitted later goes into a transaction of its own.
    await expect(ingest.submit(batch('GPU-4', T0))).resolves.toEqual({ accepted: 10, duplicates: 0 });
    expect(sqlite.inTransaction).toBe(false);
  });
});
