/** Facility KPIs and energy attribution (CONTRACTS §3). */
import type { Database } from 'better-sqlite3';
import { Hono } from 'hono';
import { z } from 'zod';
import { requireReader, visibility, type AppEnv } from '../auth/middleware.ts';
import type { Config } from '../config.ts';
import { getAttribution, getJobAttribution } from '../services/energy.service.ts';
import { getKpis } from '../services/kpis.service.ts';
import { validate } from '../validation.ts';
import { pageShape } from './page.schemas.ts';
import { toWindow, windowShape } from './read.schemas.ts';

const kpiQuery = z.object({ ...windowShape, bucket: z.enum(['5m', 'hour', 'day']).default('hour') }).transform(toWindow);
const attributionQuery = z.object(windowShape).transform(toWindow);
const jobAttributionQuery = z.object({ ...windowShape, ...pageShape(100, 1000) }).transform(toWindow);

/** Routes under /api/v1/energy. */
export function energyRoutes(deps: { sqlite: Database; config: Config; now?: () => number }) {
  return new Hono<AppEnv>()
    .use(requireReader)
    .get('/kpis', validate('query', kpiQuery), (c) => {
      const { fromTs, toTs, bucket } = c.req.valid('query');
      return c.json(getKpis(deps, { fromTs, toTs }, bucket, visibility(c)), 200);
    })
    .get('/projects', validate('query', attributionQuery), (c) => c.json(getAttribution(deps, c.req.valid('query'), visibility(c)), 200))
    .get('/jobs', validate('query', jobAttributionQuery), (c) => {
      const { fromTs, toTs, limit, cursor } = c.req.valid('query');
      return c.json(getJobAttribution(deps, { fromTs, toTs }, visibility(c), { limit, cursor: cursor ?? null }), 200);
    });
}
