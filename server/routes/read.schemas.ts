/** Query-string pieces shared by read endpoints. */
import { z } from 'zod';
import { DAY_MS } from '../../db/rules/time.ts';

const ISO_UTC = /^([+-]\d{6}|\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?Z$/;
/** Years a window's ends may name: the epoch to the last four-digit year (Date reaches ±275,760 years, SQLite and toISOString do not). */
const MIN_YEAR = 1970;
const MAX_YEAR = 9999;

/**
 * Why `text` is not a time a window may start or end at, or null when it is: an ISO 8601 UTC
 * time (`2026-11-20T10:00:00Z`, seconds and fractions optional) naming a real calendar day
 * and clock time (Date.parse turns 2026-02-30 into 2 March) in years MIN_YEAR–MAX_YEAR.
 */
export function isoUtcProblem(text: string): string | null {
  const m = ISO_UTC.exec(text);
  if (!m) return 'must be an ISO 8601 UTC time ending in Z, such as 2026-11-20T10:00:00Z';
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map((p) => (p === undefined ? 0 : Number(p))) as [number, number, number, number, number, number];
  if (year < MIN_YEAR || year > MAX_YEAR) return `year ${year} is outside ${MIN_YEAR}–${MAX_YEAR}`;
  const d = new Date(Date.UTC(year, month - 1, day));
  if (month < 1 || month > 12 || d.getUTCMonth() !== month - 1 || d.getUTCDate() !== day) return `${m[1]}-${m[2]}-${m[3]} is not a day of the calendar`;
  if (hour > 23 || minute > 59 || second > 59) return `${m[4]}:${m[5]}${m[6] === undefined ? '' : `:${m[6]}`} is not a time of day`;
  return null;
}

const isoUtc = z.string().superRefine((s, ctx) => {
  const problem = isoUtcProblem(s);
  if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
});

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
