import { describe, expect, it } from 'vitest';
import type { SendOutcome, Sender } from '../shared/sender.ts';
import type { FacilityBatch } from '../shared/wire.ts';
import { runFacilityLoop } from './loop.ts';

function fakeSender(outcomes: SendOutcome['status'][]) {
  const calls: Array<{ op: 'send' | 'enqueue'; kind: string; value: number }> = [];
  let spooled = 0;
  let flushes = 0;
  const sender: Sender = {
    async send(kind, batch) {
      calls.push({ op: 'send', kind, value: (batch as FacilityBatch).readings[0].value });
      const status = outcomes.shift() ?? 'sent';
      if (status === 'spooled') {
        spooled++;
        return { status, reason: 'server answered 503' };
      }
      if (status === 'refused') return { status, httpStatus: 400, message: 'readings.0.value: bad' };
      return { status, result: { accepted: 1, duplicates: 0 } };
    },
    async enqueue(kind, batch) {
      calls.push({ op: 'enqueue', kind, value: (batch as FacilityBatch).readings[0].value });
      spooled++;
    },
    async flush() {
      flushes++;
      const replayed = spooled;
      spooled = 0;
      return { replayed, remaining: 0 };
    },
    spooledCount: () => spooled,
    droppedCount: () => 0,
  };
  return { sender, calls, flushes: () => flushes };
}

function batchOf(value: number): FacilityBatch {
  return { schema: 1, site: 'bitten', readings: value < 0 ? [] : [{ ts: '2026-11-28T10:00:00.000Z', meter: 'cdu-1', quantity: 'heatRemovedW', value }] };
}

/** Runs the loop over a script of round results; each entry is a value, -1 for empty, or an Error. */
async function run(script: Array<number | Error>, outcomes: SendOutcome['status'][], options: { intervalMs?: number; maxBackoffMs?: number; now?: () => number } = {}) {
  const { sender, calls, flushes } = fakeSender(outcomes);
  const log: string[] = [];
  const controller = new AbortController();
  let i = 0;
  const stats = await runFacilityLoop({
    round: async () => {
      const step = script[i++];
      if (i >= script.length) controller.abort();
      if (step instanceof Error) throw step;
      return batchOf(step);
    },
    sender,
    intervalMs: options.intervalMs ?? 5,
    maxBackoffMs: options.maxBackoffMs ?? 5,
    signal: controller.signal,
    log: (line) => log.push(line),
    now: options.now,
  });
  return { stats, calls, log, flushes: flushes() };
}

describe('runFacilityLoop', () => {
  it('sends each round as a facility batch and skips empty rounds', async () => {
    const { stats, calls, flushes } = await run([1, -1, 2, 3], []);
    expect(calls).toEqual([
      { op: 'send', kind: 'facility', value: 1 },
      { op: 'send', kind: 'facility', value: 2 },
      { op: 'send', kind: 'facility', value: 3 },
    ]);
    expect(stats).toMatchObject({ rounds: 4, sent: 3, spooled: 0, refused: 0, roundErrors: 0, remaining: 0 });
    expect(flushes).toBe(1); // the last flush on stop
  });

  it('logs a failing source once per distinct reason and says when it recovers', async () => {
    const down = new Error('GET https://cdu1/redfish/v1/: ECONNREFUSED');
    const { stats, log } = await run([down, down, down, 7], []);
    expect(stats.roundErrors).toBe(3);
    expect(log).toEqual(['reading failed, will retry: GET https://cdu1/redfish/v1/: ECONNREFUSED', 'readings come in again']);
  });

  it('backs off after a spooled send: rounds in the back-off window are queued, not sent', async () => {
    // The clock stands still, so the back-off (one interval after one failure) never ends.
    const { stats, calls, log } = await run([1, 2, 3], ['spooled'], { intervalMs: 5, maxBackoffMs: 60_000, now: () => 1_000 });
    expect(calls.map((c) => `${c.op}:${c.value}`)).toEqual(['send:1', 'enqueue:2', 'enqueue:3']);
    expect(stats).toMatchObject({ sent: 0, spooled: 3, remaining: 0 });
    expect(log[0]).toMatch(/^server unavailable \(server answered 503\); 1 batch\(es\) spooled, next attempt in 0 s$/);
  });

  it('reports a refused batch and carries on', async () => {
    const { stats, log } = await run([1, 2], ['refused']);
    expect(stats).toMatchObject({ sent: 1, refused: 1 });
    expect(log).toEqual(['server refused a batch (HTTP 400): readings.0.value: bad']);
  });
});
