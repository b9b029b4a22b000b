/**
 * Issue 14: `user forget` pseudonymises a person's job records, and the next GPU batch must
 * not bring the name back through a lookup the ingest kept from before (UsageRollup's cache
 * of each job's account and user), whether the forget ran on the server's connection or in
 * another process (the CLI).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Database } from 'better-sqlite3';
import { testClient } from 'hono/testing';
import { describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../../db/client.ts';
import { createApp } from '../../server/app.ts';
import { testConfig } from '../../server/config.ts';
import { createToken } from '../../server/services/auth.service.ts';
import { forgetPerson } from '../../server/services/privacy.service.ts';
import { H, T0, iso, job, series } from '../support/factories.ts';

/** Every stored text value that contains `needle`, as `table.column`. */
function rowsNaming(sqlite: Database, needle: string): string[] {
  const tables = sqlite.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as Array<{ name: string }>;
  const hits: string[] = [];
  for (const { name } of tables) {
    for (const row of sqlite.prepare(`SELECT * FROM "${name}"`).all() as Array<Record<string, unknown>>) {
      for (const [column, value] of Object.entries(row)) if (typeof value === 'string' && value.includes(needle)) hits.push(`${name}.${column}`);
    }
  }
  return [...new Set(hits)].sort();
}

function appOver(db: Db) {
  const app = createApp({ db, config: testConfig({ webDir: '/nonexistent' }), now: () => T0 + 3 * H });
  const token = createToken(db, 'ingest', 'ingest');
  const client = testClient(app);
  const auth = { headers: { authorization: `Bearer ${token}` } };
  const gpu = async (fromMs: number, toMs: number) => {
    const res = await client.api.v1.ingest.gpu.$post(
      { json: { schema: 1, cluster: 'bitten', node: 'gpu-n01', samples: series(fromMs, toMs, 60, { jobIds: ['77'], powerW: 600 }) } },
      auth,
    );
    expect(res.status).toBe(202);
  };
  const jobs = async () => {
    const res = await client.api.v1.ingest.jobs.$post(
      { json: { schema: 1, cluster: 'bitten', jobs: [job({ jobId: '77', user: 'alice', state: 'RUNNING', startTime: iso(T0), endTime: null })] } },
      auth,
    );
    expect(await res.json()).toEqual({ accepted: 1, duplicates: 0 });
  };
  return { gpu, jobs };
}

/** Energy (Wh) of the usage_day rows by user. */
const energyByUser = (sqlite: Database) =>
  sqlite.prepare('SELECT user, SUM(energy_wh) AS wh FROM usage_day GROUP BY user ORDER BY user').all() as Array<{ user: string; wh: number }>;

describe('forgetting a person while the server ingests', () => {
  it('keeps her name out of everything the next GPU batch writes (forget on the same connection)', async () => {
    const db = openDatabase(':memory:');
    const { gpu, jobs } = appOver(db);
    await jobs();
    await gpu(T0, T0 + H);
    // 600 W for an hour, all of it job 77's.
    expect(energyByUser(db.$client)).toEqual([{ user: 'alice', wh: expect.closeTo(600, 6) }]);

    const { pseudonym } = forgetPerson(db.$client, 'alice', { nowMs: T0 + 2 * H, actor: 'admin' });
    expect(rowsNaming(db.$client, 'alice')).toEqual([]);

    await gpu(T0 + H + 60_000, T0 + 2 * H);
    expect(rowsNaming(db.$client, 'alice')).toEqual([]);
    // The second hour's energy went to her pseudonym: 600 Wh for 01:00-02:00 plus the first hour.
    expect(energyByUser(db.$client)).toEqual([{ user: pseudonym, wh: expect.closeTo(1200, 6) }]);
  });

  it('keeps her name out when another process forgets her (the CLI on the same file)', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'hl-forget-')), 'h.db');
    const db = openDatabase(path);
    const { gpu, jobs } = appOver(db);
    await jobs();
    await gpu(T0, T0 + H);

    const cli = openDatabase(path, { refreshRollups: false });
    const { pseudonym } = forgetPerson(cli.$client, 'alice', { nowMs: T0 + 2 * H, actor: 'cli:root' });
    cli.$client.close();

    await gpu(T0 + H + 60_000, T0 + 2 * H);
    expect(rowsNaming(db.$client, 'alice')).toEqual([]);
    expect(energyByUser(db.$client)).toEqual([{ user: pseudonym, wh: expect.closeTo(1200, 6) }]);
    db.$client.close();
  });
});
