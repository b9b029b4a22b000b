/**
 * Issue 16 points 2, 3 and 5: project membership and grants from Slurm's associations,
 * through POST /api/v1/ingest/associations. What each person may see afterwards is checked
 * by what the answers contain, not only their status.
 */
import { describe, expect, it } from 'vitest';
import type { AssociationsBatch } from '../../collectors/shared/wire.ts';
import { forgetPerson } from '../../server/services/privacy.service.ts';
import { T0, iso, job, makeApp } from '../support/factories.ts';

type App = ReturnType<typeof makeApp>;
const PERIOD = { start: '2026-11-01T00:00:00.000Z', end: '2027-05-01T00:00:00.000Z' };

/** alice and carol in proj-a (carol its coordinator), bob in proj-b; proj-a limited to `gpuMinutes` under proj-parent (60,000 min). */
function batch(over: { gpuMinutes?: number; bobIn?: string; cluster?: string } = {}): AssociationsBatch {
  return {
    schema: 1,
    cluster: over.cluster ?? 'ci',
    associations: [
      { account: 'proj-parent', user: null, parent: 'root', gpuMinutes: 60_000 },
      { account: 'proj-a', user: null, parent: 'proj-parent', gpuMinutes: over.gpuMinutes ?? 6000 },
      { account: 'proj-a', user: 'alice' },
      { account: 'proj-a', user: 'carol' },
      { account: 'proj-b', user: null, parent: 'root' },
      { account: over.bobIn ?? 'proj-b', user: 'bob' },
    ],
    coordinators: [{ account: 'proj-a', user: 'carol' }],
  };
}

async function send(t: App, b: AssociationsBatch) {
  const res = await t.client.api.v1.ingest.associations.$post({ json: b }, t.auth(t.tokens.ingest));
  expect(res.status).toBe(202);
  return (await res.json()) as { accepted: number; duplicates: number; memberships: { added: number; removed: number; changed: number }; grants: { created: number; changed: number }; warnings: string[] };
}

async function login(t: App, username: string) {
  const res = await t.client.api.v1.auth.login.$post({ json: { username, password: 'correct horse' } });
  expect(res.status).toBe(200);
  return { headers: { cookie: res.headers.get('set-cookie')!.split(';')[0]! } };
}

const grants = (t: App) =>
  t.db.$client
    .prepare('SELECT p.name AS project, a.amount, a.source, a.period_start_ts AS s, a.period_end_ts AS e, (SELECT name FROM projects WHERE id = (SELECT project_id FROM allocations WHERE id = a.parent_id)) AS parent FROM allocations a JOIN projects p ON p.id = a.project_id ORDER BY p.name')
    .all() as Array<{ project: string; amount: number; source: string; s: number; e: number; parent: string | null }>;

async function sendJobs(t: App) {
  const jobs = [job({ jobId: '1', account: 'proj-a', user: 'alice' }), job({ jobId: '2', account: 'proj-a', user: 'carol' }), job({ jobId: '3', account: 'proj-b', user: 'bob' })];
  expect((await t.client.api.v1.ingest.jobs.$post({ json: { schema: 1, cluster: 'ci', jobs } }, t.auth(t.tokens.ingest))).status).toBe(202);
}

const jobIdsSeen = async (t: App, who: { headers: Record<string, string> }) => {
  const res = await t.app.request(`/api/v1/jobs?from=${iso(T0 - 3_600_000)}&to=${iso(T0 + 7_200_000)}`, who);
  return ((await res.json()) as { rows: Array<{ jobId: string }> }).rows.map((r) => r.jobId).sort();
};

describe('memberships and grants from Slurm associations', () => {
  it('makes the associated users members, coordinators PIs, and the gres/gpu limits grants under their parent', async () => {
    const t = makeApp({ config: { grantPeriod: PERIOD } });
    const r = await send(t, batch());
    expect(r.memberships).toEqual({ added: 3, removed: 0, changed: 0 });
    expect(r.grants).toEqual({ created: 2, changed: 0 });
    expect(r.warnings).toEqual([]);
    // 6000 GPU-minutes = 100 GPU-hours, 60,000 = 1000; proj-b has no limit: no grant.
    expect(grants(t)).toEqual([
      { project: 'proj-a', amount: 100, source: 'slurm', s: Date.parse(PERIOD.start), e: Date.parse(PERIOD.end), parent: 'proj-parent' },
      { project: 'proj-parent', amount: 1000, source: 'slurm', s: Date.parse(PERIOD.start), e: Date.parse(PERIOD.end), parent: null },
    ]);
    const members = await (await t.app.request('/api/v1/projects/proj-a/members', t.auth(t.tokens.admin))).json();
    expect(members).toEqual({ project: 'proj-a', fromSlurm: [{ user: 'carol', pi: true }, { user: 'alice', pi: false }], fromAdministrators: [] });
  });

  it('sending the same associations again changes nothing', async () => {
    const t = makeApp({ config: { grantPeriod: PERIOD } });
    await send(t, batch());
    const again = await send(t, batch());
    expect(again).toMatchObject({ accepted: 0, duplicates: 7, memberships: { added: 0, removed: 0, changed: 0 }, grants: { created: 0, changed: 0 } });
    expect(grants(t)).toHaveLength(2);
  });

  it('a changed limit changes the grant, audited with the old and new value', async () => {
    const t = makeApp({ config: { grantPeriod: PERIOD } });
    await send(t, batch());
    const r = await send(t, batch({ gpuMinutes: 9000 }));
    expect(r.grants).toEqual({ created: 0, changed: 1 });
    expect(grants(t).find((g) => g.project === 'proj-a')!.amount).toBe(150);
    const audit = t.db.$client.prepare("SELECT actor, action, details FROM audit_log WHERE action = 'allocation.update'").all() as Array<{ actor: string; action: string; details: string }>;
    expect(audit).toHaveLength(1);
    expect(audit[0]!.actor).toBe('slurm:ci');
    const details = JSON.parse(audit[0]!.details) as { before: { grantedGpuHours: number }; after: { grantedGpuHours: number } };
    expect([details.before.grantedGpuHours, details.after.grantedGpuHours]).toEqual([100, 150]);
  });

  it('a user removed from an account in Slurm loses access with the next batch; an administrator’s membership stays', async () => {
    const t = makeApp({ config: { grantPeriod: PERIOD } });
    t.addPerson('bob', 'researcher');
    t.addPerson('dave', 'researcher', ['proj-b']);
    await sendJobs(t);
    await send(t, batch());
    const bob = await login(t, 'bob');
    expect(await jobIdsSeen(t, bob)).toEqual(['3']);
    expect((await t.app.request('/api/v1/projects/proj-b/review', bob)).status).toBe(200);
    // bob moves from proj-b to proj-a in Slurm.
    const r = await send(t, batch({ bobIn: 'proj-a' }));
    expect(r.memberships).toMatchObject({ added: 1, removed: 1 });
    const review = await t.app.request('/api/v1/projects/proj-b/review', bob);
    expect(review.status).toBe(403);
    expect(JSON.stringify(await review.json())).not.toContain('gpuHours');
    // His own job in proj-b is no longer his to see through proj-b; proj-a's review is now his.
    expect((await t.app.request('/api/v1/projects/proj-a/review', bob)).status).toBe(200);
    // dave was added by an administrator: Slurm not naming him changes nothing.
    const members = await (await t.app.request('/api/v1/projects/proj-b/members', t.auth(t.tokens.admin))).json();
    expect(members).toEqual({ project: 'proj-b', fromSlurm: [], fromAdministrators: [{ user: 'dave', pi: false }] });
    expect((await t.app.request('/api/v1/projects/proj-b/review', await login(t, 'dave'))).status).toBe(200);
  });

  it('a coordinator sees the accounts they coordinate as their PI, every member’s jobs, and no other project', async () => {
    const t = makeApp({ config: { grantPeriod: PERIOD } });
    t.addPerson('carol', 'researcher');
    t.addPerson('alice', 'researcher');
    await sendJobs(t);
    await send(t, batch());
    const carol = await login(t, 'carol');
    const me = (await (await t.app.request('/api/v1/auth/me', carol)).json()) as { me: { role: string; projects: string[] } };
    expect(me.me).toMatchObject({ role: 'pi', projects: ['proj-a'] });
    expect(await jobIdsSeen(t, carol)).toEqual(['1', '2']);
    expect((await t.app.request('/api/v1/projects/proj-b/review', carol)).status).toBe(403);
    // alice, a member only: her own job, not carol's, and no member list.
    const alice = await login(t, 'alice');
    expect(await jobIdsSeen(t, alice)).toEqual(['1']);
    expect((await t.app.request('/api/v1/projects/proj-a/members', alice)).status).toBe(403);
    // A user name that is not in Slurm sees no project.
    t.addPerson('eve', 'researcher');
    const eve = await login(t, 'eve');
    expect(await jobIdsSeen(t, eve)).toEqual([]);
    expect((await t.app.request('/api/v1/projects/proj-a/review', eve)).status).toBe(403);
  });

  it('a batch speaks for its own cluster only: another cluster’s batch neither adds to nor removes from it', async () => {
    const t = makeApp({ config: { grantPeriod: PERIOD } });
    await send(t, batch());
    const other = await send(t, { schema: 1, cluster: 'lumi', associations: [{ account: 'proj-z', user: 'mallory' }], coordinators: [] });
    expect(other.memberships).toEqual({ added: 1, removed: 0, changed: 0 });
    // An empty batch for lumi removes lumi's memberships, not ci's.
    const emptied = await send(t, { schema: 1, cluster: 'lumi', associations: [], coordinators: [] });
    expect(emptied.memberships).toEqual({ added: 0, removed: 1, changed: 0 });
    const a = await (await t.app.request('/api/v1/projects/proj-a/members', t.auth(t.tokens.admin))).json();
    expect((a as { fromSlurm: unknown[] }).fromSlurm).toHaveLength(2);
  });

  it('never lets an association on one cluster open another cluster’s account of the same name', async () => {
    const t = makeApp({ config: { grantPeriod: PERIOD } });
    t.addPerson('alice', 'researcher');
    await send(t, batch());
    // lumi also has an account proj-a, of dave only.
    const r = await send(t, { schema: 1, cluster: 'lumi', associations: [{ account: 'proj-a', user: null }, { account: 'proj-a', user: 'dave' }], coordinators: [] });
    expect(r.warnings).toEqual([
      'proj-a: alice is not associated with it on lumi, which has an account of that name: no access from Slurm (rename one with --account-map)',
      'proj-a: carol is not associated with it on lumi, which has an account of that name: no access from Slurm (rename one with --account-map)',
      'proj-a: dave is not associated with it on ci, which has an account of that name: no access from Slurm (rename one with --account-map)',
    ]);
    expect(r.memberships).toMatchObject({ removed: 2 });
    // lumi's jobs of proj-a are not alice's to see.
    const lumiJob = job({ jobId: '9', account: 'proj-a', user: 'dave' });
    expect((await t.client.api.v1.ingest.jobs.$post({ json: { schema: 1, cluster: 'lumi', jobs: [lumiJob] } }, t.auth(t.tokens.ingest))).status).toBe(202);
    const alice = await login(t, 'alice');
    expect(await jobIdsSeen(t, alice)).toEqual([]);
    expect((await t.app.request('/api/v1/projects/proj-a/review', alice)).status).toBe(403);
    // Associated on both clusters: a member again.
    const both = await send(t, { schema: 1, cluster: 'lumi', associations: [{ account: 'proj-a', user: null }, { account: 'proj-a', user: 'dave' }, { account: 'proj-a', user: 'alice' }], coordinators: [] });
    expect(both.warnings.some((w) => w.includes(' alice '))).toBe(false);
    expect((await t.app.request('/api/v1/projects/proj-a/review', alice)).status).toBe(200);
  });

  it('keeps grants Slurm does not limit, takes the period of an existing grant, and says when there is none', async () => {
    const t = makeApp();
    const created = await t.client.api.v1.allocations.$post({ json: { project: 'proj-a', parentId: null, grantedGpuHours: 40, periodStart: '2026-10-01T00:00:00Z', periodEnd: '2027-04-01T00:00:00Z' } }, t.auth(t.tokens.admin));
    expect(created.status).toBe(201);
    await t.client.api.v1.allocations.$post({ json: { project: 'proj-b', parentId: null, grantedGpuHours: 7, periodStart: '2026-10-01T00:00:00Z', periodEnd: '2027-04-01T00:00:00Z' } }, t.auth(t.tokens.admin));
    const r = await send(t, batch());
    // proj-parent has no grant and no period is configured: named, not invented.
    expect(r.warnings).toEqual(['proj-parent: GrpTRESMins gres/gpu=60000 but no grant period (set HEATLEDGER_GRANT_PERIOD or give the project a grant)']);
    const g = grants(t);
    expect(g.find((x) => x.project === 'proj-a')).toMatchObject({ amount: 100, source: 'slurm', s: Date.parse('2026-10-01T00:00:00Z') });
    expect(g.find((x) => x.project === 'proj-b')).toMatchObject({ amount: 7, source: 'admin' });
  });

  it('refuses a malformed batch whole, naming the field, and stores nothing', async () => {
    const t = makeApp({ config: { grantPeriod: PERIOD } });
    const res = await t.app.request('/api/v1/ingest/associations', {
      method: 'POST',
      headers: { ...t.auth(t.tokens.ingest).headers, 'content-type': 'application/json' },
      body: JSON.stringify({ ...batch(), associations: [...batch().associations, { account: 'proj-c', user: 'x', gpuMinutes: -5 }] }),
    });
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain('associations.6.gpuMinutes');
    expect(t.count('slurm_associations') + t.count('project_members') + t.count('allocations')).toBe(0);
  });

  it('does not bring back a forgotten person that Slurm still names', async () => {
    const t = makeApp({ config: { grantPeriod: PERIOD } });
    await send(t, batch());
    // What `heatledger user forget alice` runs.
    forgetPerson(t.db.$client, 'alice', { nowMs: T0, actor: 'test' });
    await send(t, batch());
    const names = (t.db.$client.prepare('SELECT username FROM users').all() as Array<{ username: string }>).map((u) => u.username);
    expect(names).not.toContain('alice');
    expect(t.db.$client.prepare("SELECT COUNT(*) AS n FROM slurm_associations WHERE user = 'alice'").get()).toEqual({ n: 0 });
  });
});
