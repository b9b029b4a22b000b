/**
 * The collector's main loop: sample every interval, send through the spooling sender,
 * back off while the server is away, and flush once more when asked to stop. Nothing in
 * a round may end the loop: a failing nvidia-smi or a full disk is logged and retried.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Sender } from '../shared/sender.ts';
import type { GpuBatch } from '../shared/wire.ts';

export interface LoopOptions {
  /** One sampling round; a rejection is logged and the round is skipped. */
  sample: () => Promise<GpuBatch>;
  sender: Sender;
  intervalMs: number;
  /** Upper bound for the pause between delivery attempts while the server is away. */
  maxBackoffMs?: number;
  /** Aborting stops the loop after the round in progress and a last flush. */
  signal: AbortSignal;
  log?: (line: string) => void;
  now?: () => number;
}

export interface LoopStats {
  rounds: number;
  sent: number;
  spooled: number;
  refused: number;
  sampleErrors: number;
  /** Batches still on disk after the last flush; the next start replays them. */
  remaining: number;
}

/** Delay before the next delivery attempt after `failures` transient failures in a row. */
export function backoffMs(failures: number, intervalMs: number, maxBackoffMs: number): number {
  if (failures <= 0) return 0;
  return Math.min(maxBackoffMs, intervalMs * 2 ** Math.min(failures - 1, 30));
}

/** Runs the collector until `signal` aborts; resolves with what happened. */
export async function runCollectorLoop(options: LoopOptions): Promise<LoopStats> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const now = options.now ?? Date.now;
  const maxBackoffMs = options.maxBackoffMs ?? 5 * 60_000;
  const { sender, intervalMs, signal } = options;
  const stats: LoopStats = { rounds: 0, sent: 0, spooled: 0, refused: 0, sampleErrors: 0, remaining: 0 };
  let failures = 0;
  let deliverAfterMs = 0;
  let lastSampleError = '';
  let droppedSeen = sender.droppedCount();

  const noteTransient = (reason: string) => {
    failures++;
    const waitMs = backoffMs(failures, intervalMs, maxBackoffMs);
    deliverAfterMs = now() + waitMs;
    // One line per attempt at most, and attempts thin out with the backoff.
    log(`server unavailable (${reason}); ${sender.spooledCount()} batch(es) spooled, next attempt in ${Math.round(waitMs / 1000)} s`);
  };

  async function round(): Promise<void> {
    let batch: GpuBatch | null = null;
    try {
      batch = await options.sample();
      if (lastSampleError) log('nvidia-smi answers again');
      lastSampleError = '';
    } catch (error) {
      stats.sampleErrors++;
      const message = error instanceof Error ? error.message : String(error);
      // A broken nvidia-smi fails every round; say so when it changes, not every 10 s.
      if (message !== lastSampleError) log(`sampling failed, will retry: ${message}`);
      lastSampleError = message;
    }

    if (now() < deliverAfterMs) {
      if (batch) {
        await sender.enqueue('gpu', batch);
        stats.spooled++;
      }
    } else if (batch) {
      const outcome = await sender.send('gpu', batch);
      if (outcome.status === 'sent') {
        stats.sent++;
        if (failures > 0) log('server reachable again; spooled batches replayed');
        failures = 0;
      } else if (outcome.status === 'spooled') {
        stats.spooled++;
        noteTransient(outcome.reason);
      } else {
        stats.refused++;
        log(`server refused a batch (HTTP ${outcome.httpStatus}): ${outcome.message}`);
      }
    } else if (sender.spooledCount() > 0) {
      const { remaining } = await sender.flush();
      if (remaining > 0) noteTransient('replay stopped');
      else failures = 0;
    }

    const dropped = sender.droppedCount();
    if (dropped > droppedSeen) log(`spool is full: dropped ${dropped - droppedSeen} oldest batch(es)`);
    droppedSeen = dropped;
  }

  const startMs = now();
  while (!signal.aborted) {
    try {
      await round();
    } catch (error) {
      log(`round failed, will retry: ${error instanceof Error ? error.message : String(error)}`);
    }
    stats.rounds++;
    // Rounds keep to a fixed grid; an overrunning round skips slots instead of bunching.
    const elapsedMs = now() - startMs;
    const waitMs = intervalMs - (elapsedMs % intervalMs);
    try {
      await sleep(waitMs, undefined, { signal });
    } catch {
      break; // aborted
    }
  }

  try {
    const { remaining } = await sender.flush();
    stats.remaining = remaining;
    if (remaining > 0) log(`stopping with ${remaining} batch(es) spooled; they are replayed at the next start`);
  } catch (error) {
    stats.remaining = sender.spooledCount();
    log(`final flush failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  return stats;
}
