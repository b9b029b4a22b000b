/** GPU-hours and energy by project for a chosen window, refreshed live. */
import { api, unwrap } from './api.ts';

export interface UsageRow {
  key: string;
  gpuHours: number;
  energyKWh: number;
  measuredGpuHours: number;
  idleGpuHours: number;
  jobs: number;
}

export const windows = [
  { id: '24h', label: 'Last 24 hours', ms: 24 * 3_600_000 },
  { id: '7d', label: 'Last 7 days', ms: 7 * 86_400_000 },
  { id: '30d', label: 'Last 30 days', ms: 30 * 86_400_000 },
] as const;
export type WindowId = (typeof windows)[number]['id'];

/** ISO 8601 UTC text of an epoch time. */
function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

export class UsageStore {
  rows = $state<UsageRow[]>([]);
  windowId = $state<WindowId>('30d');
  loading = $state(false);
  error = $state<string | null>(null);
  /** When the rows were last fetched (epoch ms). */
  updatedAt = $state<number | null>(null);
  private timer: ReturnType<typeof setInterval> | null = null;

  /** Fetches the rows for the current window. */
  async refresh(): Promise<void> {
    const span = windows.find((w) => w.id === this.windowId)!.ms;
    const toMs = Date.now();
    const to = isoTime(toMs);
    const from = isoTime(toMs - span);
    this.loading = true;
    try {
      const body = await unwrap(api.api.v1.usage.$get({ query: { from, to, groupBy: 'project' } }));
      this.rows = body.rows;
      this.updatedAt = toMs;
      this.error = null;
    } catch (error) {
      this.error = (error as Error).message;
    } finally {
      this.loading = false;
    }
  }

  setWindow(id: WindowId): void {
    this.windowId = id;
    void this.refresh();
  }

  /** Polls every `intervalMs` until stopped. */
  start(intervalMs = 5000): void {
    this.stop();
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
