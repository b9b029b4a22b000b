/**
 * Operations (issue 9 §5): online backup and restore, raw-sample retention, and the
 * data-protection commands (`user export`, `user forget`), with the audit log they write.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../db/client.ts';
import { createApp } from '../../server/app.ts';
import { testConfig } from '../../server/config.ts';
import { startServer } from '../../server/main.ts';
import { createToken } from '../../server/services/auth.service.ts';
import { backupDatabase } from '../../server/services/backup.service.ts';
import { exportPerson, forgetPerson } from '../../server/services/privacy.service.ts';
import { purgeRawSamples } from '../../server/services/retention.service.ts';
import { H, T0, iso, job, makeApp, series } from '../support/factories.ts';

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const work = mkdtempSync(join(tmpdir(), 'hl-ops-'));
const DAY = 24 * H;

function cli(args: string[], stdin = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [join(repoRoot, 'bin/heatledger.js'), ...args], { cwd: repoRoot });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin.end(stdin);
  return new Promise((res) => child.on('close', (code) => res({ code, stdout, stderr })));
}

const countOf = (sqlite: Database.Database, table: string) => (sqlite.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
const tables = ['gpu_samples', 'jobs', 'job_hour', 'gpu_hour', 'usage_day', 'usage_month', 'users', 'projects', 'api_tokens', 'ingest_batches'];

/** A file database with an app over it, fixed clock two days after T0. */
function fileApp(name: string) {
  const dbPath = join(work, name);
  const db = openDatabase(dbPath);
  const app = createApp({ db, config: testConfig({ dbPath, webDir: '/nonexistent' }), now: () => T0 + 2 * DAY });
  const ingest = createToken(db, 'ingest', 'ingest');
  const read = createToken(db, 'read', 'read');
  const post = (kind: string, body: unknown) =>
    app.request(`/api/v1/ingest/${kind}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', authorization: `Bearer ${ingest}` } });
  return { dbPath, db, app, read, post };
}

async function usageOf(app: ReturnType<typeof createApp>, token: string) {
  const res = await app.request(`/api/v1/usage?from=${iso(T0)}&to=${iso(T0 + 4 * H)}&groupBy=project`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { rows: Array<{ key: string; gpuHours: number; energyKWh: number }> }).rows;
}

describe('heatledger backup', () => {
  const live = fileApp('live.db');
  afterAll(() => live.db.$client.close());

  it('copies a consistent database while ingest goes on, and the copy restores the same answers', async () => {
    expect((await live.post('jobs', { schema: 1, cluster: 'c', jobs: [job({ jobId: '1', account: 'proj-a', startTime: iso(T0), endTime: iso(T0 + 4 * H) })] })).status).toBe(202);
    // 40 batches of 4 GPUs × 30 samples; the backup runs in the middle of them.
    const batches = Array.from({ length: 40 }, (_, b) => ({
      schema: 1,
      cluster: 'c',
      node: 'n1',
      samples: [0, 1, 2, 3].flatMap((g) => series(T0 + b * 300_000, T0 + b * 300_000 + 290_000, 10, { gpuUuid: `G${g}`, gpuIndex: g, jobIds: ['1'], powerW: 100 + g * 50 + b })),
    }));
    let acked = 0;
    const ingestAll = (async () => {
      for (const batch of batches) {
        expect((await live.post('gpu', batch)).status).toBe(202);
        acked++;
        await new Promise((r) => setImmediate(r));
      }
    })();
    while (acked < 5) await new Promise((r) => setImmediate(r));
    const midPath = join(work, 'mid.db');
    const mid = await backupDatabase(live.dbPath, midPath);
    await ingestAll;
    expect(mid.integrity).toBe('ok');
    const midDb = new Database(midPath, { readonly: true });
    // Consistent: the rollups in the copy match its raw samples (each GPU's energy =
    // trapezoid over its stored samples, 10 s apart, 300 s batches chained by the cursor).
    const rows = midDb.prepare('SELECT gpu_id AS g, ts, power_w AS p FROM gpu_samples ORDER BY gpu_id, ts').all() as Array<{ g: number; ts: number; p: number }>;
    let wh = 0;
    for (let i = 1; i < rows.length; i++) if (rows[i]!.g === rows[i - 1]!.g) wh += (((rows[i]!.p + rows[i - 1]!.p) / 2) * (rows[i]!.ts - rows[i - 1]!.ts)) / 3_600_000;
    const rolled = (midDb.prepare('SELECT SUM(energy_wh) AS wh FROM job_hour').get() as { wh: number | null }).wh ?? 0;
    expect(rolled).toBeCloseTo(wh, 6);
    expect(countOf(midDb, 'gpu_samples') % 120).toBe(0); // whole batches only
    // Taken mid-ingest: some acknowledged batches are in it, not all.
    expect(countOf(midDb, 'gpu_samples')).toBeGreaterThanOrEqual(5 * 120);
    expect(countOf(midDb, 'gpu_samples')).toBeLessThan(40 * 120);
    midDb.close();

    // After ingest, a backup through the command line equals the live database.
    const finalPath = join(work, 'final.db');
    const run = await cli(['backup', finalPath, '--db', live.dbPath]);
    expect(run.stderr).toMatch(/integrity ok/);
    expect(run.code).toBe(0);
    const restored = openDatabase(finalPath);
    for (const table of tables) expect(countOf(restored.$client, table), table).toBe(countOf(live.db.$client, table));
    expect(countOf(restored.$client, 'gpu_samples')).toBe(40 * 4 * 30);
    const restoredApp = createApp({ db: restored, config: testConfig({ dbPath: finalPath, webDir: '/nonexistent' }), now: () => T0 + 2 * DAY });
    const answer = await usageOf(restoredApp, live.read);
    expect(answer).toEqual(await usageOf(live.app, live.read));
    // The job ran 4 h on one GPU (by its record): 4 GPU-hours.
    expect(answer[0]).toMatchObject({ key: 'proj-a', gpuHours: 4 });
    restored.$client.close();

    // A second backup to the same path is refused rather than overwriting it.
    const again = await cli(['backup', finalPath, '--db', live.dbPath]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/exists/);
  });
});

describe('raw-sample retention', () => {
  it('purges raw samples older than the window, keeping readings, rollups and answers', async () => {
    const now = T0 + 20 * DAY;
    // Ingest takes samples within its own (here 30-day) window; the purge below uses 14 days.
    const t = makeApp({ now, config: { retentionDays: 30 } });
    const old = series(T0, T0 + H, 60, { gpuUuid: 'G1', jobIds: ['1'] }); // 61 samples, 20 days old
    const recent = series(now - 2 * H, now - H, 60, { gpuUuid: 'G1', jobIds: ['2'] }); // 61 samples
    const post = (kind: string, body: unknown) =>
      t.app.request(`/api/v1/ingest/${kind}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', authorization: `Bearer ${t.tokens.ingest}` } });
    expect((await post('jobs', { schema: 1, cluster: 'c', jobs: [job({ jobId: '1' }), job({ jobId: '2', startTime: iso(now - 2 * H), endTime: iso(now - H) })] })).status).toBe(202);
    expect((await post('gpu', { schema: 1, cluster: 'c', node: 'n1', samples: [...old, ...recent] })).status).toBe(202);
    const readings = [T0, T0 + 60_000, now - 60_000, now].map((ts) => ({ ts: iso(ts), meter: 'm', quantity: 'itPowerW', value: 1000 }));
    expect((await post('facility', { schema: 1, site: 's', readings })).status).toBe(202);
    const rollups = ['job_hour', 'gpu_hour', 'facility_interval', 'gpu_cursor', 'facility_cursor'].map((table) => t.count(table));
    const usageBefore = await (await t.app.request(`/api/v1/usage?from=${iso(T0)}&to=${iso(now)}&groupBy=project`, t.auth(t.tokens.read))).json();

    const result = purgeRawSamples(t.db.$client, { nowMs: now, retentionDays: 14 });
    // Facility readings stay as long as ingest accepts them (400 days), so re-imports stay no-ops.
    expect(result).toEqual({ cutoffTs: now - 14 * DAY, gpuSamples: 61, facilityReadings: 0 });
    expect(t.count('gpu_samples')).toBe(61);
    expect((t.db.$client.prepare('SELECT MIN(ts) AS ts FROM gpu_samples').get() as { ts: number }).ts).toBe(now - 2 * H);
    expect(t.count('facility_readings')).toBe(4);
    expect(['job_hour', 'gpu_hour', 'facility_interval', 'gpu_cursor', 'facility_cursor'].map((table) => t.count(table))).toEqual(rollups);
    const usageAfter = await (await t.app.request(`/api/v1/usage?from=${iso(T0)}&to=${iso(now)}&groupBy=project`, t.auth(t.tokens.read))).json();
    expect(usageAfter).toEqual(usageBefore);
    // Idempotent: nothing more to remove.
    expect(purgeRawSamples(t.db.$client, { nowMs: now, retentionDays: 14 })).toMatchObject({ gpuSamples: 0, facilityReadings: 0 });
  });

  it('removes facility readings older than ingest accepts, series by series, and keeps the rest', () => {
    const db = openDatabase(':memory:');
    const now = T0 + 500 * DAY;
    const cutoff = now - 400 * DAY;
    const insert = db.$client.prepare('INSERT INTO facility_readings (ts, site, meter, quantity, value) VALUES (?, ?, ?, ?, 1)');
    // Three series of two sites; each has readings on both sides of the cutoff (and one exactly on it, which stays).
    const all = [['a', 'm1', 'itPowerW'], ['a', 'm1', 'facilityPowerW'], ['b', 'grid', 'gridCo2GPerKWh']] as const;
    all.forEach(([site, meter, quantity], i) => {
      for (let k = 0; k < 3 + i; k++) insert.run(cutoff - (k + 1) * 60_000, site, meter, quantity);
      insert.run(cutoff, site, meter, quantity);
      insert.run(now - 60_000, site, meter, quantity);
    });
    // 3 + 4 + 5 readings before the cutoff.
    expect(purgeRawSamples(db.$client, { nowMs: now, retentionDays: 14 }).facilityReadings).toBe(12);
    const left = db.$client.prepare('SELECT site, meter, quantity, COUNT(*) AS n, MIN(ts) AS first FROM facility_readings GROUP BY 1, 2, 3 ORDER BY 1, 2, 3').all();
    expect(left).toEqual([
      { site: 'a', meter: 'm1', quantity: 'facilityPowerW', n: 2, first: cutoff },
      { site: 'a', meter: 'm1', quantity: 'itPowerW', n: 2, first: cutoff },
      { site: 'b', meter: 'grid', quantity: 'gridCo2GPerKWh', n: 2, first: cutoff },
    ]);
    db.$client.close();
  });

  it('is enforced by the running server at start', async () => {
    const dbPath = join(work, 'retention.db');
    const db = openDatabase(dbPath);
    const insert = db.$client.prepare('INSERT INTO gpu_samples (ts, gpu_id, power_w) VALUES (?, 1, 500)');
    const nowMs = Date.now();
    for (const ageDays of [30, 15, 13, 1]) insert.run(nowMs - ageDays * DAY);
    db.$client.close();
    const lines: string[] = [];
    const server = await startServer({ ...testConfig({ dbPath, webDir: '/nonexistent', retentionDays: 14 }), port: 0, host: '127.0.0.1' }, (l) => lines.push(l));
    await server.close();
    const check = new Database(dbPath, { readonly: true });
    const left = (check.prepare('SELECT ts FROM gpu_samples ORDER BY ts').all() as Array<{ ts: number }>).map((r) => Math.round((nowMs - r.ts) / DAY));
    check.close();
    expect(left).toEqual([13, 1]);
    expect(lines.join('\n')).toMatch(/retention: removed 2 GPU samples/);
  });
});

describe('data-protection requests', () => {
  it('exports everything about a person, then forgets them while project totals stay', async () => {
    const t = makeApp();
    const post = (kind: string, body: unknown) =>
      t.app.request(`/api/v1/ingest/${kind}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', authorization: `Bearer ${t.tokens.ingest}` } });
    const jobs = [
      job({ jobId: '1', user: 'alice', account: 'proj-a', gpus: 2, startTime: iso(T0), endTime: iso(T0 + 2 * H) }),
      job({ jobId: '2', user: 'alice', account: 'proj-b', gpus: 1, startTime: iso(T0), endTime: iso(T0 + H) }),
      job({ jobId: '3', user: 'bob', account: 'proj-a', gpus: 1, startTime: iso(T0), endTime: iso(T0 + 3 * H) }),
    ];
    expect((await post('jobs', { schema: 1, cluster: 'c', jobs })).status).toBe(202);
    // GPU G1 runs job 1 at a steady 360 W for one hour: 0.36 kWh.
    expect((await post('gpu', { schema: 1, cluster: 'c', node: 'n1', samples: series(T0, T0 + H, 60, { gpuUuid: 'G1', powerW: 360, jobIds: ['1'] }) })).status).toBe(202);
    t.addPerson('alice', 'researcher', ['proj-a', 'proj-b']);
    expect((await t.app.request('/api/v1/auth/login', { method: 'POST', body: JSON.stringify({ username: 'alice', password: 'correct horse' }), headers: { 'content-type': 'application/json' } })).status).toBe(200);

    const exported = exportPerson(t.db.$client, 'alice', T0 + 2 * DAY);
    expect(exported.account).toMatchObject({ username: 'alice', role: 'researcher', canLogIn: true });
    expect(exported.memberships).toEqual([{ project: 'proj-a', isPi: false, source: 'admin' }, { project: 'proj-b', isPi: false, source: 'admin' }]);
    expect(exported.sessions).toHaveLength(1);
    expect(exported.jobs.map((j) => j.jobId)).toEqual(['1', '2']);
    expect(exported.jobs[0]).toMatchObject({ user: 'alice', account: 'proj-a', gpus: 2, startTime: iso(T0), endTime: iso(T0 + 2 * H), nodes: ['gpu-n01'] });
    const usage = new Map(exported.usage.map((u) => [u.key, u]));
    expect(usage.get('proj-a')).toMatchObject({ gpuHours: 4, jobs: 1 }); // 2 GPUs × 2 h
    expect(usage.get('proj-a')!.energyKWh).toBeCloseTo(0.36, 9);
    expect(usage.get('proj-b')).toMatchObject({ gpuHours: 1, jobs: 1 });
    expect(JSON.stringify(exported)).not.toMatch(/scrypt|password/i);

    const w = `from=${iso(T0)}&to=${iso(T0 + 4 * H)}`;
    const byProject = async () => (await (await t.app.request(`/api/v1/usage?${w}&groupBy=project`, t.auth(t.tokens.read))).json()) as unknown;
    const before = await byProject();
    const result = forgetPerson(t.db.$client, 'alice', { nowMs: T0 + 2 * DAY, actor: 'test' });
    expect(result).toMatchObject({ jobs: 2, sessions: 1, memberships: 2, account: true });
    expect(result.pseudonym).toMatch(/^forgotten-[0-9a-f]{12}$/);
    // Totals by project are unchanged; the person's rows now carry the pseudonym.
    expect(await byProject()).toEqual(before);
    const byUser = (await (await t.app.request(`/api/v1/usage?${w}&groupBy=user`, t.auth(t.tokens.read))).json()) as { rows: Array<{ key: string; gpuHours: number }> };
    expect(byUser.rows.map((r) => [r.key, r.gpuHours]).sort()).toEqual([['bob', 3], [result.pseudonym, 5]].sort());
    // Nothing stored mentions alice any more.
    const dump = ['users', 'jobs', 'project_members', 'sessions', 'audit_log']
      .flatMap((table) => t.db.$client.prepare(`SELECT * FROM ${table}`).all())
      .map((r) => JSON.stringify(r))
      .join('\n');
    expect(dump).not.toMatch(/alice/);
    expect(() => exportPerson(t.db.$client, 'alice', T0)).toThrow(/nothing is stored about user alice/);
    expect(() => forgetPerson(t.db.$client, 'alice', { nowMs: T0, actor: 'test' })).toThrow(/nothing is stored/);
  });

  it('runs from the command line and writes token creation, user add and forget to the audit log', async () => {
    const dbPath = join(work, 'cli.db');
    const token = await cli(['token', 'create', '--name', 'node-collectors', '--scope', 'ingest', '--db', dbPath]);
    expect(token.code).toBe(0);
    expect(token.stdout).toMatch(/^hl_ingest_\S+\n$/);
    const add = await cli(['user', 'add', '--name', 'carol', '--role', 'pi', '--project', 'proj-c', '--email', 'carol@sdu.example', '--lang', 'da', '--db', dbPath], 'a long password\n');
    expect(add.code).toBe(0);
    const exported = await cli(['user', 'export', 'carol', '--db', dbPath]);
    expect(exported.code).toBe(0);
    const person = JSON.parse(exported.stdout) as { account: { username: string; role: string }; memberships: unknown[]; auditEntries: Array<{ action: string }> };
    expect(person.account).toMatchObject({ username: 'carol', role: 'pi', email: 'carol@sdu.example', lang: 'da' });
    expect(person.memberships).toEqual([{ project: 'proj-c', isPi: true, source: 'admin' }]);
    expect(person.auditEntries.map((a) => a.action)).toEqual(['user.add']);
    const forget = await cli(['user', 'forget', 'carol', '--db', dbPath]);
    expect(forget.code).toBe(0);
    expect(forget.stderr).toMatch(/user carol forgotten: account deleted, 0 session\(s\) and 1 membership\(s\) deleted/);
    const missing = await cli(['user', 'forget', 'nobody', '--db', dbPath]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nothing is stored about user nobody/);

    const db = new Database(dbPath, { readonly: true });
    const audit = db.prepare('SELECT actor, action, target, details FROM audit_log ORDER BY id').all() as Array<{ actor: string; action: string; target: string; details: string }>;
    const users = countOf(db, 'users');
    db.close();
    expect(users).toBe(0);
    expect(audit.map((a) => a.action)).toEqual(['token.create', 'user.add', 'user.forget']);
    expect(audit.every((a) => a.actor.startsWith('cli:'))).toBe(true);
    // The log names the token by its public prefix (its row id), never the token itself.
    expect(audit[0]).toMatchObject({ target: 'token:node-collectors' });
    expect(JSON.parse(audit[0]!.details)).toEqual({ scope: 'ingest', prefix: 'hl_ingest_1_', expires: null });
    expect(audit[0]!.details).not.toContain(token.stdout.trim());
    // The forgotten person's name is gone from the log too: both entries name the pseudonym.
    expect(audit[1]!.target).toMatch(/^user:forgotten-/);
    expect(audit[2]!.target).toBe(audit[1]!.target);
    expect(JSON.stringify(audit)).not.toMatch(/carol/);
  });
});
