/**
 * The facility collector's polling loop: one round per interval, sent through the
 * spooling sender, backing off while the server is away, with a last flush when asked to
 * stop. It follows collectors/gpu/loop.ts; that loop is tied to GPU batches and
 * nvidia-smi wording, so only its back-off rule is shared.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffMs } from '../gpu/loop.ts';
import type { Sender } from '../shared/sender.ts';
import type { FacilityBatch } from '../shared/wire.ts';

export interface FacilityLoopOptions {
  /** One polling round; null means nothing to send, a rejection is logged and skipped. */
  round: () => Promise<FacilityBatch | null>;
  sender: Sender;
  intervalMs: number;
  maxBackoffMs?: number;
  /** Aborting ends the loop after the round in progress and a last flush. */
  signal: AbortSignal;
  log: (line: string) => void;
  now?: () => number;
}

export interface FacilityLoopStats {
  rounds: number;
  sent: number;
  spooled: number;
  refused: number;
  roundErrors: number;
  /** Batches still on disk after the last flush; the next start replays them. */
  remaining: number;
}

/** Polls until `signal` aborts; resolves with what happened. */
export async function runFacilityLoop(options: FacilityLoopOptions): Promise<FacilityLoopStats> {
  const { sender, intervalMs, signal, log } = options;
  const now = options.now ?? Date.now;
  const maxBackoffMs = options.maxBackoffMs ?? 5 * 60_000;
  const stats: FacilityLoopStats = { rounds: 0, sent: 0, spooled: 0, refused: 0, roundErrors: 0, remaining: 0 };
  let failures = 0;
  let deliverAfterMs = 0;
  let lastRoundError = '';

  const noteTransient = (reason: string) => {
    failures++;
    const waitMs = backoffMs(failures, intervalMs, maxBackoffMs);
    deliverAfterMs = now() + waitMs;
    log(`server unavailable (${reason}); ${sender.spooledCount()} batch(es) spooled, next attempt in ${Math.round(waitMs / 1000)} s`);
  };

  async function once(): Promise<void> {
    let batch: FacilityBatch | null = null;
    try {
      batch = await options.round();
      if (lastRoundError) log('readings come in again');
      lastRoundError = '';
    } catch (error) {
      stats.roundErrors++;
      const message = error instanceof Error ? error.message : String(error);
      // A BMS that is down fails every round; say so when the reason changes.
      if (message !== lastRoundError) log(`reading failed, will retry: ${message}`);
      lastRoundError = message;
    }
    if (batch && batch.readings.length === 0) batch = null;

    if (now() < deliverAfterMs) {
      if (batch) {
        await sender.enqueue('facility', batch);
        stats.spooled++;
      }
      return;
    }
    if (batch) {
      const outcome = await sender.send('facility', batch);
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
  }

  const startMs = now();
  while (!signal.aborted) {
    try {
      await once();
    } catch (error) {
      log(`round failed, will retry: ${error instanceof Error ? error.message : String(error)}`);
    }
    stats.rounds++;
    // Rounds keep to a fixed grid so readings land on steady instants.
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
