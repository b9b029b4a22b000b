/** Query-string pieces shared by read endpoints. */
import { z } from 'zod';

const DAY_MS = 86_400_000;
const isoUtc = z.string().refine((s) => /Z$/.test(s) && Number.isFinite(Date.parse(s)), 'must be an ISO 8601 UTC time ending in Z');

/** `from` inclusive, `to` exclusive; spread into an endpoint's query schema. */
export const windowShape = { from: isoUtc.optional(), to: isoUtc.optional() };

/**
 * Turns `from`/`to` into epoch milliseconds (default: the last 30 days up to now),
 * reporting an empty or over-long window as a validation issue; use in `.transform`.
 */
export function toWindow<T extends { from?: string; to?: string }>(q: T, ctx: z.RefinementCtx): Omit<T, 'from' | 'to'> & { fromTs: number; toTs: number } {
  const { from, to, ...rest } = q;
  const toTs = to ? Date.parse(to) : Date.now();
  const fromTs = from ? Date.parse(from) : toTs - 30 * DAY_MS;
  if (fromTs >= toTs) ctx.addIssue({ code: 'custom', message: 'from must be before to', path: ['from'] });
  if (toTs - fromTs > 3700 * DAY_MS) ctx.addIssue({ code: 'custom', message: 'window longer than ten years', path: ['to'] });
  return { ...rest, fromTs, toTs };
}
