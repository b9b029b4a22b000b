/** Ingest endpoints (CONTRACTS §2): validate the whole batch, then store it in one transaction. */
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
    .post('/gpu', validateFast('json', gpuBatchSchema, checkGpuBatch), (c) =>
      c.json(ingest.ingest({ kind: 'gpu', batch: c.req.valid('json') }, c.req.header('idempotency-key')), 202),
    )
    .post('/jobs', validate('json', jobsBatchSchema), (c) =>
      c.json(ingest.ingest({ kind: 'jobs', batch: c.req.valid('json') }, c.req.header('idempotency-key')), 202),
    )
    .post('/facility', validate('json', facilityBatchSchema), (c) =>
      c.json(ingest.ingest({ kind: 'facility', batch: c.req.valid('json') }, c.req.header('idempotency-key')), 202),
    );
}
