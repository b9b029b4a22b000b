import { alignedNow, isoTime } from './time.ts';

/** The time window the views show: the last 24 h, 7, 30 or 90 days up to now. */
export const windowIds = ['24h', '7d', '30d', '90d'] as const;
export type WindowId = (typeof windowIds)[number];
const spanMs: Record<WindowId, number> = { '24h': 86_400_000, '7d': 7 * 86_400_000, '30d': 30 * 86_400_000, '90d': 90 * 86_400_000 };

/** The chosen window; `query()` gives `from`/`to` as of now, so polling moves with the clock. */
export class Range {
  id = $state<WindowId>('30d');

  get spanMs(): number {
    return spanMs[this.id];
  }

  /** The energy series' bucket suited to the window (a few hundred points at most). */
  get bucket(): '5m' | 'hour' | 'day' {
    return this.id === '24h' ? '5m' : this.id === '7d' ? 'hour' : 'day';
  }

  query(nowMs = Date.now()): { from: string; to: string } {
    const to = alignedNow(nowMs);
    return { from: isoTime(to - spanMs[this.id]), to: isoTime(to) };
  }
}
