/** Allocations: use against grant for readers; creation and changes for admins (CONTRACTS §3). */
import type { Database } from 'better-sqlite3';
import { Hono } from 'hono';
import { z } from 'zod';
import { actorName, requireAdmin, requireReader, visibility, type AppEnv } from '../auth/middleware.ts';
import { createAllocation, listAllocations, updateAllocation } from '../services/allocation.service.ts';
import { validate } from '../validation.ts';

const isoUtc = z.string().refine((s) => /Z$/.test(s) && Number.isFinite(Date.parse(s)), 'must be an ISO 8601 UTC time ending in Z');
const createBody = z.object({
  project: z.string().min(1).max(200),
  parentId: z.number().int().positive().nullable().default(null),
  grantedGpuHours: z.number().finite().nonnegative(),
  periodStart: isoUtc,
  periodEnd: isoUtc,
});
const updateBody = z
  .object({ grantedGpuHours: z.number().finite().nonnegative().optional(), periodStart: isoUtc.optional(), periodEnd: isoUtc.optional() })
  .refine((b) => Object.keys(b).length > 0, 'give at least one of grantedGpuHours, periodStart, periodEnd');

/** Routes under /api/v1/allocations. */
export function allocationRoutes({ sqlite, now = Date.now }: { sqlite: Database; now?: () => number }) {
  return new Hono<AppEnv>()
    .get('/', requireReader, validate('query', z.object({ project: z.string().min(1).optional() })), (c) =>
      c.json(listAllocations(sqlite, now(), visibility(c), c.req.valid('query').project), 200),
    )
    .post('/', requireAdmin, validate('json', createBody), (c) => {
      const id = createAllocation(sqlite, c.req.valid('json'), actorName(c), now());
      return c.json({ id }, 201);
    })
    .patch('/:id', requireAdmin, validate('param', z.object({ id: z.coerce.number().int().positive() })), validate('json', updateBody), (c) => {
      updateAllocation(sqlite, c.req.valid('param').id, c.req.valid('json'), actorName(c), now());
      return c.json({ ok: true }, 200);
    })
    .get('/audit', requireAdmin, (c) => {
      const rows = sqlite.prepare('SELECT ts, actor, action, target, details FROM audit_log ORDER BY id').all() as Array<{ ts: number; actor: string; action: string; target: string; details: string }>;
      return c.json({ rows: rows.map((r) => ({ ...r, ts: new Date(r.ts).toISOString(), details: JSON.parse(r.details) as unknown })) }, 200);
    });
}
