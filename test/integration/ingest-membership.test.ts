/**
 * Issue 15 point 7: membership grants access to a project's figures, so it comes from an
 * administrator, never from job records that any ingest token may send.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { describe, expect, it } from 'vitest';
import { migrationsFolder, openDatabase } from '../../db/client.ts';
import { H, T0, iso, job, makeApp } from '../support/factories.ts';

const jobsBatch = (jobs: ReturnType<typeof job>[]) => ({ schema: 1 as const, cluster: 'bitten', jobs });

type App = ReturnType<typeof makeApp>;

async function login(t: App, username: string) {
  const res = await t.client.api.v1.auth.login.$post({ json: { username, password: 'correct horse' } });
  expect(res.status).toBe(200);
  return { headers: { cookie: res.headers.get('set-cookie')!.split(';')[0]! } };
}

const membershipsOf = (t: App, username: string) =>
  (
    t.db.$client
      .prepare('SELECT p.name FROM project_members m JOIN projects p ON p.id = m.project_id JOIN users u ON u.id = m.user_id WHERE u.username = ? ORDER BY p.name')
      .all(username) as Array<{ name: string }>
  ).map((r) => r.name);

describe('memberships do not come from job records', () => {
  it('a job moving from account A to B to C makes its user a member of none of them', async () => {
    const t = makeApp();
    t.addPerson('alice', 'researcher');
    const send = async (over: Parameters<typeof job>[0]) => {
      const res = await t.client.api.v1.ingest.jobs.$post({ json: jobsBatch([job(over)]) }, t.auth(t.tokens.ingest));
      expect(await res.json()).toEqual({ accepted: 1, duplicates: 0 });
    };
    await send({ jobId: '1', account: 'proj-a', state: 'PENDING', startTime: null, endTime: null });
    await send({ jobId: '1', account: 'proj-b', state: 'RUNNING', endTime: null });
    await send({ jobId: '1', account: 'proj-c', state: 'COMPLETED' });

    // The accounts are known as projects; nobody is a member of any.
    const projects = t.db.$client.prepare('SELECT name FROM projects ORDER BY name').all();
    expect(projects).toEqual([{ name: 'proj-a' }, { name: 'proj-b' }, { name: 'proj-c' }]);
    expect(t.count('project_members')).toBe(0);

    const alice = await login(t, 'alice');
    for (const project of ['proj-a', 'proj-b', 'proj-c']) {
      const res = await t.app.request(`/api/v1/projects/${project}/review`, alice);
      expect([403, 404]).toContain(res.status);
      const body = (await res.text());
      expect(body).not.toContain('gpuHours');
    }
    const usage = await (await t.client.api.v1.usage.$get({ query: { from: iso(T0 - H), to: iso(T0 + 2 * H), groupBy: 'project' } }, alice)).json();
    expect(usage.rows).toEqual([]);
  });

  it('an ingest token cannot give a person access to a project', async () => {
    const t = makeApp();
    // The administrator made mallory a member of proj-x only; proj-secret holds bob's 3 GPU-hours.
    t.addPerson('mallory', 'researcher', ['proj-x']);
    await t.client.api.v1.ingest.jobs.$post(
      { json: jobsBatch([job({ jobId: '1', account: 'proj-secret', user: 'bob', gpus: 3 }), job({ jobId: '2', account: 'proj-x', user: 'mallory', gpus: 1 })]) },
      t.auth(t.tokens.ingest),
    );
    // Whoever holds an ingest token sends a record naming mallory in proj-secret.
    const forged = await t.client.api.v1.ingest.jobs.$post(
      { json: jobsBatch([job({ jobId: 'forged', account: 'proj-secret', user: 'mallory', gpus: 0 })]) },
      t.auth(t.tokens.ingest),
    );
    expect(await forged.json()).toEqual({ accepted: 1, duplicates: 0 });
    expect(membershipsOf(t, 'mallory')).toEqual(['proj-x']);

    const mallory = await login(t, 'mallory');
    const review = await t.app.request('/api/v1/projects/proj-secret/review', mallory);
    expect([403, 404]).toContain(review.status);
    const text = await review.text();
    expect(text).not.toContain('bob');
    expect(text).not.toContain('gpuHours');
    const usage = await (await t.client.api.v1.usage.$get({ query: { from: iso(T0 - H), to: iso(T0 + 2 * H), groupBy: 'project' } }, mallory)).json();
    expect(usage.rows.map((r) => [r.key, r.gpuHours])).toEqual([['proj-x', 1]]);
    const jobs = (await (await t.app.request(`/api/v1/jobs?from=${iso(T0 - 2 * H)}&to=${iso(T0 + 2 * H)}`, mallory)).json()) as { rows: Array<{ jobId: string; project: string }> };
    expect(jobs.rows.map((r) => [r.jobId, r.project])).toEqual([['2', 'proj-x']]);
  });
});

describe('migration 0017 recomputes memberships', () => {
  it('keeps exactly the memberships an administrator gave', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hl-mig-'));
    // The committed migrations up to 0016, with their journal cut there.
    const upTo16 = join(dir, 'migrations');
    mkdirSync(join(upTo16, 'meta'), { recursive: true });
    for (const f of readdirSync(migrationsFolder)) if (/^00(0\d|1[0-6])_.*\.sql$/.test(f)) copyFileSync(join(migrationsFolder, f), join(upTo16, f));
    const journal = JSON.parse(readFileSync(join(migrationsFolder, 'meta/_journal.json'), 'utf8')) as { entries: Array<{ idx: number }> };
    journal.entries = journal.entries.filter((e) => e.idx <= 16);
    writeFileSync(join(upTo16, 'meta/_journal.json'), JSON.stringify(journal));

    const path = join(dir, 'h.db');
    const old = new Database(path);
    migrate(drizzle(old), { migrationsFolder: upTo16 });
    const columns = (old.prepare("SELECT name FROM pragma_table_info('project_members')").all() as Array<{ name: string }>).map((c) => c.name);
    expect(columns).not.toContain('source');
    const run = (sql: string, ...args: unknown[]) => old.prepare(sql).run(...args);
    for (const p of ['proj-a', 'proj-b', 'proj-c', 'proj-d']) run('INSERT INTO projects (name, created_ts) VALUES (?, 0)', p);
    // pia: `user add --project proj-a` (audited), then job records in proj-b and proj-c.
    // rob: `user add --project proj-c --project proj-d`, a job record in proj-a.
    // sam: a scheduler user seen only in job records (no password), in proj-a and proj-d.
    // ann: `user add` with no project, then job records in proj-b.
    run("INSERT INTO users (username, role, password_hash, created_ts) VALUES ('pia', 'pi', 'scrypt$x', 0)");
    run("INSERT INTO users (username, role, password_hash, created_ts) VALUES ('rob', 'researcher', 'scrypt$x', 0)");
    run("INSERT INTO users (username, role, password_hash, created_ts) VALUES ('sam', 'researcher', NULL, 0)");
    run("INSERT INTO users (username, role, password_hash, created_ts) VALUES ('ann', 'researcher', 'scrypt$x', 0)");
    const member = (user: string, project: string, isPi = 0) =>
      run('INSERT INTO project_members (project_id, user_id, is_pi) SELECT p.id, u.id, ? FROM projects p, users u WHERE p.name = ? AND u.username = ?', isPi, project, user);
    member('pia', 'proj-a', 1);
    member('pia', 'proj-b');
    member('pia', 'proj-c');
    member('rob', 'proj-c');
    member('rob', 'proj-d');
    member('rob', 'proj-a');
    member('sam', 'proj-a');
    member('sam', 'proj-d');
    member('ann', 'proj-b');
    const audit = (user: string, projects: string[]) =>
      run("INSERT INTO audit_log (ts, actor, action, target, details) VALUES (0, 'cli:root', 'user.add', ?, ?)", `user:${user}`, JSON.stringify({ role: 'x', projects }));
    audit('pia', ['proj-a']);
    audit('rob', ['proj-c', 'proj-d']);
    audit('ann', []);
    old.close();

    const db = openDatabase(path, { refreshRollups: false });
    const rows = db.$client
      .prepare(
        `SELECT u.username AS user, p.name AS project, m.is_pi AS isPi, m.source FROM project_members m
         JOIN users u ON u.id = m.user_id JOIN projects p ON p.id = m.project_id ORDER BY 1, 2`,
      )
      .all();
    expect(rows).toEqual([
      { user: 'pia', project: 'proj-a', isPi: 1, source: 'admin' },
      { user: 'rob', project: 'proj-c', isPi: 0, source: 'admin' },
      { user: 'rob', project: 'proj-d', isPi: 0, source: 'admin' },
    ]);
    db.$client.close();
  });
});
