/**
 * Ingest endpoints (CONTRACTS §2): validate the whole batch, then store it all or nothing;
 * batches arriving together share one commit (IngestService.submit), each acknowledged after it.
 */
import { Hono } from 'hono';
import { facilityBatchSchema, gpuBatchSchema, jobsBatchSchema } from '../../collectors/shared/wire.ts';
import { requireIngest, type AppEnv } from '../auth/middleware.ts';
import type { IngestService } from '../services/ingest.service.ts';
import { checkGpuBatch } from '../gpu-batch.validation.ts';
import { validate, validateFast } from '../validation.ts';

/** Routes under /api/v1/ingest. */
export function ingestRoutes(ingest: IngestService) {
  return new Hono<AppEnv>()
    .use(requireIngest)
    // GPU batches are the hot path: a hand-written check first, zod for anything it declines.
    .post('/gpu', validateFast('json', gpuBatchSchema, checkGpuBatch), async (c) =>
      c.json(await ingest.submit({ kind: 'gpu', batch: c.req.valid('json') }, c.req.header('idempotency-key')), 202),
    )
    .post('/jobs', validate('json', jobsBatchSchema), async (c) =>
      c.json(await ingest.submit({ kind: 'jobs', batch: c.req.valid('json') }, c.req.header('idempotency-key')), 202),
    )
    .post('/facility', validate('json', facilityBatchSchema), async (c) =>
      c.json(await ingest.submit({ kind: 'facility', batch: c.req.valid('json') }, c.req.header('idempotency-key')), 202),
    );
}
