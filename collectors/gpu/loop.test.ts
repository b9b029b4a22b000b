import { describe, expect, it } from 'vitest';
import type { Sender, SendOutcome } from '../shared/sender.ts';
import type { GpuBatch } from '../shared/wire.ts';
import { backoffMs, runCollectorLoop } from './loop.ts';

describe('backoffMs', () => {
  it('doubles from the interval up to the cap', () => {
    // interval 10 s, cap 300 s: 10, 20, 40, 80, 160, 300, 300
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => backoffMs(n, 10_000, 300_000))).toEqual([10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000]);
    expect(backoffMs(0, 10_000, 300_000)).toBe(0);
    expect(backoffMs(5000, 10_000, 300_000)).toBe(300_000);
  });
});

/** A sender whose server is away for the first `downSends` sends. */
function fakeSender(downSends: number) {
  const calls: string[] = [];
  let spooled = 0;
  let sends = 0;
  const sender: Sender = {
    async send(): Promise<SendOutcome> {
      sends++;
      calls.push('send');
      if (sends <= downSends) {
        spooled++;
        return { status: 'spooled', reason: 'ECONNREFUSED' };
      }
      spooled = 0;
      return { status: 'sent', result: { accepted: 1, duplicates: 0 } };
    },
    async enqueue() {
      calls.push('enqueue');
      spooled++;
    },
    async flush() {
      calls.push('flush');
      return { replayed: 0, remaining: spooled };
    },
    spooledCount: () => spooled,
    droppedCount: () => 0,
  };
  return { sender, calls };
}

const batch: GpuBatch = { schema: 1, cluster: 'c', node: 'n', samples: [] };

describe('runCollectorLoop', () => {
  it('spools without contacting the server while backing off, and flushes when stopped', async () => {
    const { sender, calls } = fakeSender(1);
    const controller = new AbortController();
    let rounds = 0;
    let clockMs = 0;
    const stats = await runCollectorLoop({
      sample: async () => {
        rounds++;
        clockMs += 1_000; // each round is one second later on the loop's clock
        if (rounds === 6) controller.abort();
        return batch;
      },
      sender,
      intervalMs: 1,
      maxBackoffMs: 4,
      signal: controller.signal,
      log: () => {},
      now: () => clockMs,
    });
    expect(stats.rounds).toBe(6);
    expect(calls[0]).toBe('send');
    expect(calls.at(-1)).toBe('flush');
    expect(stats.sent).toBe(5);
  });

  it('keeps backing off: with the clock standing still, later rounds only enqueue', async () => {
    const { sender, calls } = fakeSender(100);
    const controller = new AbortController();
    let rounds = 0;
    await runCollectorLoop({
      sample: async () => {
        if (++rounds === 4) controller.abort();
        return batch;
      },
      sender,
      intervalMs: 1,
      maxBackoffMs: 60_000,
      signal: controller.signal,
      log: () => {},
      now: () => 0,
    });
    expect(calls).toEqual(['send', 'enqueue', 'enqueue', 'enqueue', 'flush']);
  });

  it('survives sampling failures and logs a repeated failure once', async () => {
    const { sender } = fakeSender(0);
    const controller = new AbortController();
    const lines: string[] = [];
    let rounds = 0;
    const stats = await runCollectorLoop({
      sample: async () => {
        rounds++;
        if (rounds === 5) controller.abort();
        if (rounds <= 3) throw new Error('nvidia-smi was not found on PATH');
        return batch;
      },
      sender,
      intervalMs: 1,
      signal: controller.signal,
      log: (line) => lines.push(line),
    });
    expect(stats).toMatchObject({ rounds: 5, sampleErrors: 3, sent: 2 });
    expect(lines).toEqual(['sampling failed, will retry: nvidia-smi was not found on PATH', 'nvidia-smi answers again']);
  });
});
