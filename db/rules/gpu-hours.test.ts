import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { clippedMs, gpuHours, gpuMsSql, gpuSeconds, gpuSecondsByDay } from './gpu-hours.ts';

const at = (iso: string) => Date.parse(iso);

describe('gpuHours', () => {
  it('charges 4 GPUs for 2.5 hours as 10 GPU-hours', () => {
    expect(gpuHours({ gpus: 4, startTs: at('2026-05-01T10:00:00Z'), endTs: at('2026-05-01T12:30:00Z') })).toBe(10);
  });

  it('clips the run to the window: of 8 GPUs 09:00-13:00, the window 10:00-11:15 holds 10 GPU-hours', () => {
    const run = { gpus: 8, startTs: at('2026-05-01T09:00:00Z'), endTs: at('2026-05-01T13:00:00Z') };
    expect(gpuHours(run, { fromTs: at('2026-05-01T10:00:00Z'), toTs: at('2026-05-01T11:15:00Z') })).toBe(10);
    // Clipped at one end only.
    expect(gpuHours(run, { fromTs: at('2026-05-01T12:00:00Z'), toTs: at('2026-05-02T00:00:00Z') })).toBe(8);
  });

  it('charges nothing for a run outside the window, a run that goes backwards, or no GPUs', () => {
    const w = { fromTs: at('2026-05-02T00:00:00Z'), toTs: at('2026-05-03T00:00:00Z') };
    expect(gpuSeconds({ gpus: 2, startTs: at('2026-05-01T00:00:00Z'), endTs: at('2026-05-01T23:00:00Z') }, w)).toBe(0);
    expect(gpuSeconds({ gpus: 2, startTs: at('2026-05-02T05:00:00Z'), endTs: at('2026-05-02T04:00:00Z') }, w)).toBe(0);
    expect(gpuSeconds({ gpus: 0, startTs: at('2026-05-02T05:00:00Z'), endTs: at('2026-05-02T06:00:00Z') }, w)).toBe(0);
  });

  it('gives GPU-seconds 3600 times the GPU-hours: 3 GPUs for 90 s are 270 GPU-seconds', () => {
    expect(gpuSeconds({ gpus: 3, startTs: 1_000, endTs: 91_000 })).toBe(270);
    expect(clippedMs({ startTs: 1_000, endTs: 91_000 }, { fromTs: 31_000, toTs: 100_000 })).toBe(60_000);
  });
});

describe('gpuSecondsByDay', () => {
  it('splits a run at UTC midnights: 2 GPUs from 22:00 to 03:00 next day are 4 h and 6 h of GPU time', () => {
    const days = gpuSecondsByDay({ gpus: 2, startTs: at('2026-05-01T22:00:00Z'), endTs: at('2026-05-02T03:00:00Z') });
    expect([...days]).toEqual([
      [at('2026-05-01T00:00:00Z'), 2 * 2 * 3600],
      [at('2026-05-02T00:00:00Z'), 2 * 3 * 3600],
    ]);
  });

  it('gives no day to a run that ran no time, and no day after a run that ends at midnight', () => {
    expect(gpuSecondsByDay({ gpus: 4, startTs: at('2026-05-01T10:00:00Z'), endTs: at('2026-05-01T10:00:00Z') }).size).toBe(0);
    expect([...gpuSecondsByDay({ gpus: 1, startTs: at('2026-05-01T12:00:00Z'), endTs: at('2026-05-02T00:00:00Z') }).keys()]).toEqual([at('2026-05-01T00:00:00Z')]);
  });

  it('sums to the run’s GPU-seconds, and each day holds the run clipped to that day', () => {
    const run = fc.record({ startTs: fc.integer({ min: 0, max: 4e12 }), lengthMs: fc.integer({ min: 0, max: 40 * 86_400_000 }), gpus: fc.integer({ min: 0, max: 64 }) });
    fc.assert(
      fc.property(run, ({ startTs, lengthMs, gpus }) => {
        const r = { startTs, endTs: startTs + lengthMs, gpus };
        const days = gpuSecondsByDay(r);
        let sum = 0;
        for (const [day, s] of days) {
          expect(s).toBe(gpuSeconds(r, { fromTs: day, toTs: day + 86_400_000 }));
          sum += s;
        }
        expect(sum).toBeCloseTo(gpuSeconds(r), 6);
      }),
    );
  });
});

describe('gpuMsSql, the SQL copy of the rule', () => {
  const db = new Database(':memory:');
  afterAll(() => db.close());
  db.exec('CREATE TABLE jobs (gpus INTEGER NOT NULL, start_ts INTEGER NOT NULL, end_ts INTEGER NOT NULL)');
  const insert = db.prepare('INSERT INTO jobs (gpus, start_ts, end_ts) VALUES (?, ?, ?)');
  // The two forms the usage query (db/queries/usage.ts) uses: ended jobs clipped to [@a, @b); running jobs up to @end.
  const ended = db.prepare(`SELECT ${gpuMsSql({ gpus: 'gpus', startTs: 'start_ts', endTs: 'end_ts', fromTs: '@a', toTs: '@b' })} / 1000.0 AS s FROM jobs`).pluck();
  const running = db.prepare(`SELECT ${gpuMsSql({ gpus: 'gpus', startTs: 'start_ts', endTs: '@end', fromTs: '@from' })} / 1000.0 AS s FROM jobs`).pluck();
  const ts = fc.integer({ min: 0, max: 4e12 });

  it('reads as the query text it replaced', () => {
    expect(gpuMsSql({ gpus: 'gpus', startTs: 'start_ts', endTs: 'end_ts', fromTs: '@a', toTs: '@b' })).toBe('gpus * MAX(0, MIN(end_ts, @b) - MAX(start_ts, @a))');
    expect(gpuMsSql({ gpus: 'gpus', startTs: 'start_ts', endTs: '@end', fromTs: '@from' })).toBe('gpus * MAX(0, @end - MAX(start_ts, @from))');
  });

  it('gives each ended run clipped to a window the GPU-seconds the rule gives, to the last bit', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100_000 }), ts, ts, ts, ts, (gpus, s, e, a, b) => {
        db.exec('DELETE FROM jobs');
        insert.run(gpus, s, e);
        expect(ended.get({ a, b })).toBe(gpuSeconds({ gpus, startTs: s, endTs: e }, { fromTs: a, toTs: b }));
      }),
      { numRuns: 500 },
    );
  });

  it('gives each running job the GPU-seconds from the later of its start and the window’s to the end, to the last bit', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100_000 }), ts, ts, ts, (gpus, s, from, end) => {
        db.exec('DELETE FROM jobs');
        insert.run(gpus, s, 0);
        expect(running.get({ from, end })).toBe(gpuSeconds({ gpus, startTs: s, endTs: end }, { fromTs: from, toTs: end }));
      }),
      { numRuns: 500 },
    );
  });
});
