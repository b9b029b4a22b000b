/**
 * Usernames are personal data (DESIGN.md): a researcher sees their own rows under their
 * name and nothing of a colleague's under the colleague's name; the committee and the
 * facility see no name at all. Checked on the raw answer of every read endpoint, JSON and
 * CSV, with data sent through the ingest routes. And a person limited to their projects
 * cannot tell a project that does not exist from someone else's.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { H, T0, iso, job, makeApp, series } from '../support/factories.ts';

const w = `from=${iso(T0 - H)}&to=${iso(T0 + 4 * H)}`;
const researcher = 'ritaprivx';
const colleagues = ['zoltanprivx', 'wilhelmprivx'];
const pi = 'petraprivx';
const outsider = 'bobprivx';

/** Every read endpoint that can carry a username, with the `Accept` header it is asked with. */
const endpoints: Array<[string, string?]> = [
  [`/api/v1/projects/proj-a/review?${w}`],
  [`/api/v1/projects/proj-a/review?${w}&format=csv`],
  [`/api/v1/projects/proj-a/review?${w}`, 'text/csv'],
  ['/api/v1/projects/proj-a/review'],
  [`/api/v1/usage?${w}&groupBy=project`],
  [`/api/v1/usage?${w}&groupBy=user`],
  [`/api/v1/usage?${w}&groupBy=partition`],
  [`/api/v1/usage?${w}&groupBy=day`],
  [`/api/v1/jobs?${w}`],
  [`/api/v1/jobs?${w}&project=proj-a`],
  [`/api/v1/energy/projects?${w}`],
  [`/api/v1/energy/jobs?${w}`],
  [`/api/v1/energy/kpis?${w}`],
  [`/api/v1/energy/cooling?${w}`],
  ['/api/v1/reports/eed?year=2026'],
  ['/api/v1/reports/eed?year=2026&format=csv'],
  [`/api/v1/waits?${w}&groupBy=partition`],
  [`/api/v1/waits?${w}&groupBy=project`],
  [`/api/v1/waits?${w}&groupBy=gpus`],
  [`/api/v1/waits?${w}&groupBy=hourOfWeek`],
  ['/api/v1/waits/estimate?partition=gpu&gpus=1'],
  ['/api/v1/queue'],
  ['/api/v1/allocations'],
  ['/api/v1/allocations?project=proj-a'],
  ['/api/v1/auth/me'],
];

interface ReviewUsers {
  usage: { gpuHours: number; energyKWh: number; idleGpuHours: number; jobs: number };
  users: Array<{ user: string; gpuHours: number; energyKWh: number; idleGpuHours: number; jobs: number }>;
  wastefulJobs: Array<{ jobId: string; user: string }>;
}

describe('names in answers', () => {
  const t = makeApp();
  const cookies: Record<string, string> = {};
  const get = (path: string, username: string, accept?: string) =>
    t.app.request(path, { headers: { cookie: cookies[username]!, ...(accept ? { accept } : {}) } });
  const review = async (username: string, path = `/api/v1/projects/proj-a/review?${w}`) => {
    const res = await get(path, username);
    expect(res.status).toBe(200);
    return (await res.json()) as ReviewUsers;
  };

  beforeAll(async () => {
    // proj-a: the researcher 1 GPU × 2 h, one colleague 2 GPUs × 3 h and a job waiting, the other 4 GPUs × 1 h; proj-b: 1 GPU × 1 h.
    const jobs = [
      job({ jobId: '1', account: 'proj-a', user: researcher, gpus: 1, startTime: iso(T0), endTime: iso(T0 + 2 * H) }),
      job({ jobId: '2', account: 'proj-a', user: colleagues[0], gpus: 2, startTime: iso(T0), endTime: iso(T0 + 3 * H) }),
      job({ jobId: '3', account: 'proj-a', user: colleagues[1], gpus: 4, startTime: iso(T0 + H), endTime: iso(T0 + 2 * H) }),
      job({ jobId: '4', account: 'proj-a', user: colleagues[0], state: 'PENDING', submitTime: iso(T0 + 40 * H), eligibleTime: iso(T0 + 40 * H), startTime: null, endTime: null }),
      job({ jobId: '5', account: 'proj-b', user: outsider, gpus: 1, startTime: iso(T0), endTime: iso(T0 + H) }),
    ];
    const sent = await t.client.api.v1.ingest.jobs.$post({ json: { schema: 1, cluster: 'c', jobs } }, t.auth(t.tokens.ingest));
    expect(sent.status).toBe(202);
    // One GPU per running job, measured and idle (1 % utilisation) through its run.
    for (const j of jobs.filter((x) => x.startTime)) {
      const res = await t.client.api.v1.ingest.gpu.$post(
        { json: { schema: 1, cluster: 'c', node: `n${j.jobId}`, samples: series(Date.parse(j.startTime!), Date.parse(j.endTime!), 60, { gpuUuid: `GPU-${j.jobId}`, jobIds: [j.jobId], utilPct: 1, powerW: 300 }) } },
        t.auth(t.tokens.ingest),
      );
      expect(res.status).toBe(202);
    }
    const grant = await t.client.api.v1.allocations.$post(
      { json: { project: 'proj-a', parentId: null, grantedGpuHours: 100, periodStart: iso(T0 - 24 * H), periodEnd: iso(T0 + 240 * H) } },
      t.auth(t.tokens.admin),
    );
    expect(grant.status).toBe(201);
    t.addPerson(researcher, 'researcher', ['proj-a']);
    for (const c of colleagues) t.addPerson(c, 'researcher', ['proj-a']);
    t.addPerson(pi, 'pi', ['proj-a']);
    t.addPerson(outsider, 'researcher', ['proj-b']);
    t.addPerson('coraprivx', 'committee');
    t.addPerson('fredprivx', 'facility');
    t.addPerson('adaprivx', 'admin');
    for (const username of [researcher, pi, 'coraprivx', 'fredprivx', 'adaprivx']) {
      const res = await t.client.api.v1.auth.login.$post({ json: { username, password: 'correct horse' } });
      expect(res.status).toBe(200);
      cookies[username] = res.headers.get('set-cookie')!.split(';')[0]!;
    }
  });

  for (const [viewer, hidden] of [
    [researcher, [...colleagues, pi, outsider]],
    ['coraprivx', [researcher, ...colleagues, pi, outsider]],
    ['fredprivx', [researcher, ...colleagues, pi, outsider]],
  ] as const) {
    it(`${viewer} reads no name but what is theirs, in any endpoint's raw answer`, async () => {
      const leaks: string[] = [];
      for (const [path, accept] of endpoints) {
        const res = await get(path, viewer, accept);
        const body = (await res.text()).toLowerCase();
        // Every answer is read whole, whatever its status (a refusal must not name anyone either).
        expect(body.length, path).toBeGreaterThan(0);
        for (const name of hidden) if (body.includes(name)) leaks.push(`${path}${accept ? ` (Accept: ${accept})` : ''} [${res.status}]: ${name}`);
      }
      expect(leaks).toEqual([]);
    });
  }

  it('gives a researcher their own row by name and their colleagues summed, adding up to the project', async () => {
    const mine = await review(researcher);
    // Worked out from the records: 1×2 + 2×3 + 4×1 GPU-hours, the researcher's 2 of them.
    expect(mine.usage.gpuHours).toBeCloseTo(12, 9);
    expect(mine.users.map((u) => u.user)).toEqual([researcher, '(other members)']);
    expect(mine.users[0]!.gpuHours).toBeCloseTo(2, 9);
    expect(mine.users[1]!.gpuHours).toBeCloseTo(10, 9);
    expect(mine.users[0]!.jobs + mine.users[1]!.jobs).toBe(mine.usage.jobs);
    expect(mine.usage.jobs).toBe(3);
    const sum = (k: 'gpuHours' | 'energyKWh' | 'idleGpuHours') => mine.users.reduce((s, u) => s + u[k], 0);
    expect(mine.usage.energyKWh).toBeGreaterThan(0);
    expect(sum('energyKWh')).toBeCloseTo(mine.usage.energyKWh, 9);
    expect(sum('idleGpuHours')).toBeCloseTo(mine.usage.idleGpuHours, 9);
    // Their own jobs only among the most idle, as in their job list.
    expect(mine.wastefulJobs.map((j) => [j.jobId, j.user])).toEqual([['1', researcher]]);

    // The PI sees each member by name (DESIGN.md); the summed row is the colleagues' rows added.
    const theirs = await review(pi);
    expect(theirs.users.map((u) => u.user).sort()).toEqual([researcher, ...colleagues].sort());
    const of = (u: string) => theirs.users.find((r) => r.user === u)!;
    expect(of(researcher)).toEqual(mine.users[0]);
    for (const k of ['gpuHours', 'energyKWh', 'idleGpuHours', 'jobs'] as const) expect(of(colleagues[0]!)[k] + of(colleagues[1]!)[k]).toBeCloseTo(mine.users[1]![k], 9);
    expect(theirs.wastefulJobs.map((j) => j.jobId).sort()).toEqual(['1', '2', '3']);
    // The project's figures are the same for everyone who may read it.
    expect(theirs.usage).toEqual(mine.usage);

    // The CSV carries the same rows.
    const csv = await (await get(`/api/v1/projects/proj-a/review?${w}&format=csv`, researcher)).text();
    const userLines = csv.split('\n').filter((l) => l.startsWith('user,') && l.split(',')[2] === 'gpuHours');
    expect(userLines.map((l) => l.split(',')[1])).toEqual([researcher, '(other members)']);
    expect(userLines.reduce((s, l) => s + Number(l.split(',')[3]), 0)).toBeCloseTo(12, 9);
  });

  it('gives the committee pseudonyms that add up to the project', async () => {
    const committee = await review('coraprivx');
    expect(committee.users).toHaveLength(3);
    expect(committee.users.every((u) => /^user-[0-9a-f]{8}$/.test(u.user))).toBe(true);
    expect(committee.users.reduce((s, u) => s + u.gpuHours, 0)).toBeCloseTo(12, 9);
    expect(committee.wastefulJobs.every((j) => /^user-[0-9a-f]{8}$/.test(j.user))).toBe(true);
  });

  it('answers a researcher or PI alike for a project that does not exist and for someone else’s', async () => {
    const paths = (project: string) => [
      `/api/v1/projects/${project}/review?${w}`,
      `/api/v1/projects/${project}/review?${w}&format=csv`,
      `/api/v1/projects/${project}/review`,
      `/api/v1/jobs?${w}&project=${project}`,
      `/api/v1/allocations?project=${project}`,
    ];
    for (const viewer of [researcher, pi]) {
      const unknown = paths('proj-nonexistent');
      const other = paths('proj-b');
      for (let i = 0; i < unknown.length; i++) {
        const a = await get(unknown[i]!, viewer);
        const b = await get(other[i]!, viewer);
        const bodyA = (await a.text()).replaceAll('proj-nonexistent', 'PROJECT');
        const bodyB = (await b.text()).replaceAll('proj-b', 'PROJECT');
        expect([a.status, bodyA], `${viewer} ${unknown[i]}`).toEqual([b.status, bodyB]);
        // CONTRACTS §3: someone else's project is 403.
        expect(a.status).toBe(403);
        expect(JSON.parse(bodyA)).toEqual({ error: { code: 'FORBIDDEN', message: 'you are not a member of project PROJECT' } });
      }
    }
    // Whoever may read every project still learns that one does not exist.
    expect((await get(`/api/v1/projects/proj-nonexistent/review?${w}`, 'adaprivx')).status).toBe(404);
  });
});
