/**
 * Issue 15.1: an administrative command opens the server's database to add a user or
 * import grants; it must not recompute the rollups there. Hours that ingest marked for
 * recomputing wait for the server (a read recomputes them): when a command did it
 * instead, after a long ingest it held the write lock for seconds, and the server's
 * ingest, waiting behind it, answered 503.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { testClient } from 'hono/testing';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../db/client.ts';
import { createStore } from '../../db/store.ts';
import { createApp } from '../../server/app.ts';
import { testConfig } from '../../server/config.ts';
import { createToken } from '../../server/services/auth.service.ts';
import { series } from '../support/factories.ts';

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const H = 3_600_000;

describe('admin commands open the database without recomputing rollups', () => {
  it('leaves the hours ingest marked for recomputing to the server', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hl-cli-open-'));
    const dbPath = join(dir, 'h.db');
    const db = openDatabase(dbPath);
    const client = testClient(createApp({ db, config: testConfig({ dbPath, webDir: '/nonexistent' }) }));
    const token = createToken(db, 'ingest', 'ingest');
    // Six complete hours of one GPU, a sample a minute, ending two hours ago.
    const toMs = Math.floor(Date.now() / H) * H - 2 * H;
    const res = await client.api.v1.ingest.gpu.$post({ json: { schema: 1, cluster: 'c', node: 'n1', samples: series(toMs - 6 * H, toMs, 60) } }, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(202);
    db.$client.close();

    const state = () => {
      const check = new Database(dbPath, { readonly: true });
      try {
        const n = (sql: string) => (check.prepare(sql).get() as { n: number }).n;
        return { dirtyHours: n('SELECT COUNT(*) AS n FROM energy_dirty_hour'), energyHours: n('SELECT COUNT(*) AS n FROM energy_hour') };
      } finally {
        check.close();
      }
    };
    const before = state();
    // Energy lies between samples: six hours of it, none recomputed yet.
    expect(before).toEqual({ dirtyHours: 6, energyHours: 0 });

    const cli = (args: string[], input = '') => spawnSync(process.execPath, [join(repoRoot, 'bin/heatledger.js'), ...args, '--db', dbPath], { cwd: repoRoot, input, encoding: 'utf8' });
    const add = cli(['user', 'add', '--name', 'ops-person', '--role', 'facility'], 'a long enough password\n');
    expect(add.stderr).toBe('user ops-person added as facility\n');
    expect(add.status).toBe(0);
    const grants = join(dir, 'grants.csv');
    writeFileSync(grants, 'project,parent,grantedGpuHours,periodStart,periodEnd\nproj-x,,1000,2026-01-01,2026-07-01\n');
    expect(cli(['allocation', 'import', grants]).status).toBe(0);
    expect(cli(['user', 'export', 'ops-person']).status).toBe(0);
    expect(state()).toEqual(before);

    // The server's compactor recomputes them (opening only migrates).
    const server = openDatabase(dbPath);
    expect(state()).toEqual(before);
    createStore(server.$client, testConfig()).compact(Date.now());
    server.$client.close();
    expect(state()).toEqual({ dirtyHours: 0, energyHours: 6 });
  }, 60_000);
});
