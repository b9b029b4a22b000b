/** The facility collector's polling loop: the shared collector loop over facility readings. */
import { runLoop } from '../shared/loop.ts';
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
export async function runFacilityLoop({ round, ...options }: FacilityLoopOptions): Promise<FacilityLoopStats> {
  const { collectErrors, ...stats } = await runLoop({
    ...options,
    kind: 'facility',
    // An empty round has nothing to send.
    collect: async () => {
      const batch = await round();
      return batch && batch.readings.length > 0 ? batch : null;
    },
    wording: { failed: 'reading failed', recovered: 'readings come in again' },
  });
  return { ...stats, roundErrors: collectErrors };
}
