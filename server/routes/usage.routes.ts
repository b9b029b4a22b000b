/** `GET /api/v1/usage` (CONTRACTS §3). */
import type { Database } from 'better-sqlite3';
import { Hono } from 'hono';
import { z } from 'zod';
import { requireReader, visibility, type AppEnv } from '../auth/middleware.ts';
import { getUsage } from '../services/usage.service.ts';
import { validate } from '../validation.ts';
import { toWindow, windowShape } from './read.schemas.ts';

const usageQuery = z
  .object({ ...windowShape, groupBy: z.enum(['project', 'user', 'partition', 'day']).default('project') })
  .transform(toWindow);

/** Routes under /api/v1/usage. */
export function usageRoutes({ sqlite, now }: { sqlite: Database; now?: () => number }) {
  return new Hono<AppEnv>()
    .use(requireReader)
    .get('/', validate('query', usageQuery), (c) => {
      const { fromTs, toTs, groupBy } = c.req.valid('query');
      return c.json(getUsage({ sqlite, now }, { fromTs, toTs }, groupBy, visibility(c)), 200);
    });
}
