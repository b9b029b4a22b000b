/**
 * Issue 15 point 15: a read's `from`/`to` outside what a date can be (year 275760,
 * -271821, 30 February, not a number) answers 400 naming the parameter, on every route
 * that takes a window, never 500.
 */
import { describe, expect, it } from 'vitest';
import { makeApp } from '../support/factories.ts';

/** Every read that takes `from`/`to` (server/routes/read.schemas.ts windowShape). */
const routes = [
  '/api/v1/usage?groupBy=project',
  '/api/v1/energy/kpis?bucket=hour',
  '/api/v1/energy/projects?',
  '/api/v1/energy/jobs?limit=10',
  '/api/v1/energy/cooling?bucket=hour',
  '/api/v1/projects/p/review?',
  '/api/v1/jobs?limit=10',
  '/api/v1/waits?groupBy=partition',
];

const bad: Array<[string, RegExp]> = [
  ['-271821-04-20T00:00:00Z', /year -271821 is outside 1970–9999/],
  ['+275760-09-13T00:00:00Z', /year \+?275760 is outside 1970–9999/],
  ['275760-09-13T00:00:00Z', /ISO 8601 UTC time/],
  ['2026-02-30T00:00:00Z', /2026-02-30 is not a day of the calendar/],
  ['2026-13-01T00:00:00Z', /2026-13-01 is not a day of the calendar/],
  ['2026-11-20T24:00:00Z', /24:00:00 is not a time of day/],
  ['NaN', /ISO 8601 UTC time/],
  ['Infinity', /ISO 8601 UTC time/],
];

describe('read windows with impossible dates', () => {
  const t = makeApp();
  const get = (path: string) => t.app.request(path, { headers: { authorization: `Bearer ${t.tokens.admin}` } });

  for (const route of routes) {
    it(`${route.split('?')[0]} answers 400 naming the parameter`, async () => {
      for (const param of ['from', 'to'] as const) {
        for (const [value, reason] of bad) {
          const res = await get(`${route}&${param}=${encodeURIComponent(value)}`);
          expect(res.status, `${param}=${value}`).toBe(400);
          const body = (await res.json()) as { error: { code: string; message: string } };
          expect(body.error.code).toBe('VALIDATION');
          expect(body.error.message.startsWith(`${param}: `), body.error.message).toBe(true);
          expect(body.error.message).toMatch(reason);
        }
      }
      // The same route with possible dates, the earliest and latest included, is no validation error.
      for (const [from, to] of [
        ['2026-11-20T10:00:00Z', '2026-11-20T11:00:00.5Z'],
        ['1970-01-01T00:00:00Z', '1970-01-02T00:00Z'],
        ['9999-12-30T00:00:00Z', '9999-12-31T23:59:59.999Z'],
        ['2024-02-29T00:00:00Z', '2024-03-01T00:00:00Z'],
      ]) {
        const res = await get(`${route}&from=${from}&to=${to}`);
        expect([200, 404], `${route} ${from} ${to}: ${res.status}`).toContain(res.status);
      }
    });
  }
});
