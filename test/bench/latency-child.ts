/**
 * The read latency client of the national bench, in a process of its own: the bench process
 * has just synthesised a year of data, and its collector would pause the timings (a dashboard
 * does not share the builder's heap). Reads `{ token, calls: [[name, url], ...] }` as JSON
 * from argv[2], calls each URL 20 times in turn (3 times when one call takes over a second,
 * once when it takes over 5 s, so the bench stays within its 15 minutes) and prints one JSON
 * line: per call its name and sorted times in ms, or why it failed.
 */
export interface Job {
  token: string;
  calls: Array<[string, string]>;
}

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
const results: Array<{ name: string; times: number[] } | { name: string; failed: string }> = [];
for (const [name, url] of job.calls) {
  const first = await timed(url, job.token);
  if (!first.ok) {
    results.push({ name, failed: first.ms >= 60_000 ? 'timed out (60 s)' : 'failed' });
    continue;
  }
  const times = [first.ms];
  const reps = first.ms > 5000 ? 0 : first.ms > 1000 ? 2 : 19;
  for (let i = 0; i < reps; i++) times.push((await timed(url, job.token)).ms);
  results.push({ name, times: times.sort((a, b) => a - b) });
}
console.log(JSON.stringify(results));
