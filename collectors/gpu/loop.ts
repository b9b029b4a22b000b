/** The GPU collector's loop: the shared collector loop over nvidia-smi samples. */
import { backoffMs, runLoop } from '../shared/loop.ts';
import type { Sender } from '../shared/sender.ts';
import type { GpuBatch } from '../shared/wire.ts';

export { backoffMs };

export interface LoopOptions {
  /** One sampling round; a rejection is logged and the round is skipped. */
  sample: () => Promise<GpuBatch | GpuBatch[]>;
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

/** Runs the GPU collector until `signal` aborts; resolves with what happened. */
export async function runCollectorLoop({ sample, ...options }: LoopOptions): Promise<LoopStats> {
  const { collectErrors, ...stats } = await runLoop({
    ...options,
    kind: 'gpu',
    collect: sample,
    wording: { failed: 'sampling failed', recovered: 'nvidia-smi answers again' },
  });
  return { ...stats, sampleErrors: collectErrors };
}
