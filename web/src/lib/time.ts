/** Epoch milliseconds as ISO 8601 UTC text (the API's wire format for times). */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

/** Epoch milliseconds of an epoch time or an ISO text. */
export function epochMs(ts: number | string): number {
  return typeof ts === 'number' ? ts : Date.parse(ts);
}

/**
 * Now, rounded up to the next 10 s: windows that end "now" then coincide for every viewer
 * within those 10 s, so the server's short reuse of answers serves them all (nothing is
 * stored after now, so the few seconds ahead add nothing).
 */
export function alignedNow(nowMs = Date.now()): number {
  return Math.ceil(nowMs / 10_000) * 10_000;
}
