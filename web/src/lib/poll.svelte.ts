/** A server answer kept fresh by polling: the views' live updates without reloading. */
import { untrack } from 'svelte';

export const POLL_MS = 10_000;

/** Holds the latest answer of `load`; `run()` starts polling and returns the function that stops it. */
export class Polled<T> {
  data = $state<T | null>(null);
  error = $state<string | null>(null);
  /** When the data was last fetched (epoch ms). */
  updatedAt = $state<number | null>(null);
  private seq = 0;

  constructor(
    private readonly load: () => Promise<T>,
    private readonly intervalMs = POLL_MS,
  ) {}

  /** Fetches once; an answer to an older request that arrives late is dropped. */
  async refresh(): Promise<void> {
    const seq = ++this.seq;
    try {
      const data = await this.load();
      if (seq !== this.seq) return;
      this.data = data;
      this.error = null;
      this.updatedAt = Date.now();
    } catch (error) {
      if (seq === this.seq) this.error = (error as Error).message;
    }
  }

  /** Fetches now and every interval; call from `$effect` and return its result as the cleanup. */
  run(): () => void {
    // Untracked so the calling effect re-runs only for what it reads itself (the window, the route).
    untrack(() => void this.refresh());
    const timer = setInterval(() => void this.refresh(), this.intervalMs);
    return () => {
      clearInterval(timer);
      this.seq++;
    };
  }
}
