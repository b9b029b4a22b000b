/** Fair share from Slurm per project (issue 19, point 3). */
import type { Database } from 'better-sqlite3';
import { Hono } from 'hono';
import { z } from 'zod';
import { requireReader, visibility, type AppEnv } from '../auth/middleware.ts';
import { getFairshare } from '../services/fairshare.service.ts';
import { validate } from '../validation.ts';

const fairshareQuery = z.object({ project: z.string().min(1).max(200).optional(), cluster: z.string().min(1).max(200).optional() });

/** Routes under /api/v1: GET /fairshare?project&cluster. */
export function fairshareRoutes({ sqlite }: { sqlite: Database }) {
  return new Hono<AppEnv>().get('/fairshare', requireReader, validate('query', fairshareQuery), (c) => c.json(getFairshare(sqlite, visibility(c), c.req.valid('query')), 200));
}
