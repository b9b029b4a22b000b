/**
 * A collector's main loop, shared by the GPU and facility collectors: collect every
 * interval, send through the spooling sender, back off while the server is away, and
 * flush once more when asked to stop. Nothing in a round may end the loop: a failing
 * source or a full disk is logged (once per distinct reason) and retried.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Sender } from './sender.ts';
import type { IngestKind } from './wire.ts';

export interface CollectorLoopOptions {
  kind: IngestKind;
  /** One round; null means nothing to send, a rejection is logged and the round skipped. */
  /** One round: a batch, or several (an array: one per node). */
  collect: () => Promise<unknown>;
  sender: Sender;
  intervalMs: number;
  /** Upper bound for the pause between delivery attempts while the server is away. */
  maxBackoffMs?: number;
  /** Aborting stops the loop after the round in progress and a last flush. */
  signal: AbortSignal;
  log?: (line: string) => void;
  now?: () => number;
  /** How to say that collecting failed, and that it works again. */
  wording: { failed: string; recovered: string };
}

export interface CollectorLoopStats {
  rounds: number;
  sent: number;
  spooled: number;
  refused: number;
  collectErrors: number;
  /** Batches still on disk after the last flush; the next start replays them. */
  remaining: number;
}

/** Delay before the next delivery attempt after `failures` transient failures in a row. */
export function backoffMs(failures: number, intervalMs: number, maxBackoffMs: number): number {
  if (failures <= 0) return 0;
  return Math.min(maxBackoffMs, intervalMs * 2 ** Math.min(failures - 1, 30));
}

/** Runs the collector until `signal` aborts; resolves with what happened. */
export async function runLoop(options: CollectorLoopOptions): Promise<CollectorLoopStats> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const now = options.now ?? Date.now;
  const maxBackoffMs = options.maxBackoffMs ?? 5 * 60_000;
  const { sender, intervalMs, signal, kind, wording } = options;
  const stats: CollectorLoopStats = { rounds: 0, sent: 0, spooled: 0, refused: 0, collectErrors: 0, remaining: 0 };
  let failures = 0;
  let deliverAfterMs = 0;
  let lastError = '';
  let droppedSeen = sender.droppedCount();

  const noteTransient = (reason: string) => {
    failures++;
    const waitMs = backoffMs(failures, intervalMs, maxBackoffMs);
    deliverAfterMs = now() + waitMs;
    // One line per attempt at most, and attempts thin out with the backoff.
    log(`server unavailable (${reason}); ${sender.spooledCount()} batch(es) spooled, next attempt in ${Math.round(waitMs / 1000)} s`);
  };

  async function round(): Promise<void> {
    let batch: unknown = null;
    try {
      batch = await options.collect();
      if (lastError) log(wording.recovered);
      lastError = '';
    } catch (error) {
      stats.collectErrors++;
      const message = error instanceof Error ? error.message : String(error);
      // A broken source fails every round; say so when the reason changes, not every round.
      if (message !== lastError) log(`${wording.failed}, will retry: ${message}`);
      lastError = message;
    }

    // One batch, or several (a dcgm-exporter round: one per node).
    const batches = Array.isArray(batch) ? batch : batch ? [batch] : [];
    if (now() < deliverAfterMs) {
      for (const b of batches) {
        await sender.enqueue(kind, b);
        stats.spooled++;
      }
    } else if (batches.length > 0) {
      for (const b of batches) {
        if (now() < deliverAfterMs) {
          await sender.enqueue(kind, b);
          stats.spooled++;
          continue;
        }
        const outcome = await sender.send(kind, b);
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
    const waitMs = intervalMs - ((now() - startMs) % intervalMs);
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
