/**
 * The demo's history under `heatledger serve --demo`, the real server process:
 * - issue 15.5: `GET /api/health` says how far the history has been sent, rising to 100 %;
 * - issue 15.1: while another process holds the database's write lock longer than the
 *   server's busy timeout (an administrative command, a backup), the server answers the
 *   history's batches 503; the demo tries them again until they are taken, and the
 *   history ends complete, with no step missing.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { startServerProcess, type ServerProcess } from '../support/server-process.ts';

const STEP_MS = 300_000;
const GPUS = 32 * 4;

interface Progress {
  historyDays: number;
  percent: number;
  done: boolean;
}

describe('the demo history under serve --demo', () => {
  let server: ServerProcess | null = null;
  afterAll(async () => {
    await server?.stop();
  });

  it('reports its progress up to 100 % and survives a 503 from a held write lock without losing a step', async () => {
    server = await startServerProcess(['--demo'], { HEATLEDGER_DEMO_DAYS: '7' });
    const s = server;
    const seen: Progress[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const body = (await (await fetch(`${s.url}/api/health`)).json()) as { status: string; demoHistory: Progress | null };
        expect(body.status).toBe('ok');
        if (body.demoHistory) seen.push(body.demoHistory);
        if (body.demoHistory?.done) return;
        await sleep(100);
      }
    })();

    // Once the history has begun, hold the write lock for longer than the server waits for it (5 s).
    const db = new Database(s.dbPath);
    try {
      db.pragma('busy_timeout = 30000');
      const started = Date.now();
      while ((db.prepare('SELECT COUNT(*) AS n FROM gpu_samples').get() as { n: number }).n === 0) {
        expect(Date.now() - started).toBeLessThan(60_000);
        await sleep(50);
      }
      db.prepare('BEGIN IMMEDIATE').run();
      await sleep(6_500);
      db.prepare('COMMIT').run();
    } finally {
      db.close();
    }

    // Done, or failed for good (what the demo did before: "demo: history failed").
    const until = Date.now() + 240_000;
    while (!seen.at(-1)?.done && !/history failed/.test(s.output()) && Date.now() < until) await sleep(200);
    polling = false;
    await poller;

    expect(s.output()).not.toMatch(/history failed/);
    // The lock did cost 503s, and the demo said it was trying again.
    expect(s.output()).toMatch(/demo: server busy or away \(server answered 503: the database cannot be written: database is locked\)/);

    // Progress: 7 days, never going back, seen part way, ending at 100 % and done.
    expect(seen.length).toBeGreaterThan(2);
    expect(new Set(seen.map((p) => p.historyDays))).toEqual(new Set([7]));
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.percent).toBeGreaterThanOrEqual(seen[i - 1]!.percent);
    expect(seen.some((p) => p.percent > 0 && p.percent < 100 && !p.done)).toBe(true);
    expect(seen.filter((p) => p.percent === 100).every((p) => p.done)).toBe(true);
    expect(seen.at(-1)).toEqual({ historyDays: 7, percent: 100, done: true });

    // Nothing lost: every 5-minute step from the first to the last holds all 128 GPUs.
    const check = new Database(s.dbPath, { readonly: true });
    try {
      const grid = check
        .prepare(`SELECT MIN(ts) AS first, MAX(ts) AS last, COUNT(DISTINCT ts) AS steps, COUNT(*) AS samples FROM gpu_samples WHERE ts % ${STEP_MS} = 0`)
        .get() as { first: number; last: number; steps: number; samples: number };
      // Seven days back from the start, on the hour, to the last step before the server started.
      expect(grid.first % 3_600_000).toBe(0);
      expect(grid.last - grid.first).toBeGreaterThanOrEqual(7 * 86_400_000 - 3_600_000);
      expect(grid.steps).toBe((grid.last - grid.first) / STEP_MS + 1);
      expect(grid.samples).toBe(grid.steps * GPUS);
    } finally {
      check.close();
    }
  }, 300_000);
});
