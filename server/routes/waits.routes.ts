/** Queue waits, the queue now, and the wait estimate (CONTRACTS §3). */
import type { Database } from 'better-sqlite3';
import { Hono } from 'hono';
import { z } from 'zod';
import { requireReader, visibility, type AppEnv } from '../auth/middleware.ts';
import { estimateWait, getQueue, getWaits } from '../services/waits.service.ts';
import { validate } from '../validation.ts';
import { toWindow, windowShape } from './read.schemas.ts';

const waitsQuery = z.object({ ...windowShape, groupBy: z.enum(['partition', 'project', 'gpus', 'hourOfWeek']).default('partition') }).transform(toWindow);
const estimateQuery = z.object({ partition: z.string().min(1).max(200), gpus: z.coerce.number().int().min(1).max(100_000) });

/** Routes under /api/v1 for waits and the queue. */
export function waitsRoutes({ sqlite, now = Date.now }: { sqlite: Database; now?: () => number }) {
  return new Hono<AppEnv>()
    // Mounted at /api/v1, so the guard goes on each route rather than on the whole prefix.
    .get('/waits', requireReader, validate('query', waitsQuery), (c) => {
      const { fromTs, toTs, groupBy } = c.req.valid('query');
      return c.json(getWaits(sqlite, { fromTs, toTs }, groupBy, visibility(c), now()), 200);
    })
    .get('/waits/estimate', requireReader, validate('query', estimateQuery), (c) => {
      const { partition, gpus } = c.req.valid('query');
      return c.json(estimateWait(sqlite, partition, gpus, now()), 200);
    })
    .get('/queue', requireReader, (c) => c.json(getQueue(sqlite, now(), visibility(c)), 200));
}
