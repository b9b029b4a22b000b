/** Epoch milliseconds as ISO 8601 UTC text (the API's wire format for times). */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

/** Epoch milliseconds of an epoch time or an ISO text. */
export function epochMs(ts: number | string): number {
  return typeof ts === 'number' ? ts : Date.parse(ts);
}
