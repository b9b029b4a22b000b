/**
 * Runs the store's rollup upkeep (db/store.ts `compact`) outside every request: soon after
 * ingest commits (coalesced), and on a timer, since an hour becomes complete with the clock
 * rather than with a write. Reads are right without it; it keeps them fast.
 */
import type { Store } from '../db/store.ts';

export interface Compactor {
  /** Compacts once, shortly (calls within the delay share one run). */
  soon(): void;
  /** Compacts now; a busy database is left for the next run. */
  run(): void;
  /** Stops the timer and any pending run. */
  stop(): void;
}

export function createCompactor(store: Store, { now = Date.now, everyMs = 60_000, delayMs = 250, log = console.log }: { now?: () => number; everyMs?: number; delayMs?: number; log?: (line: string) => void } = {}): Compactor {
  let pending: NodeJS.Timeout | null = null;
  const run = () => {
    if (pending) clearTimeout(pending);
    pending = null;
    try {
      store.compact(now());
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      // Another writer holds the database (a long administrative command): next time.
      if (typeof code === 'string' && /^SQLITE_(BUSY|LOCKED)/.test(code)) return;
      log(`compactor: ${(error as Error).message}`);
    }
  };
  const timer = setInterval(run, everyMs);
  timer.unref();
  return {
    soon() {
      if (pending) return;
      pending = setTimeout(run, delayMs);
      pending.unref();
    },
    run,
    stop() {
      clearInterval(timer);
      if (pending) clearTimeout(pending);
      pending = null;
    },
  };
}
