/** Ingest endpoints (CONTRACTS §2): validate the whole batch, then store it in one transaction. */
import { Hono } from 'hono';
import { facilityBatchSchema, gpuBatchSchema, jobsBatchSchema } from '../../collectors/shared/wire.ts';
import { requireIngest, type AppEnv } from '../auth/middleware.ts';
import type { IngestService } from '../services/ingest.service.ts';
import { validate } from '../validation.ts';

/** Routes under /api/v1/ingest. */
export function ingestRoutes(ingest: IngestService) {
  return new Hono<AppEnv>()
    .use(requireIngest)
    .post('/gpu', validate('json', gpuBatchSchema), (c) =>
      c.json(ingest.ingest({ kind: 'gpu', batch: c.req.valid('json') }, c.req.header('idempotency-key')), 202),
    )
    .post('/jobs', validate('json', jobsBatchSchema), (c) =>
      c.json(ingest.ingest({ kind: 'jobs', batch: c.req.valid('json') }, c.req.header('idempotency-key')), 202),
    )
    .post('/facility', validate('json', facilityBatchSchema), (c) =>
      c.json(ingest.ingest({ kind: 'facility', batch: c.req.valid('json') }, c.req.header('idempotency-key')), 202),
    );
}
