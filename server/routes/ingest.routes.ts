/**
 * Ingest endpoints (CONTRACTS §2): validate the whole batch, then store it all or nothing;
 * batches arriving together share one commit (IngestService.submit), each acknowledged after it.
 */
import { createHash } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { associationsBatchSchema, facilityBatchSchema, fairshareBatchSchema, gpuBatchSchema, jobsBatchSchema } from '../../collectors/shared/wire.ts';
import { requireIngest, type AppEnv } from '../auth/middleware.ts';
import type { AssociationsResult } from '../services/associations.service.ts';
import type { FairshareIngestResult } from '../services/fairshare.service.ts';
import type { AssociationsBatchParsed, FairshareBatchParsed } from '../services/ingest-types.ts';
import type { IngestService } from '../services/ingest.service.ts';
import { checkGpuBatch } from '../gpu-batch.validation.ts';
import { validate, validateFast } from '../validation.ts';

/**
 * The request's idempotency key and, with one, the sha256 of the body as it came: the
 * validator's JSON parse cached the text, so hashing it re-reads nothing and re-serialises
 * nothing (a re-sent spool file has the same bytes).
 */
async function idempotency(c: Context<AppEnv>): Promise<[string | null, string | null]> {
  const key = c.req.header('idempotency-key') ?? null;
  if (key === null) return [null, null];
  return [key, createHash('sha256').update(await c.req.text()).digest('hex')];
}

/**
 * A collector's spool backlog as its sender reports it (header `X-HeatLedger-Spool-Batches`),
 * by kind and source (the node, cluster or site of the batch); /metrics exports it.
 */
export type BacklogReport = (kind: 'gpu' | 'jobs' | 'facility', source: string, batches: number) => void;

function backlog(c: Context<AppEnv>, report: BacklogReport | undefined, kind: 'gpu' | 'jobs' | 'facility', source: string): void {
  const header = c.req.header('x-heatledger-spool-batches');
  if (report && header !== undefined && /^\d{1,9}$/.test(header)) report(kind, source, Number(header));
}

/**
 * Routes under /api/v1/ingest; `associations` stores a cluster's Slurm associations
 * (server/services/associations.service.ts), `fairshare` its fair share (fairshare.service.ts).
 */
export function ingestRoutes(
  ingest: IngestService,
  onBacklog?: BacklogReport,
  associations?: (batch: AssociationsBatchParsed) => AssociationsResult,
  fairshare?: (batch: FairshareBatchParsed) => FairshareIngestResult,
) {
  return new Hono<AppEnv>()
    .use(requireIngest)
    // GPU batches are the hot path: a hand-written check first, zod for anything it declines.
    .post('/gpu', validateFast('json', gpuBatchSchema, checkGpuBatch), async (c) => {
      const batch = c.req.valid('json');
      const res = await ingest.submit({ kind: 'gpu', batch }, ...(await idempotency(c)));
      backlog(c, onBacklog, 'gpu', `${batch.cluster}/${batch.node}`);
      return c.json(res, 202);
    })
    .post('/jobs', validate('json', jobsBatchSchema), async (c) => {
      const batch = c.req.valid('json');
      const res = await ingest.submit({ kind: 'jobs', batch }, ...(await idempotency(c)));
      backlog(c, onBacklog, 'jobs', batch.cluster);
      return c.json(res, 202);
    })
    .post('/facility', validate('json', facilityBatchSchema), async (c) => {
      const batch = c.req.valid('json');
      const res = await ingest.submit({ kind: 'facility', batch }, ...(await idempotency(c)));
      backlog(c, onBacklog, 'facility', batch.site);
      return c.json(res, 202);
    })
    .post('/associations', validate('json', associationsBatchSchema), (c) => {
      if (!associations) return c.json({ error: { code: 'NOT_FOUND', message: 'associations are not taken here' } }, 404);
      // A whole cluster's state, replaced in one transaction: sending it again changes nothing.
      return c.json(associations(c.req.valid('json')), 202);
    })
    .post('/fairshare', validate('json', fairshareBatchSchema), (c) => {
      if (!fairshare) return c.json({ error: { code: 'NOT_FOUND', message: 'fair share is not taken here' } }, 404);
      // A whole cluster's state, replaced in one transaction; an older batch changes nothing.
      return c.json(fairshare(c.req.valid('json')), 202);
    });
}
