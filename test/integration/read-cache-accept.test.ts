/**
 * The read cache keeps an answer for what it varies on: the review pack answers CSV or
 * JSON by `Accept` at the same URL, so a JSON request right after a CSV one must get JSON.
 */
import { describe, expect, it } from 'vitest';
import { H, T0, iso, job, makeApp } from '../support/factories.ts';

describe('reuse of read answers by Accept', () => {
  it('answers each Accept in its own format at the same URL while answers are kept', async () => {
    const t = makeApp({ config: { readCacheMs: 60_000 } });
    const sent = await t.client.api.v1.ingest.jobs.$post(
      { json: { schema: 1, cluster: 'c', jobs: [job({ jobId: '1', account: 'proj-a', gpus: 2, startTime: iso(T0), endTime: iso(T0 + H) })] } },
      t.auth(t.tokens.ingest),
    );
    expect(sent.status).toBe(202);
    const path = `/api/v1/projects/proj-a/review?from=${iso(T0 - H)}&to=${iso(T0 + 2 * H)}`;
    const ask = (accept: string) => t.app.request(path, { headers: { authorization: `Bearer ${t.tokens.read}`, accept } });

    const csv = await ask('text/csv');
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(await csv.text()).toMatch(/^section,key,field,value\nproject,proj-a,from,/);

    const json = await ask('application/json');
    expect(json.headers.get('content-type')).toMatch(/^application\/json/);
    // 2 GPUs × 1 h.
    expect(((await json.json()) as { usage: { gpuHours: number } }).usage.gpuHours).toBeCloseTo(2, 9);

    // And back: the CSV kept first is still the CSV, the JSON the JSON.
    expect((await ask('text/csv')).headers.get('content-type')).toMatch(/^text\/csv/);
    expect((await ask('application/json')).headers.get('content-type')).toMatch(/^application\/json/);
  });

  it('still serves a kept answer to the same request', async () => {
    const t = makeApp({ config: { readCacheMs: 60_000 } });
    const ingest = (jobId: string) =>
      t.client.api.v1.ingest.jobs.$post({ json: { schema: 1, cluster: 'c', jobs: [job({ jobId, account: 'proj-a' })] } }, t.auth(t.tokens.ingest));
    await ingest('1');
    const path = `/api/v1/projects/proj-a/review?from=${iso(T0 - H)}&to=${iso(T0 + 2 * H)}&format=csv`;
    const ask = async () => (await t.app.request(path, { headers: { authorization: `Bearer ${t.tokens.read}`, accept: 'text/csv' } })).text();
    const first = await ask();
    await ingest('2');
    // The second job arrived meanwhile; the kept answer (one job's hour) is served until it ages.
    expect(await ask()).toBe(first);
    expect(first).toMatch(/^usage,proj-a,jobs,1$/m);
  });
});
