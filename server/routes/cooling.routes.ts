/** The cooling loops: flow, temperatures, heat removed and its check against flow × ΔT. */
import type { Database } from 'better-sqlite3';
import { Hono } from 'hono';
import { z } from 'zod';
import { requireReader, visibility, type AppEnv } from '../auth/middleware.ts';
import { getCooling } from '../services/cooling.service.ts';
import { validate } from '../validation.ts';
import { toWindow, windowShape } from './read.schemas.ts';

const coolingQuery = z.object({ ...windowShape, bucket: z.enum(['5m', 'hour', 'day']).default('hour') }).transform(toWindow);

/** Routes under /api/v1/energy/cooling. */
export function coolingRoutes(deps: { sqlite: Database }) {
  return new Hono<AppEnv>().get('/', requireReader, validate('query', coolingQuery), (c) => {
    const { fromTs, toTs, bucket } = c.req.valid('query');
    return c.json(getCooling(deps, { fromTs, toTs }, bucket, visibility(c)), 200);
  });
}
