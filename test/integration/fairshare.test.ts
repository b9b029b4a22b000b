/**
 * Issue 19 point 3: fair share through POST /api/v1/ingest/fairshare and GET /api/v1/fairshare.
 * The batch is what the collector makes of the recorded `sshare -a -l -P` of a real Slurm
 * with usage (test/fixtures/slurm-assoc); the expected figures are read off that file:
 *
 *    proj-b||60|0.594059|32|0.242657|0.242657||2.448149||…
 *     proj-b|bob|1|1.000000|32|0.242657|1.000000|0.800000|1.000000||…
 *    proj-parent||40|0.396040|102|0.757343|0.757343||0.522933||…
 *     proj-a||3|0.750000|102|0.757343|1.000000||0.750000|gres/gpu=6000|…
 *      proj-a|alice|2|1.000000|102|0.757343|1.000000|0.200000|1.000000||…
 *      proj-a|root|parent|0.750000|0|0.000000|0.000000|0.400000|||…
 *     proj-c||1|0.250000|0|0.000000|0.000000||inf||…
 *      proj-c|alice|1|1.000000|0|0.000000|0.000000|0.600000|inf||…
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fairshareBatch, parseSshare } from '../../collectors/slurm/sshare.ts';
import type { FairshareBatch } from '../../collectors/shared/wire.ts';
import { forgetPerson } from '../../server/services/privacy.service.ts';
import type { FairshareAnswer } from '../../server/services/fairshare.service.ts';
import { T0, makeApp } from '../support/factories.ts';

type App = ReturnType<typeof makeApp>;
const recorded = readFileSync(join(import.meta.dirname, '../fixtures/slurm-assoc/sshare-22.05.8_a-l-P_multifactor.txt'), 'utf8');
const batchAt = (takenAt: string, cluster = 'fs') => fairshareBatch(cluster, parseSshare(recorded).rows, new Date(takenAt));

async function send(t: App, b: FairshareBatch | Record<string, unknown>) {
  return t.app.request('/api/v1/ingest/fairshare', { method: 'POST', headers: { ...t.auth(t.tokens.ingest).headers, 'content-type': 'application/json' }, body: JSON.stringify(b) });
}

async function login(t: App, username: string) {
  const res = await t.client.api.v1.auth.login.$post({ json: { username, password: 'correct horse' } });
  expect(res.status).toBe(200);
  return { headers: { cookie: res.headers.get('set-cookie')!.split(';')[0]! } };
}

async function read(t: App, who: { headers: Record<string, string> }, query = '') {
  const res = await t.app.request(`/api/v1/fairshare${query}`, who);
  return { status: res.status, body: (await res.json()) as FairshareAnswer & { error?: { code: string; message: string } } };
}

describe('fair share from sshare, through the API', () => {
  it('stores the batch and gives each project its share, usage, ratio and a sentence', async () => {
    const t = makeApp();
    const res = await send(t, batchAt('2026-12-04T10:00:03Z'));
    expect(res.status).toBe(202);
    // 10 lines of sshare, each (account, user) once.
    expect(await res.json()).toEqual({ accepted: 10, duplicates: 0 });
    const { status, body } = await read(t, t.auth(t.tokens.admin));
    expect(status).toBe(200);
    expect(body.clusters).toEqual([{ cluster: 'fs', takenAt: '2026-12-04T10:00:03.000Z' }]);
    // Slurm's root is the top of the tree, not a project.
    expect(body.projects.map((p) => [p.project, p.parent])).toEqual([['proj-a', 'proj-parent'], ['proj-b', 'root'], ['proj-c', 'proj-parent'], ['proj-parent', 'root']]);
    const p = Object.fromEntries(body.projects.map((x) => [x.project, x]));
    // proj-parent: 0.757343 of the usage under root on 0.396040 of the shares.
    expect(p['proj-parent']).toMatchObject({ cluster: 'fs', rawShares: 40, shares: 0.39604, usage: 0.757343, fairShare: null, levelFs: 0.522933, rawUsage: 102, standing: 'over' });
    expect(p['proj-parent']!.ratio).toBeCloseTo(0.757343 / 0.39604, 12);
    expect(p['proj-parent']!.explanation).toBe('proj-parent used 1.9× its share this period; its jobs start after projects below their share');
    expect(p['proj-b']!.ratio).toBeCloseTo(0.242657 / 0.594059, 12);
    expect(p['proj-b']!.explanation).toBe('proj-b used 0.4× its share this period; its jobs are placed ahead of projects above their share');
    // proj-a: all of proj-parent's usage on 3 of its 4 shares.
    expect(p['proj-a']).toMatchObject({ shares: 0.75, usage: 1, grpTresMins: 'gres/gpu=6000', standing: 'over' });
    expect(p['proj-a']!.explanation).toBe('proj-a used 1.3× its share this period; its jobs start after projects below their share');
    expect(p['proj-c']).toMatchObject({ usage: 0, levelFs: null, ratio: 0, standing: 'no-usage', explanation: 'proj-c has no usage yet: its jobs get the highest fair-share priority' });
    // Users within their project, for roles with per-user access.
    expect(p['proj-a']!.users.map((u) => [u.user, u.shares, u.fairShare, u.standing])).toEqual([['alice', 1, 0.2, 'even'], ['root', 0.75, 0.4, 'parent']]);
    expect(p['proj-a']!.users[1]!.explanation).toBe("root draws on proj-a's share: their jobs are placed as proj-a's are");
  });

  it('shows researchers their own projects and only their own user rows, PIs their members, the committee no user rows', async () => {
    const t = makeApp();
    await send(t, batchAt('2026-12-04T10:00:03Z'));
    t.addPerson('alice', 'researcher', ['proj-a', 'proj-c']);
    t.addPerson('bob', 'researcher', ['proj-b']);
    t.addPerson('carol', 'pi', ['proj-a']);
    t.addPerson('kim', 'committee');

    const alice = await read(t, await login(t, 'alice'));
    expect(alice.body.projects.map((p) => p.project)).toEqual(['proj-a', 'proj-c']);
    // root is alice's colleague in proj-a: his figures are not hers to see under his name.
    expect(alice.body.projects.flatMap((p) => p.users.map((u) => `${p.project}/${u.user}`))).toEqual(['proj-a/alice', 'proj-c/alice']);
    expect(JSON.stringify(alice.body)).not.toContain('"root"');

    const bob = await login(t, 'bob');
    expect((await read(t, bob)).body.projects.map((p) => [p.project, p.users.map((u) => u.user)])).toEqual([['proj-b', ['bob']]]);
    const other = await read(t, bob, '?project=proj-a');
    expect(other.status).toBe(403);
    expect(other.body.error!.code).toBe('FORBIDDEN');
    expect(JSON.stringify(other.body)).not.toContain('0.757343');

    const carol = await read(t, await login(t, 'carol'), '?project=proj-a');
    expect(carol.body.projects.map((p) => [p.project, p.users.map((u) => u.user)])).toEqual([['proj-a', ['alice', 'root']]]);

    const kim = await read(t, await login(t, 'kim'));
    expect(kim.body.projects).toHaveLength(4);
    expect(kim.body.projects.every((p) => p.users.length === 0)).toBe(true);
  });

  it('replaces a cluster’s fair share with a newer batch, keeps other clusters, and ignores an older one', async () => {
    const t = makeApp();
    await send(t, batchAt('2026-12-04T10:00:03Z'));
    await send(t, batchAt('2026-12-04T10:00:03Z', 'lumi'));
    const newer = batchAt('2026-12-04T10:05:00Z');
    newer.rows = newer.rows.filter((r) => r.account !== 'proj-c');
    expect(await (await send(t, newer)).json()).toEqual({ accepted: 8, duplicates: 0 });
    const count = (cluster: string) => (t.db.$client.prepare('SELECT COUNT(*) AS n, MAX(taken_ts) AS ts FROM fairshare WHERE cluster = ?').get(cluster) as { n: number; ts: number });
    expect(count('fs')).toEqual({ n: 8, ts: Date.parse('2026-12-04T10:05:00Z') });
    expect(count('lumi').n).toBe(10);
    // A spooled batch arriving late, and the same batch again, change nothing.
    expect(await (await send(t, batchAt('2026-12-04T10:01:00Z'))).json()).toEqual({ accepted: 0, duplicates: 10 });
    expect(await (await send(t, newer)).json()).toEqual({ accepted: 0, duplicates: 8 });
    expect(count('fs').n).toBe(8);
    const fs = (await read(t, t.auth(t.tokens.read), '?cluster=fs')).body;
    expect(fs.projects.map((p) => p.project)).toEqual(['proj-a', 'proj-b', 'proj-parent']);
  });

  it('refuses a malformed batch whole with 400 naming the field, and stores nothing', async () => {
    const t = makeApp();
    const good = batchAt('2026-12-04T10:00:03Z');
    const bad = await send(t, { ...good, rows: good.rows.map((r, i) => (i === 3 ? { ...r, normShares: 1.5 } : r)) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/^rows\.3\.normShares: /);
    const twice = await send(t, { ...good, rows: [...good.rows, good.rows[6]] });
    expect(twice.status).toBe(400);
    expect(((await twice.json()) as { error: { message: string } }).error.message).toBe('rows.10.user: account proj-a user alice is listed twice');
    const noTime = await send(t, { ...good, takenAt: '2026-02-30T00:00:00Z' });
    expect(noTime.status).toBe(400);
    expect(t.count('fairshare')).toBe(0);
    // Readers and ingest tokens stay in their lanes.
    expect((await t.app.request('/api/v1/ingest/fairshare', { method: 'POST', headers: { ...t.auth(t.tokens.read).headers, 'content-type': 'application/json' }, body: JSON.stringify(good) })).status).toBe(403);
    expect((await read(t, t.auth(t.tokens.ingest))).status).toBe(403);
  });

  it('forgetting a person removes their fair-share rows, and the next batch does not bring them back', async () => {
    const t = makeApp();
    t.addPerson('alice', 'researcher', ['proj-a']);
    await send(t, batchAt('2026-12-04T10:00:03Z'));
    forgetPerson(t.db.$client, 'alice', { nowMs: T0, actor: 'test' });
    expect(t.db.$client.prepare("SELECT COUNT(*) AS n FROM fairshare WHERE user = 'alice'").get()).toEqual({ n: 0 });
    expect(await (await send(t, batchAt('2026-12-04T10:05:00Z'))).json()).toEqual({ accepted: 8, duplicates: 2 });
    expect(t.db.$client.prepare("SELECT COUNT(*) AS n FROM fairshare WHERE user = 'alice'").get()).toEqual({ n: 0 });
  });
});
