/**
 * The read latency client of the national bench, in a process of its own: the bench process
 * has just synthesised a year of data, and its collector would pause the timings (a dashboard
 * does not share the builder's heap). Reads `{ token, calls: [[name, url], ...], once? }` as
 * JSON from argv[2] and prints one JSON line: per call its name, the first call's time in ms
 * and the sorted times of the calls after it, or why it failed.
 *
 * First, untimed, it asks who it is (GET /api/v1/auth/me): the connection and the server's
 * token lookup, which every read after it shares, are then set up. Each URL is called
 * once (`once`: the cold round of a freshly started server) or 20 times
 * in turn: the first, then 19 more (2 more when the first took over a second, none over
 * 5 s, so the bench stays within its 15 minutes).
 */
export interface Job {
  token: string;
  calls: Array<[string, string]>;
  once?: boolean;
}

export type Timing = { name: string; first: number; after: number[] } | { name: string; failed: string };

async function timed(url: string, token: string, timeoutMs = 60_000): Promise<{ ms: number; ok: boolean }> {
  const t = performance.now();
  try {
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    return { ms: performance.now() - t, ok: res.status === 200 };
  } catch {
    return { ms: performance.now() - t, ok: false };
  }
}

const job = JSON.parse(process.argv[2]!) as Job;
const results: Timing[] = [];
// Untimed: this client's connection and the server's token lookup, shared by every read that follows.
if (job.calls[0]) await timed(new URL('/api/v1/auth/me', job.calls[0][1]).href, job.token);
for (const [name, url] of job.calls) {
  const first = await timed(url, job.token);
  if (!first.ok) {
    results.push({ name, failed: first.ms >= 60_000 ? 'timed out (60 s)' : 'failed' });
    continue;
  }
  const after: number[] = [];
  const reps = job.once ? 0 : first.ms > 5000 ? 0 : first.ms > 1000 ? 2 : 19;
  for (let i = 0; i < reps; i++) after.push((await timed(url, job.token)).ms);
  results.push({ name, first: first.ms, after: after.sort((a, b) => a - b) });
}
console.log(JSON.stringify(results));
