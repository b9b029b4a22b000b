import { beforeAll, describe, expect, it } from 'vitest';
import { H, T0, iso, job, makeApp, series } from '../support/factories.ts';

type Who = 'anonymous' | 'researcher' | 'pi' | 'committee' | 'facility' | 'admin' | 'readToken' | 'ingestToken';
const everyone: Who[] = ['anonymous', 'researcher', 'pi', 'committee', 'facility', 'admin', 'readToken', 'ingestToken'];

/**
 * The role matrix: for each read endpoint, the status each caller gets. 401 without
 * credentials, 403 for an ingest token, 403 where personal or facility data is not the
 * caller's to see.
 */
const w = `from=${iso(T0 - H)}&to=${iso(T0 + 3 * H)}`;
const matrix: Array<[string, Partial<Record<Who, number>>]> = [
  [`/api/v1/usage?${w}&groupBy=project`, {}],
  [`/api/v1/usage?${w}&groupBy=user`, { committee: 403, facility: 403 }],
  [`/api/v1/usage?${w}&groupBy=day`, {}],
  [`/api/v1/energy/kpis?${w}`, { researcher: 403, pi: 403 }],
  [`/api/v1/energy/cooling?${w}`, { researcher: 403, pi: 403 }],
  ['/api/v1/reports/eed?year=2026', { researcher: 403, pi: 403 }],
  [`/api/v1/energy/projects?${w}`, {}],
  [`/api/v1/energy/jobs?${w}`, {}],
  [`/api/v1/waits?${w}&groupBy=partition`, {}],
  [`/api/v1/waits?${w}&groupBy=project`, {}],
  ['/api/v1/waits/estimate?partition=gpu&gpus=1', {}],
  ['/api/v1/queue', {}],
  ['/api/v1/allocations', {}],
  ['/api/v1/allocations/audit', { researcher: 403, pi: 403, committee: 403, facility: 403, readToken: 403 }],
  [`/api/v1/projects/proj-a/review?${w}`, {}],
  [`/api/v1/projects/proj-b/review?${w}`, { researcher: 403, pi: 403 }],
  [`/api/v1/jobs?${w}`, {}],
  ['/api/v1/fairshare', {}],
  ['/api/v1/fairshare?project=proj-b', { researcher: 403, pi: 403 }],
];

describe('who may read what', () => {
  const t = makeApp();
  const headers: Partial<Record<Who, Record<string, string>>> = {};
  const get = (path: string, who: Who) => t.app.request(path, { headers: headers[who] ?? {} });

  beforeAll(async () => {
    await t.client.api.v1.ingest.jobs.$post(
      {
        json: {
          schema: 1,
          cluster: 'c',
          jobs: [
            job({ jobId: '1', account: 'proj-a', user: 'rita' }),
            job({ jobId: '2', account: 'proj-a', user: 'paul' }),
            job({ jobId: '3', account: 'proj-b', user: 'bob' }),
          ],
        },
      },
      t.auth(t.tokens.ingest),
    );
    for (const [id, gpu] of [['1', 'G1'], ['2', 'G2'], ['3', 'G3']] as const) {
      await t.client.api.v1.ingest.gpu.$post({ json: { schema: 1, cluster: 'c', node: `n${id}`, samples: series(T0, T0 + H, 60, { gpuUuid: gpu, jobIds: [id] }) } }, t.auth(t.tokens.ingest));
    }
    t.addPerson('rita', 'researcher', ['proj-a']);
    t.addPerson('paul', 'pi', ['proj-a']);
    t.addPerson('cora', 'committee');
    t.addPerson('fred', 'facility');
    t.addPerson('ada', 'admin');
    for (const [who, username] of [['researcher', 'rita'], ['pi', 'paul'], ['committee', 'cora'], ['facility', 'fred'], ['admin', 'ada']] as const) {
      const res = await t.client.api.v1.auth.login.$post({ json: { username, password: 'correct horse' } });
      headers[who] = { cookie: res.headers.get('set-cookie')!.split(';')[0]! };
    }
    headers.readToken = { authorization: `Bearer ${t.tokens.read}` };
    headers.ingestToken = { authorization: `Bearer ${t.tokens.ingest}` };
  });

  for (const [path, exceptions] of matrix) {
    it(`GET ${path.replace(/from=[^&]+&to=[^&]+/, 'from&to')}`, async () => {
      const got: Record<string, number> = {};
      const want: Record<string, number> = {};
      for (const who of everyone) {
        got[who] = (await get(path, who)).status;
        want[who] = who === 'anonymous' ? 401 : who === 'ingestToken' ? 403 : (exceptions[who] ?? 200);
      }
      expect(got).toEqual(want);
    });
  }

  it('narrows list answers to what each person may see', async () => {
    const keys = async (path: string, who: Who) => ((await (await get(path, who)).json()) as { rows: Array<{ key?: string; project?: string; user?: string }> }).rows;
    expect((await keys(`/api/v1/usage?${w}&groupBy=project`, 'researcher')).map((r) => r.key)).toEqual(['proj-a']);
    expect((await keys(`/api/v1/usage?${w}&groupBy=user`, 'researcher')).map((r) => r.key)).toEqual(['rita']);
    expect((await keys(`/api/v1/usage?${w}&groupBy=user`, 'pi')).map((r) => r.key).sort()).toEqual(['paul', 'rita']);
    expect((await keys(`/api/v1/jobs?${w}`, 'researcher')).map((r) => r.user)).toEqual(['rita']);
    expect((await keys(`/api/v1/jobs?${w}`, 'pi')).map((r) => r.user).sort()).toEqual(['paul', 'rita']);
    expect((await keys('/api/v1/allocations', 'researcher')).length).toBe(0);
    // The committee sees every project, with pseudonyms instead of usernames.
    const committeeJobs = await keys(`/api/v1/jobs?${w}`, 'committee');
    expect(committeeJobs).toHaveLength(3);
    expect(committeeJobs.every((r) => /^user-[0-9a-f]{8}$/.test(r.user!))).toBe(true);
    expect(new Set(committeeJobs.map((r) => r.user)).size).toBe(3);
    expect((await keys(`/api/v1/energy/projects?${w}`, 'researcher')).map((r) => r.key)).toEqual(['proj-a', '(unattributed)']);
  });

  it('narrows fair share to the caller’s projects, and user rows to what each role may see', async () => {
    const row = (account: string, user: string | null) => ({ account, user, parent: user === null ? 'root' : null, rawShares: 1, normShares: 0.5, rawUsage: 10, effectvUsage: 0.5, fairShare: user === null ? null : 0.5 });
    const batch = { schema: 1, cluster: 'c', takenAt: iso(T0), rows: [row('proj-a', null), row('proj-a', 'rita'), row('proj-a', 'paul'), row('proj-b', null), row('proj-b', 'bob')] };
    const res = await t.app.request('/api/v1/ingest/fairshare', { method: 'POST', headers: { ...headers.ingestToken, 'content-type': 'application/json' }, body: JSON.stringify(batch) });
    expect(res.status).toBe(202);
    const seen = async (who: Who) => ((await (await get('/api/v1/fairshare', who)).json()) as { projects: Array<{ project: string; users: Array<{ user: string }> }> }).projects.map((p) => [p.project, p.users.map((u) => u.user)]);
    expect(await seen('researcher')).toEqual([['proj-a', ['rita']]]);
    expect(await seen('pi')).toEqual([['proj-a', ['paul', 'rita']]]);
    expect(await seen('committee')).toEqual([['proj-a', []], ['proj-b', []]]);
    expect(await seen('facility')).toEqual([['proj-a', []], ['proj-b', []]]);
    expect(await seen('admin')).toEqual([['proj-a', ['paul', 'rita']], ['proj-b', ['bob']]]);
    expect(await seen('readToken')).toEqual([['proj-a', ['paul', 'rita']], ['proj-b', ['bob']]]);
  });

  it('does not let a person ingest', async () => {
    const res = await t.app.request('/api/v1/ingest/jobs', { method: 'POST', headers: { ...headers.admin, 'content-type': 'application/json' }, body: JSON.stringify({ schema: 1, cluster: 'c', jobs: [] }) });
    expect(res.status).toBe(403);
  });
});
