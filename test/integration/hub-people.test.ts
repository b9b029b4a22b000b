/**
 * A person at the hub: `heatledger user export|forget USER --database-url` act on the hub
 * (not on a site's SQLite file). A site that pushes real names (HEATLEDGER_HUB_REAL_NAMES=1)
 * left the person's name on their jobs and usage rows; export lists them, forget deletes the
 * hub account and moves those rows to a pseudonym, leaving every figure as it was.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../server/services/auth.service.ts';
import { createHubSession, putHubUser, setNationalGrant } from '../../db/hub/people.ts';
import { hubUsage, openHub, storeDays, type HubStore, type PushedDay } from '../../db/hub/store.ts';
import { DAY_MS, HOUR_MS } from '../../db/rules/time.ts';
import { freshDatabase, hasPostgres, type TestDatabase } from '../support/postgres.ts';
import { missing } from '../support/requirements.ts';

const DAY = Date.UTC(2026, 10, 2);
const usage = (hour: number, user: string, gpuS: number, energyKWh: number): PushedDay['usage'][number] => ({
  hourTs: DAY + hour * HOUR_MS,
  project: 'proj-a',
  user,
  partition: 'gpu',
  gpuS,
  measuredGpuS: gpuS,
  energyKWh,
  inferredKWh: 0,
  overheadKWh: 0.1,
  reusedKWh: 0.2,
  co2Kg: 0.01,
});
const job = (id: string, user: string, startH: number): PushedDay['jobs'][number] => ({
  cluster: 'bitten',
  jobId: id,
  project: 'proj-a',
  user,
  partition: 'gpu',
  gpus: 2,
  submitTs: DAY + startH * HOUR_MS - 600_000,
  startTs: DAY + startH * HOUR_MS,
  endTs: DAY + (startH + 2) * HOUR_MS,
  state: 'COMPLETED',
  energyKWh: 1.5,
});

function cli(args: string[], cwd: string) {
  const { HEATLEDGER_DB: _, ...env } = process.env;
  return spawnSync(process.execPath, [join(import.meta.dirname, '../../bin/heatledger.js'), ...args], { cwd, encoding: 'utf8', env });
}

describe.skipIf(missing('PostgreSQL (HEATLEDGER_TEST_PG_URL; .ci/pg/start.sh)', await hasPostgres()))('a person at the hub', () => {
  let db: TestDatabase;
  let hub: HubStore;
  // An empty folder as the working directory: a command that wrongly opened a site database would make ./data there.
  const cwd = mkdtempSync(join(tmpdir(), 'hl-hub-people-'));

  beforeAll(async () => {
    db = await freshDatabase('hl_people');
    hub = await openHub(db.url);
    const day: PushedDay = {
      dayTs: DAY,
      completeToTs: DAY + DAY_MS,
      usage: [usage(9, 'alice', 7200, 0.9), usage(10, 'alice', 3600, 0.4), usage(10, 'bob', 1800, 0.25)],
      jobs: [job('101', 'alice', 9), job('102', 'bob', 10)],
      facility: [],
    };
    await storeDays(hub, 'bitten', [{ ...day, hash: 'a'.repeat(64) }], Date.now());
    // At lumi-dk only usage under her name (her job started before the days it pushed).
    await storeDays(hub, 'lumi-dk', [{ dayTs: DAY, completeToTs: DAY + DAY_MS, usage: [usage(3, 'alice', 3600, 0.5)], jobs: [], facility: [] }].map((d) => ({ ...d, hash: 'b'.repeat(64) })), Date.now());
    // She set a national grant at the hub (an admin, say): the audit names her.
    await setNationalGrant(hub, { project: 'proj-a', fromTs: DAY, toTs: DAY + 30 * DAY_MS, gpuHours: 100, actor: 'user:alice', nowTs: Date.now() });
    await putHubUser(hub, { username: 'alice', role: 'researcher', passwordHash: hashPassword('correct horse'), projects: ['proj-a'], nowTs: Date.now() });
    await createHubSession(hub, 'alice', Date.now() + HOUR_MS);
  });
  afterAll(async () => {
    await hub?.close();
    await db?.drop();
  });

  it('exports what the hub holds under the name: account, sessions, pushed jobs and usage', () => {
    const r = cli(['user', 'export', 'alice', '--database-url', db.url], cwd);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.account).toMatchObject({ username: 'alice', role: 'researcher', projects: ['proj-a'] });
    expect(out.sessions).toBe(1);
    expect(out.pushedJobs.map((j: { jobId: string }) => j.jobId)).toEqual(['101']);
    // At bitten 7200 + 3600 GPU-seconds = 3 GPU-hours, 0.9 + 0.4 kWh (bob's row is not hers); at lumi-dk 1 GPU-hour, 0.5 kWh.
    expect(out.pushedUsage.map((u: { site: string }) => u.site)).toEqual(['bitten', 'lumi-dk']);
    expect(out.pushedUsage[0].gpuHours).toBeCloseTo(3, 12);
    expect(out.pushedUsage[0].energyKWh).toBeCloseTo(1.3, 12);
    expect(out.pushedUsage[1].gpuHours).toBeCloseTo(1, 12);
    expect(out.audit.map((a: { action: string }) => a.action)).toEqual(['grant.national']);
    expect(JSON.stringify(out)).not.toMatch(/bob|password/i);
    expect(existsSync(join(cwd, 'data'))).toBe(false);
  });

  it('forgets: the account goes, her rows move to a pseudonym, the figures stay', async () => {
    const before = await hubUsage(hub, { fromTs: DAY, toTs: DAY + DAY_MS, groupBy: ['project'], projects: null });
    const r = cli(['user', 'forget', 'alice', '--database-url', db.url], cwd);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/account deleted, 1 session\(s\) and 1 membership\(s\) deleted, 1 job record\(s\) and 3 usage row\(s\) now under forgotten-[0-9a-f]{12}/);
    expect(r.stderr).toContain('sites that pushed the name: bitten, lumi-dk');
    const actors = (await hub.pool.query("SELECT actor FROM hub_audit WHERE action = 'grant.national'")).rows.map((x) => x.actor as string);
    expect(actors).toHaveLength(1);
    expect(actors[0]).toMatch(/^user:forgotten-[0-9a-f]{12}$/);
    const names = async (table: string) => (await hub.pool.query(`SELECT DISTINCT user_name FROM ${table} ORDER BY 1`)).rows.map((x) => x.user_name as string);
    for (const table of ['hub_jobs', 'hub_usage_hour']) {
      const left = await names(table);
      expect(left).not.toContain('alice');
      expect(left).toContain('bob');
      expect(left.some((n) => /^forgotten-[0-9a-f]{12}$/.test(n))).toBe(true);
    }
    expect((await hub.pool.query("SELECT COUNT(*)::int AS n FROM hub_users WHERE username = 'alice'")).rows[0].n).toBe(0);
    expect(await hubUsage(hub, { fromTs: DAY, toTs: DAY + DAY_MS, groupBy: ['project'], projects: null })).toEqual(before);
    const again = JSON.parse(cli(['user', 'export', 'alice', '--database-url', db.url], cwd).stdout);
    expect(again).toMatchObject({ account: null, sessions: 0, pushedJobs: [], pushedUsage: [], audit: [] });
    expect(existsSync(join(cwd, 'data'))).toBe(false);
  });
});
