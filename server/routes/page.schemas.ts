/** Query-string pieces of the paged job lists (`/energy/jobs`, `/jobs`). */
import { z } from 'zod';
import { decodeCursor } from '../services/energy.service.ts';

/**
 * `limit` rows (default `defaultLimit`, at most `maxLimit`) after `cursor`, the
 * `nextCursor` of the previous page; spread into an endpoint's query schema.
 */
export const pageShape = (defaultLimit: number, maxLimit: number) => ({
  limit: z.coerce.number().int().min(1).max(maxLimit).default(defaultLimit),
  cursor: z
    .string()
    .max(1000)
    .transform((text, ctx) => decodeCursor(text) ?? (ctx.addIssue({ code: 'custom', message: 'not a nextCursor of this list' }), z.NEVER))
    .optional(),
});
