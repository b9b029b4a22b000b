import { describe, expect, it } from 'vitest';
import { H, T0, iso, job, makeApp } from '../support/factories.ts';

const window = { from: iso(T0 - 24 * H), to: iso(T0 + 24 * H), groupBy: 'project' as const };

describe('reuse of read answers', () => {
  function setup(readCacheMs: number) {
    const t = makeApp({ config: { readCacheMs } });
    const ingestJob = (jobId: string, account: string) =>
      t.client.api.v1.ingest.jobs.$post(
        { json: { schema: 1, cluster: 'c', jobs: [job({ jobId, account, gpus: 1, submitTime: iso(T0 - H), startTime: iso(T0), endTime: iso(T0 + H) })] } },
        t.auth(t.tokens.ingest),
      );
    const usage = async (token = t.tokens.read) => {
      const res = await t.client.api.v1.usage.$get({ query: window }, t.auth(token));
      expect(res.status).toBe(200);
      return ((await res.json()) as { rows: Array<{ key: string }> }).rows.map((r) => r.key);
    };
    return { t, ingestJob, usage };
  }

  it('serves one answer to identical requests while it is young by the app clock, then works it out again', async () => {
    const { t, ingestJob, usage } = setup(150);
    await ingestJob('1', 'a');
    expect(await usage()).toEqual(['a']);
    await ingestJob('2', 'b');
    // Within the reuse time the measurement that arrived meanwhile is not shown yet…
    expect(await usage()).toEqual(['a']);
    t.setNow(T0 + 48 * H + 149);
    expect(await usage()).toEqual(['a']);
    t.setNow(T0 + 48 * H + 150);
    // …and after it, it is.
    expect(await usage()).toEqual(['a', 'b']);
  });

  it('drops kept answers on an administrative change, and never shares them between callers who see differently', async () => {
    const { t, ingestJob, usage } = setup(60_000);
    await ingestJob('1', 'a');
    expect(await usage()).toEqual(['a']);
    await ingestJob('2', 'b');
    expect(await usage()).toEqual(['a']);
    // An admin token is another caller: its own answer, fresh.
    expect(await usage(t.tokens.admin)).toEqual(['a', 'b']);
    // A person of project a only sees a, whatever a token was answered.
    const person = await t.addPerson('pia', 'pi', ['a']);
    expect(person).toBeGreaterThan(0);
    const login = await t.client.api.v1.auth.login.$post({ json: { username: 'pia', password: 'correct horse' } });
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const res = await t.client.api.v1.usage.$get({ query: window }, { headers: { cookie } });
    expect(((await res.json()) as { rows: Array<{ key: string }> }).rows.map((r) => r.key)).toEqual(['a']);
    // An accepted administrative write (a grant) drops every kept answer.
    const grant = await t.client.api.v1.allocations.$post(
      { json: { project: 'b', parentId: null, grantedGpuHours: 10, periodStart: iso(T0 - 24 * H), periodEnd: iso(T0 + 240 * H) } },
      t.auth(t.tokens.admin),
    );
    expect(grant.status).toBe(201);
    expect(await usage()).toEqual(['a', 'b']);
  });
});
