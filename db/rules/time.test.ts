import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DAY_MS, HOUR_MS, INTERVAL_MS, bucketOf, dekadOf, monthOf, monthsBefore, nextDekad, nextMonth } from './time.ts';

describe('bucket widths', () => {
  it('are 5 minutes, an hour and 24 hours in milliseconds', () => {
    expect(INTERVAL_MS).toBe(5 * 60 * 1000);
    expect(HOUR_MS).toBe(60 * 60 * 1000);
    expect(DAY_MS).toBe(24 * 60 * 60 * 1000);
  });
});

describe('bucketOf', () => {
  it('puts 2026-03-14 15:09:26.5 UTC in the hour from 15:00, the day from midnight, the interval from 15:05', () => {
    const ts = Date.parse('2026-03-14T15:09:26.500Z');
    expect(bucketOf(ts, HOUR_MS)).toBe(Date.parse('2026-03-14T15:00:00Z'));
    expect(bucketOf(ts, DAY_MS)).toBe(Date.parse('2026-03-14T00:00:00Z'));
    expect(bucketOf(ts, INTERVAL_MS)).toBe(Date.parse('2026-03-14T15:05:00Z'));
  });

  it('keeps a boundary in the bucket it starts, and a millisecond before it in the previous one', () => {
    const midnight = Date.parse('2026-01-01T00:00:00Z');
    expect(bucketOf(midnight, DAY_MS)).toBe(midnight);
    expect(bucketOf(midnight - 1, DAY_MS)).toBe(Date.parse('2025-12-31T00:00:00Z'));
  });

  it('rounds down before the epoch too', () => {
    expect(bucketOf(-1, HOUR_MS)).toBe(-HOUR_MS);
  });

  it('always gives a bucket start at or before ts, less than a bucket away', () => {
    fc.assert(
      fc.property(fc.integer({ min: -1e13, max: 1e13 }), fc.constantFrom(INTERVAL_MS, HOUR_MS, DAY_MS), (ts, w) => {
        const b = bucketOf(ts, w);
        expect(b % w === 0).toBe(true);
        expect(b <= ts && ts < b + w).toBe(true);
      }),
    );
  });
});

describe('monthOf and nextMonth', () => {
  it('give the UTC calendar month around a time, across a year end and a leap February', () => {
    expect(monthOf(Date.parse('2026-12-31T23:59:59.999Z'))).toBe(Date.parse('2026-12-01T00:00:00Z'));
    expect(nextMonth(Date.parse('2026-12-31T23:59:59.999Z'))).toBe(Date.parse('2027-01-01T00:00:00Z'));
    expect(nextMonth(Date.parse('2028-02-10T00:00:00Z')) - monthOf(Date.parse('2028-02-10T00:00:00Z'))).toBe(29 * DAY_MS);
    expect(nextMonth(Date.parse('2027-02-10T00:00:00Z')) - monthOf(Date.parse('2027-02-10T00:00:00Z'))).toBe(28 * DAY_MS);
  });

  it('keep a month start in its own month', () => {
    const march = Date.parse('2026-03-01T00:00:00Z');
    expect(monthOf(march)).toBe(march);
    expect(nextMonth(march)).toBe(Date.parse('2026-04-01T00:00:00Z'));
    expect(monthOf(march - 1)).toBe(Date.parse('2026-02-01T00:00:00Z'));
  });

  it('bracket every time: monthOf(ts) ≤ ts < nextMonth(ts), 28 to 31 whole days apart', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4e12 }), (ts) => {
        const m = monthOf(ts);
        const n = nextMonth(ts);
        expect(m <= ts && ts < n).toBe(true);
        expect([28, 29, 30, 31]).toContain((n - m) / DAY_MS);
        expect(monthOf(n)).toBe(n);
        expect(new Date(m).getUTCDate()).toBe(1);
      }),
    );
  });
});

describe('monthsBefore', () => {
  it('counts calendar months back across a year, from any instant of the month', () => {
    expect(monthsBefore(Date.parse('2026-12-04T03:36:00Z'), 0)).toBe(Date.parse('2026-12-01T00:00:00Z'));
    expect(monthsBefore(Date.parse('2026-12-04T03:36:00Z'), 1)).toBe(Date.parse('2026-11-01T00:00:00Z'));
    expect(monthsBefore(Date.parse('2026-12-31T23:59:59.999Z'), 12)).toBe(Date.parse('2025-12-01T00:00:00Z'));
    expect(monthsBefore(Date.parse('2026-03-31T12:00:00Z'), 13)).toBe(Date.parse('2025-02-01T00:00:00Z'));
  });
});

describe('dekadOf and nextDekad', () => {
  it('cuts a month at the 11th and the 21st, the last dekad running to the month end', () => {
    expect(dekadOf(Date.UTC(2026, 1, 10, 23, 59))).toBe(Date.UTC(2026, 1, 1));
    expect(dekadOf(Date.UTC(2026, 1, 11))).toBe(Date.UTC(2026, 1, 11));
    expect(dekadOf(Date.UTC(2026, 1, 20, 12))).toBe(Date.UTC(2026, 1, 11));
    expect(dekadOf(Date.UTC(2026, 1, 28, 23))).toBe(Date.UTC(2026, 1, 21));
    expect(dekadOf(Date.UTC(2026, 0, 31, 5))).toBe(Date.UTC(2026, 0, 21));
    expect(nextDekad(Date.UTC(2026, 1, 3))).toBe(Date.UTC(2026, 1, 11));
    expect(nextDekad(Date.UTC(2026, 1, 15))).toBe(Date.UTC(2026, 1, 21));
    // February's last dekad is 8 days (2026), a 31-day month's 11.
    expect(nextDekad(Date.UTC(2026, 1, 21))).toBe(Date.UTC(2026, 2, 1));
    expect(nextDekad(Date.UTC(2026, 11, 31, 23))).toBe(Date.UTC(2027, 0, 1));
  });

  it('tiles time: each instant lies in [dekadOf, nextDekad), three dekads a month', () => {
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2100, 0, 1) }), (ts) => {
        const a = dekadOf(ts);
        const b = nextDekad(ts);
        expect(a).toBeLessThanOrEqual(ts);
        expect(b).toBeGreaterThan(ts);
        expect(dekadOf(b)).toBe(b);
        expect(dekadOf(b - 1)).toBe(a);
        expect(a % DAY_MS).toBe(0);
        expect(monthOf(a)).toBe(monthOf(ts));
        expect(nextDekad(nextDekad(monthOf(ts)) + 1)).toBe(nextDekad(nextDekad(monthOf(ts))));
        expect(nextDekad(nextDekad(nextDekad(monthOf(ts))))).toBe(nextMonth(ts));
      }),
    );
  });
});
