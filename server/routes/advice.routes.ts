/** Carbon-aware start advice and the CO2 forecast it reads (issue 19 point 1). */
import type { Database } from 'better-sqlite3';
import { Hono } from 'hono';
import { z } from 'zod';
import { co2ForecastBatchSchema } from '../../collectors/shared/wire.ts';
import { requireIngest, requireReader, visibility, type AppEnv } from '../auth/middleware.ts';
import { DomainError } from '../errors.ts';
import { startAdvice, storeForecast } from '../services/advice.service.ts';
import { validate } from '../validation.ts';

const adviceQuery = z.object({
  partition: z.string().min(1).max(200),
  gpus: z.coerce.number().int().min(1).max(100_000),
  hours: z.coerce.number().positive().max(24 * 14),
  project: z.string().min(1).max(200).optional(),
  priceArea: z.string().regex(/^[A-Z]{2}\d?$/).default('DK1'),
});

/** Routes under /api/v1: `POST /ingest/co2-forecast` and `GET /advice/start`. */
export function adviceRoutes({ sqlite, now = Date.now }: { sqlite: Database; now?: () => number }) {
  return new Hono<AppEnv>()
    .post('/ingest/co2-forecast', requireIngest, validate('json', co2ForecastBatchSchema), (c) => c.json(storeForecast(sqlite, c.req.valid('json'), now()), 202))
    .get('/advice/start', requireReader, validate('query', adviceQuery), (c) => {
      const q = c.req.valid('query');
      const vis = visibility(c);
      // The job's project: the one asked for (if the caller may see it), else the caller's only one.
      if (q.project && vis.accounts !== null && !vis.accounts.includes(q.project)) throw new DomainError('FORBIDDEN', `you are not a member of project ${q.project}`);
      const project = q.project ?? (vis.accounts?.length === 1 ? vis.accounts[0]! : null);
      return c.json(startAdvice(sqlite, { partition: q.partition, gpus: q.gpus, hours: q.hours, project, priceArea: q.priceArea }, now()), 200);
    });
}
