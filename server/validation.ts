/** zod validation at the edge, wrapped once: a failure throws a DomainError naming the field. */
import { zValidator } from '@hono/zod-validator';
import type { ValidationTargets } from 'hono';
import type { z } from 'zod';
import { DomainError } from './errors.ts';

/** Describes the first zod issue as `path: message`. */
export function describeZodError(error: z.ZodError): { message: string; details: unknown } {
  const issues = error.issues.slice(0, 20).map((i) => ({ path: i.path.join('.'), message: i.message }));
  const first = issues[0]!;
  return { message: `${first.path || '(body)'}: ${first.message}`, details: issues };
}

/** Validates a request part; a failure becomes a 400 whose message names the offending path. */
export const validate = <T extends z.ZodType, Target extends keyof ValidationTargets>(target: Target, schema: T) =>
  zValidator(target, schema, (result) => {
    if (!result.success) {
      const { message, details } = describeZodError(result.error as unknown as z.ZodError);
      throw new DomainError('VALIDATION', message, details);
    }
  });

/**
 * Validates a request part with a hand-written check first and zod only when that check
 * declines: `fast` returns the parsed value (what zod would return) or undefined when it
 * is not sure, and zod then decides and words the error. A fast check may only accept
 * what zod accepts, so answers and error messages stay those of zod.
 */
export const validateFast = <T extends z.ZodType, Target extends keyof ValidationTargets>(target: Target, schema: T, fast: (value: unknown) => z.output<T> | undefined) =>
  zValidator(
    target,
    schema,
    (result) => {
      if (!result.success) {
        const { message, details } = describeZodError(result.error as unknown as z.ZodError);
        throw new DomainError('VALIDATION', message, details);
      }
    },
    {
      validationFunction: (s, value) => {
        const data = fast(value);
        // zod-validator types this result per zod major version; the value is zod 4's safeParse shape.
        return (data !== undefined ? { success: true as const, data } : s.safeParse(value)) as never;
      },
    },
  );
