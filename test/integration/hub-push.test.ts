/**
 * Two sites push their ledgers to a hub on a real PostgreSQL (issue 18): the hub's sums by
 * project equal the sum of the sites' own answers (GPU-hours to the millisecond, kWh to
 * 1e-9), a re-push changes nothing, a late sample reaches the hub with the next push, a
 * site cannot write another's rows, and a malformed push is refused whole, naming the field.
 * The sites are the real app over SQLite; the hub is the real hub app over PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FacilityReading } from '../../collectors/shared/wire.ts';
import { createHubToken, putHubUser, setNationalGrant } from '../../db/hub/people.ts';
import { hashPassword } from '../../server/services/auth.service.ts';
import { forgetPerson } from '../../server/services/privacy.service.ts';
import { pseudonymiser } from '../../server/services/review.service.ts';
import { openHub, type HubStore, type HubWaitKey } from '../../db/hub/store.ts';
import { expectWaitsAsPostgres } from '../support/hub-waits.ts';
import { createHubApp } from '../../server/hub/app.ts';
import { pushToHub, type PushOptions } from '../../server/services/hub-push.service.ts';
import { H, T0, iso, job, makeApp, series } from '../support/factories.ts';
import { freshDatabase, hasPostgres, type TestDatabase } from '../support/postgres.ts';
import { missing } from '../support/requirements.ts';

type Site = ReturnType<typeof makeApp>;
const NOW = T0 + 48 * H;
const M = 60_000;

function meter(name: string, quantity: FacilityReading['quantity'], value: number, fromMs: number, toMs: number): FacilityReading[] {
  const out: FacilityReading[] = [];
  for (let t = fromMs; t <= toMs; t += M) out.push({ ts: iso(t), meter: name, quantity, value });
  return out;
}

/** A site with jobs that start and end off the hour, their GPUs' samples and the meters. */
async function site(name: string, jobs: Array<{ id: string; project: string; user: string; partition: string; gpus: number; submit: number; start: number; end: number | null; watts: number }>): Promise<Site> {
  const s = makeApp({ now: NOW });
  const ok = (r: Response) => expect(r.status).toBe(202);
  ok(
    await s.client.api.v1.ingest.jobs.$post(
      {
        json: {
          schema: 1,
          cluster: name,
          jobs: jobs.map((j) =>
            job({
              jobId: j.id,
              account: j.project,
              user: j.user,
              partition: j.partition,
              gpus: j.gpus,
              submitTime: iso(j.submit),
              eligibleTime: iso(j.submit),
              startTime: iso(j.start),
              endTime: j.end === null ? null : iso(j.end),
              state: j.end === null ? 'RUNNING' : 'COMPLETED',
              nodes: [`${name}-n01`],
            }),
          ),
        },
      },
      s.auth(s.tokens.ingest),
    ),
  );
  for (const [i, j] of jobs.entries()) {
    const samples = series(j.start, Math.min(j.end ?? NOW - 2 * H, NOW - 2 * H), 30, { gpuUuid: `GPU-${name}-${i}`, gpuIndex: i, powerW: j.watts, jobIds: [j.id] });
    ok(await s.client.api.v1.ingest.gpu.$post({ json: { schema: 1, cluster: name, node: `${name}-n01`, samples } }, s.auth(s.tokens.ingest)));
  }
  const from = T0 - 2 * H;
  const to = NOW - H;
  ok(
    await s.client.api.v1.ingest.facility.$post(
      { json: { schema: 1, site: name, readings: [...meter('it', 'itPowerW', 5000, from, to), ...meter('main', 'facilityPowerW', 6100, from, to), ...meter('dh', 'heatReusedW', 2500, from, to), ...meter('grid', 'gridCo2GPerKWh', 140, from, to)] } },
      s.auth(s.tokens.ingest),
    ),
  );
  s.compact();
  return s;
}

describe.skipIf(missing('PostgreSQL (HEATLEDGER_TEST_PG_URL; .ci/pg/start.sh)', await hasPostgres()))('federation hub on PostgreSQL', () => {
  let pg: TestDatabase;
  let hub: HubStore;
  let hubApp: ReturnType<typeof createHubApp>;
  let a: Site;
  let b: Site;
  const tokens: Record<string, string> = {};
  const push = (s: Site, name: string, over: Partial<PushOptions> = {}) =>
    pushToHub(s.db.$client, { hubUrl: 'http://hub.test', token: tokens[name]!, site: name, now: () => NOW, fetch: (u, init) => Promise.resolve(hubApp.request(String(u), init)), ...over });
  const read = async (path: string) => {
    const res = await hubApp.request(path, { headers: { authorization: `Bearer ${tokens.read}` } });
    expect(res.status, await res.clone().text()).toBe(200);
    return res.json() as Promise<any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  };
  const from = T0 - 24 * H;
  const to = NOW - 2 * H;
  const win = `from=${iso(from)}&to=${iso(to)}`;

  /** Each site's own usage and attribution by project over the window, summed over sites. */
  async function sitesByProject(sites: Site[]) {
    const out = new Map<string, { gpuHours: number; energyKWh: number; overheadKWh: number; reusedKWh: number; co2Kg: number }>();
    for (const s of sites) {
      const usage = await (await s.client.api.v1.usage.$get({ query: { from: iso(from), to: iso(to), groupBy: 'project' } }, s.auth(s.tokens.read))).json();
      const energy = await (await s.client.api.v1.energy.projects.$get({ query: { from: iso(from), to: iso(to) } }, s.auth(s.tokens.read))).json();
      for (const r of usage.rows) {
        const m = out.get(r.key) ?? { gpuHours: 0, energyKWh: 0, overheadKWh: 0, reusedKWh: 0, co2Kg: 0 };
        m.gpuHours += r.gpuHours;
        m.energyKWh += r.energyKWh;
        out.set(r.key, m);
      }
      for (const r of energy.rows) {
        const m = out.get(r.key) ?? { gpuHours: 0, energyKWh: 0, overheadKWh: 0, reusedKWh: 0, co2Kg: 0 };
        m.overheadKWh += r.overheadKWh;
        m.reusedKWh += r.reusedHeatKWh;
        m.co2Kg += r.co2Kg;
        out.set(r.key, m);
      }
    }
    return out;
  }

  async function expectHubEqualsSites() {
    const want = await sitesByProject([a, b]);
    const got = await read(`/api/v1/hub/usage?groupBy=project&${win}`);
    const projects = got.rows.map((r: { project: string }) => r.project).sort();
    expect(projects).toEqual([...want.keys()].sort());
    for (const r of got.rows) {
      const w = want.get(r.project)!;
      // GPU-hours to the millisecond of one GPU, kWh to 1e-9.
      expect(Math.abs(r.gpuHours - w.gpuHours) * 3_600_000, r.project).toBeLessThan(1);
      if (r.project !== '(unattributed)') expect(r.energyKWh).toBeCloseTo(w.energyKWh, 9);
      expect(r.overheadKWh).toBeCloseTo(w.overheadKWh, 9);
      expect(r.reusedKWh).toBeCloseTo(w.reusedKWh, 9);
      expect(r.co2Kg).toBeCloseTo(w.co2Kg, 9);
    }
    return got.rows as Array<{ project: string; gpuHours: number; energyKWh: number }>;
  }

  beforeAll(async () => {
    pg = await freshDatabase('hub_push');
    hub = await openHub(pg.url);
    hubApp = createHubApp({ hub, now: () => NOW });
    tokens.bitten = await createHubToken(hub, { name: 'bitten', scope: 'push', site: 'bitten', expiresTs: null, nowTs: NOW });
    tokens['lumi-dk'] = await createHubToken(hub, { name: 'lumi', scope: 'push', site: 'lumi-dk', expiresTs: null, nowTs: NOW });
    tokens.read = await createHubToken(hub, { name: 'committee', scope: 'read', site: null, expiresTs: null, nowTs: NOW });
    a = await site('bitten', [
      { id: '1', project: 'proj-a', user: 'alice', partition: 'gpu', gpus: 2, submit: T0 - 20 * M, start: T0 + 7 * M, end: T0 + 2 * H + 37 * M, watts: 610 },
      { id: '2', project: 'proj-b', user: 'bob', partition: 'gpu', gpus: 1, submit: T0, start: T0 + 3 * H + 13 * M, end: T0 + 30 * H + 1 * M, watts: 420 },
      { id: '3', project: 'proj-a', user: 'carol', partition: 'big', gpus: 4, submit: T0 + 5 * H, start: T0 + 9 * H + 59 * M, end: null, watts: 700 },
    ]);
    b = await site('lumi-dk', [
      { id: '100', project: 'proj-a', user: 'alice', partition: 'standard-g', gpus: 8, submit: T0 - 3 * H, start: T0 - H + 17 * M, end: T0 + 5 * H + 11 * M, watts: 500 },
      { id: '101', project: 'proj-c', user: 'dora', partition: 'standard-g', gpus: 1, submit: T0 + 2 * H, start: T0 + 2 * H + 30 * M, end: T0 + 20 * H, watts: 300 },
    ]);
  });
  afterAll(async () => {
    await hub?.close();
    await pg?.drop();
  });

  it('holds, per project, the sum of what the two sites answer themselves', async () => {
    const ra = await push(a, 'bitten');
    const rb = await push(b, 'lumi-dk');
    expect(ra).toMatchObject({ ok: true, error: null });
    expect(rb).toMatchObject({ ok: true, error: null });
    expect(ra.sent).toBeGreaterThanOrEqual(2);
    const rows = await expectHubEqualsSites();
    // proj-a runs at both sites: its GPU-hours are both sites' (2 GPUs × 2 h 30 m at bitten, 8 × 5 h 54 m at LUMI, and carol's 4 GPUs running to the window's end).
    const projA = rows.find((r) => r.project === 'proj-a')!;
    const carol = (4 * (to - (T0 + 9 * H + 59 * M))) / H;
    expect(projA.gpuHours).toBeCloseTo(2 * 2.5 + 8 * (5 + 54 / 60) + carol, 9);
    // By site: each site's own figure.
    const bySite = await read(`/api/v1/hub/usage?groupBy=site&${win}`);
    expect(bySite.rows.map((r: { site: string }) => r.site)).toEqual(['bitten', 'lumi-dk']);
  });

  it('changes nothing when the same state is pushed again', async () => {
    const before = await read(`/api/v1/hub/usage?groupBy=site,project&${win}`);
    const again = await push(a, 'bitten');
    expect(again).toMatchObject({ ok: true, sent: 0 });
    expect(await read(`/api/v1/hub/usage?groupBy=site,project&${win}`)).toEqual(before);
  });

  it('takes a late sample at a site with the next push', async () => {
    const before = (await read(`/api/v1/hub/usage?groupBy=project&${win}`)).rows.find((r: { project: string }) => r.project === 'proj-c').energyKWh as number;
    // An hour of a second GPU of dora's job at LUMI, 400 W, arriving late: 0.4 kWh more.
    const late = series(T0 + 10 * H, T0 + 11 * H, 30, { gpuUuid: 'GPU-lumi-late', gpuIndex: 7, powerW: 400, jobIds: ['101'] });
    expect((await b.client.api.v1.ingest.gpu.$post({ json: { schema: 1, cluster: 'lumi-dk', node: 'lumi-dk-n01', samples: late } }, b.auth(b.tokens.ingest))).status).toBe(202);
    b.compact();
    const r = await push(b, 'lumi-dk');
    expect(r).toMatchObject({ ok: true, sent: 1 });
    const after = (await expectHubEqualsSites()).find((x) => x.project === 'proj-c')!.energyKWh;
    expect(after - before).toBeCloseTo(0.4, 6);
  });

  it("refuses a site's token writing another site's rows, and stores nothing of it", async () => {
    const before = await read(`/api/v1/hub/usage?groupBy=site,project&${win}`);
    const res = await hubApp.request('/api/v1/hub/push', {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.bitten}`, 'content-type': 'application/json' },
      body: JSON.stringify({ schema: 1, site: 'lumi-dk', days: [{ dayTs: T0 - 10 * H, completeToTs: T0 - 9 * H, hash: 'a'.repeat(64), usage: [], jobs: [], facility: [] }] }),
    });
    expect(res.status).toBe(403);
    expect((await res.json()).error.message).toBe('this token pushes for site bitten, not lumi-dk');
    // A read token cannot push either.
    expect((await hubApp.request('/api/v1/hub/state', { headers: { authorization: `Bearer ${tokens.read}` } })).status).toBe(403);
    expect(await read(`/api/v1/hub/usage?groupBy=site,project&${win}`)).toEqual(before);
  });

  it('refuses a malformed push whole, naming the field', async () => {
    const day = T0 - 10 * H;
    const res = await hubApp.request('/api/v1/hub/push', {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.bitten}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        schema: 1,
        site: 'bitten',
        days: [{ dayTs: day, completeToTs: day + H, hash: 'b'.repeat(64), usage: [{ hourTs: day, project: 'p', user: 'u', partition: 'gpu', gpuS: -1, measuredGpuS: 0, energyKWh: 0, inferredKWh: 0, overheadKWh: 0, reusedKWh: 0, co2Kg: 0 }], jobs: [], facility: [] }],
      }),
    });
    expect(res.status).toBe(400);
    expect((await res.json()).error.message).toBe('days.0.usage.0.gpuS: must not be negative');
  });

  it('answers waits with exact percentiles over both sites, and per-site PUE, ERF and ERE', async () => {
    const waits = await read(`/api/v1/hub/waits?groupBy=site,partition&from=${iso(T0 - 24 * H)}&to=${iso(NOW - 2 * H)}`);
    // bitten gpu: waits 27 min and 3 h 13 min; percentile_cont 0.5 is their mean, 0.9 is 27 + 0.9 × (193 − 27) minutes.
    const gpu = waits.rows.find((r: { site: string; partition: string }) => r.site === 'bitten' && r.partition === 'gpu');
    expect(gpu.jobs).toBe(2);
    expect(gpu.p50S).toBeCloseTo(((27 + 193) / 2) * 60, 6);
    expect(gpu.p90S).toBeCloseTo((27 + 0.9 * (193 - 27)) * 60, 6);
    const all = await read(`/api/v1/hub/waits?groupBy=site&from=${iso(T0 - 24 * H)}&to=${iso(NOW - 2 * H)}`);
    expect(all.rows.map((r: { jobs: number }) => r.jobs)).toEqual([3, 2]);
    // The stored runs (whole months and days, a project's days, edge hours from the jobs) give
    // what PostgreSQL's own percentile_cont gives over the jobs, on windows with edges inside
    // days and months, by every grouping, for all projects and narrowed to some.
    let compared = 0;
    for (const [a, b] of [
      [T0 - 24 * H, NOW - 2 * H],
      [T0 + 5 * H, T0 + 40 * H],
      [Date.parse('2026-10-01T00:00:00Z'), Date.parse('2026-12-01T00:00:00Z')],
    ] as const) {
      for (const groupBy of [['site', 'partition'], ['partition'], [], ['project'], ['site', 'project'], ['project', 'partition']] as HubWaitKey[][]) {
        for (const projects of [null, ['proj-a', 'proj-c']]) compared += await expectWaitsAsPostgres(hub, a, b, groupBy, projects);
      }
    }
    expect(compared).toBeGreaterThan(40);
    const facility = await read(`/api/v1/hub/facility?from=${iso(T0)}&to=${iso(T0 + 24 * H)}`);
    for (const s of facility.sites) {
      expect(s.hours).toBe(24);
      expect(s.pue).toBeCloseTo(6100 / 5000, 9);
      expect(s.erf).toBeCloseTo(2500 / 6100, 9);
      expect(s.ere).toBeCloseTo((6100 - 2500) / 5000, 9);
    }
  });

  it("uses a national grant by every site's GPU-hours", async () => {
    await setNationalGrant(hub, { project: 'proj-a', fromTs: T0 - 24 * H, toTs: T0 + 30 * 24 * H, gpuHours: 1000, actor: 'test', nowTs: NOW });
    const { grants } = await read('/api/v1/hub/grants');
    const g = grants.find((x: { site: string; project: string }) => x.site === '*' && x.project === 'proj-a');
    const bySite = (await read(`/api/v1/hub/usage?groupBy=site&from=${iso(T0 - 24 * H)}&to=${iso(NOW)}`)).rows;
    const perSite = (await Promise.all(['bitten', 'lumi-dk'].map(async (s) => (await read(`/api/v1/hub/usage?groupBy=site,project&from=${iso(T0 - 24 * H)}&to=${iso(NOW)}`)).rows.find((r: { site: string; project: string }) => r.site === s && r.project === 'proj-a').gpuHours as number)));
    expect(bySite).toHaveLength(2);
    expect(g.usedGpuHours).toBeCloseTo(perSite[0]! + perSite[1]!, 9);
    expect(g.usedBySite.map((x: { site: string }) => x.site)).toEqual(['bitten', 'lumi-dk']);
  });

  it('never receives a real user name unless the site opts in', async () => {
    const r = await hub.pool.query('SELECT DISTINCT user_name FROM hub_usage_hour UNION SELECT DISTINCT user_name FROM hub_jobs');
    const names = r.rows.map((x) => x.user_name as string);
    for (const real of ['alice', 'bob', 'carol', 'dora']) expect(names).not.toContain(real);
    expect(names.filter((n) => n !== '').every((n) => /^user-[0-9a-f]{8}$/.test(n))).toBe(true);
  });

  it('shows a researcher their projects at every site, and nothing of others', async () => {
    await putHubUser(hub, { username: 'rita', role: 'researcher', passwordHash: hashPassword('correct horse'), projects: ['proj-a'], nowTs: NOW });
    const login = await hubApp.request('/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'rita', password: 'correct horse' }) });
    expect(login.status).toBe(200);
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const as = (path: string) => hubApp.request(path, { headers: { cookie } });
    const usage = await (await as(`/api/v1/hub/usage?groupBy=site,project&${win}`)).json();
    expect(usage.rows.map((r: { site: string; project: string }) => `${r.site}/${r.project}`)).toEqual(['bitten/proj-a', 'lumi-dk/proj-a']);
    const review = await (await as(`/api/v1/hub/projects/proj-a/review?${win}`)).json();
    expect(review.bySite.map((r: { site: string }) => r.site)).toEqual(['bitten', 'lumi-dk']);
    // Its figures by site are the usage answer's for the project at each site.
    for (const [i, r] of review.bySite.entries()) {
      expect(r.gpuHours).toBeCloseTo(usage.rows[i].gpuHours, 9);
      expect(r.energyKWh).toBeCloseTo(usage.rows[i].energyKWh, 9);
      expect(r.co2Kg).toBeCloseTo(usage.rows[i].co2Kg, 9);
    }
    expect(review.bySite[0].gpuHours).toBeGreaterThan(0);
    expect(JSON.stringify(review)).not.toMatch(/proj-b|proj-c/);
    expect((await as(`/api/v1/hub/projects/proj-c/review?${win}`)).status).toBe(403);
    expect((await as(`/api/v1/hub/facility?${win}`)).status).toBe(403);
    const grants = await (await as('/api/v1/hub/grants')).json();
    expect(grants.grants.every((g: { project: string }) => g.project === 'proj-a')).toBe(true);
    expect((await hubApp.request(`/api/v1/hub/usage?${win}`)).status).toBe(401);
  });

  it("re-pushes the days a forgotten person's records touched, under the new pseudonym", async () => {
    const old = pseudonymiser(a.db.$client)('bob');
    const count = async (name: string) => Number((await hub.pool.query('SELECT COUNT(*) AS n FROM (SELECT user_name FROM hub_usage_hour WHERE user_name = $1 UNION ALL SELECT user_name FROM hub_jobs WHERE user_name = $1) x', [name])).rows[0].n);
    expect(await count(old)).toBeGreaterThan(0);
    const { pseudonym } = forgetPerson(a.db.$client, 'bob', { nowMs: NOW, actor: 'test' });
    a.compact();
    expect(await push(a, 'bitten')).toMatchObject({ ok: true });
    expect(await count(old)).toBe(0);
    expect(await count(pseudonymiser(a.db.$client)(pseudonym))).toBeGreaterThan(0);
    await expectHubEqualsSites();
  });

  it('pushes a long history a few days per round when told to, and ends where one push would', async () => {
    const c = await site('dcc', [
      { id: '7', project: 'proj-d', user: 'dan', partition: 'gpu', gpus: 3, submit: T0 - 30 * H, start: T0 - 30 * H + 5 * M, end: T0 + 20 * H + 7 * M, watts: 500 },
    ]);
    tokens.dcc = await createHubToken(hub, { name: 'dcc', scope: 'push', site: 'dcc', expiresTs: null, nowTs: NOW });
    const rounds: boolean[] = [];
    for (let r = await push(c, 'dcc', { maxDays: 1 }); ; r = await push(c, 'dcc', { maxDays: 1 })) {
      expect(r).toMatchObject({ ok: true, error: null });
      expect(r.sent).toBeLessThanOrEqual(1);
      rounds.push(r.more);
      if (!r.more) break;
    }
    // Data from two days before T0's day to the day before NOW's: four days, one per round, then a round with nothing left.
    expect(rounds).toEqual([true, true, true, true, false]);
    const usage = await (await c.client.api.v1.usage.$get({ query: { from: iso(from), to: iso(to), groupBy: 'project' } }, c.auth(c.tokens.read))).json();
    const hubRow = (await read(`/api/v1/hub/usage?groupBy=site,project&${win}`)).rows.find((r: { site: string; project: string }) => r.site === 'dcc' && r.project === 'proj-d');
    expect(hubRow.gpuHours).toBeCloseTo(usage.rows[0]!.gpuHours, 9);
    // 3 GPUs from the window's start (T0 − 24 h) to the end, T0 + 20 h 7 min.
    expect(hubRow.gpuHours).toBeCloseTo((3 * (44 * H + 7 * M)) / H, 9);
  });
});
