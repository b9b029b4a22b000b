/** A server answer kept fresh by polling: the views' live updates without reloading. */
import { untrack } from 'svelte';

export const POLL_MS = 10_000;
/** For answers that cost the server seconds (allocations, review packs, job lists). */
export const SLOW_POLL_MS = 60_000;

/** Holds the latest answer of `load`; `run()` starts polling and returns the function that stops it. */
export class Polled<T> {
  data = $state<T | null>(null);
  error = $state<string | null>(null);
  /** When the data was last fetched (epoch ms). */
  updatedAt = $state<number | null>(null);
  private seq = 0;
  private inFlight = 0;

  constructor(
    private readonly load: () => Promise<T>,
    private readonly intervalMs = POLL_MS,
  ) {}

  /** Fetches once; an answer to an older request that arrives late is dropped. */
  async refresh(): Promise<void> {
    const seq = ++this.seq;
    this.inFlight++;
    try {
      const data = await this.load();
      if (seq !== this.seq) return;
      this.data = data;
      this.error = null;
      this.updatedAt = Date.now();
    } catch (error) {
      if (seq === this.seq) this.error = (error as Error).message;
    } finally {
      this.inFlight--;
    }
  }

  /** Fetches now and every interval; call from `$effect` and return its result as the cleanup. */
  run(): () => void {
    // Untracked so the calling effect re-runs only for what it reads itself (the window, the route).
    untrack(() => void this.refresh());
    // A tick while an answer is still on its way is skipped: a slow endpoint is not asked twice at once.
    const timer = setInterval(() => this.inFlight === 0 && void this.refresh(), this.intervalMs);
    return () => {
      clearInterval(timer);
      this.seq++;
    };
  }
}
