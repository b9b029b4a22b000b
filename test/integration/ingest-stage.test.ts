/** Issue 15 point 10: a job record of an earlier stage never replaces a later one, whatever times it carries. */
import { describe, expect, it } from 'vitest';
import { H, T0, iso, job, makeApp } from '../support/factories.ts';

const jobsBatch = (jobs: ReturnType<typeof job>[]) => ({ schema: 1 as const, cluster: 'bitten', jobs });

describe('job stages', () => {
  it('keeps a COMPLETED record through RUNNING-with-end, PENDING and the COMPLETED record again', async () => {
    const t = makeApp({ now: T0 + 48 * H });
    const gpuHours = async () => {
      const res = await t.client.api.v1.usage.$get({ query: { from: iso(T0 - 24 * H), to: iso(T0 + 24 * H), groupBy: 'project' } }, t.auth(t.tokens.read));
      return (await res.json()).rows.map((r) => [r.key, r.gpuHours]);
    };
    const send = async (over: Partial<Parameters<typeof job>[0]>) =>
      (await t.client.api.v1.ingest.jobs.$post({ json: jobsBatch([job({ jobId: '42', gpus: 4, ...over })]) }, t.auth(t.tokens.ingest))).json();

    // 4 GPUs from 10:00 to 12:00: 8 GPU-hours.
    const completed = { state: 'COMPLETED' as const, startTime: iso(T0), endTime: iso(T0 + 2 * H) };
    expect(await send(completed)).toEqual({ accepted: 1, duplicates: 0 });
    expect(await gpuHours()).toEqual([['proj-a', 8]]);
    // A late RUNNING record carrying a (projected) end 5 h after the start: 20 GPU-hours if it counted.
    expect(await send({ state: 'RUNNING', startTime: iso(T0), endTime: iso(T0 + 5 * H) })).toEqual({ accepted: 0, duplicates: 1 });
    expect(await gpuHours()).toEqual([['proj-a', 8]]);
    expect(await send({ state: 'PENDING', startTime: null, endTime: null })).toEqual({ accepted: 0, duplicates: 1 });
    expect(await gpuHours()).toEqual([['proj-a', 8]]);
    expect(await send(completed)).toEqual({ accepted: 0, duplicates: 1 });
    expect(await gpuHours()).toEqual([['proj-a', 8]]);
    const stored = t.db.$client.prepare("SELECT state, start_ts AS s, end_ts AS e FROM jobs WHERE job_id = '42'").get();
    expect(stored).toEqual({ state: 'COMPLETED', s: T0, e: T0 + 2 * H });
  });

  it('counts a job its record says is running up to now, whatever end time the record carries', async () => {
    const t = makeApp({ now: T0 + 8 * H });
    const sent = await t.client.api.v1.ingest.jobs.$post(
      { json: jobsBatch([job({ jobId: '7', gpus: 2, state: 'RUNNING', startTime: iso(T0), endTime: iso(T0 + 3 * H) })]) },
      t.auth(t.tokens.ingest),
    );
    expect(await sent.json()).toEqual({ accepted: 1, duplicates: 0 });
    const res = await t.client.api.v1.usage.$get({ query: { from: iso(T0 - H), to: iso(T0 + 12 * H), groupBy: 'project' } }, t.auth(t.tokens.read));
    // 2 GPUs × the 8 hours it has run until now (not 2 × 3 h to the end its record names).
    expect((await res.json()).rows.map((r) => [r.key, r.gpuHours])).toEqual([['proj-a', 16]]);
  });

  it('lets a later stage replace an earlier one', async () => {
    const t = makeApp({ now: T0 + 48 * H });
    const send = async (over: Partial<Parameters<typeof job>[0]>) =>
      (await t.client.api.v1.ingest.jobs.$post({ json: jobsBatch([job({ jobId: '9', gpus: 1, ...over })]) }, t.auth(t.tokens.ingest))).json();
    expect(await send({ state: 'PENDING', startTime: null, endTime: null })).toEqual({ accepted: 1, duplicates: 0 });
    expect(await send({ state: 'RUNNING', endTime: null })).toEqual({ accepted: 1, duplicates: 0 });
    expect(await send({ state: 'PENDING', startTime: null, endTime: null })).toEqual({ accepted: 0, duplicates: 1 });
    expect(await send({ state: 'FAILED' })).toEqual({ accepted: 1, duplicates: 0 });
    // A corrected terminal record (same stage) still replaces the stored one.
    expect(await send({ state: 'CANCELLED', endTime: iso(T0 + 0.5 * H) })).toEqual({ accepted: 1, duplicates: 0 });
    expect(t.db.$client.prepare("SELECT state, end_ts AS e FROM jobs WHERE job_id = '9'").get()).toEqual({ state: 'CANCELLED', e: T0 + 0.5 * H });
  });
});
