/**
 * Issue 14 point 3: reads never write. Every read endpoint, asked twice over windows that
 * cut hours, span months and reach the current hour, leaves the database as it was: another
 * connection's `PRAGMA data_version` (which moves with every commit by anyone else) does not
 * change, even with attribution hours waiting for the compactor and wait spans not stored;
 * so does the server's start-up warm-up (server/warm-up.ts).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../db/client.ts';
import { createStore } from '../../db/store.ts';
import { createApp } from '../../server/app.ts';
import { testConfig } from '../../server/config.ts';
import { createToken } from '../../server/services/auth.service.ts';
import { warmUp } from '../../server/warm-up.ts';
import { H, T0, iso, job, series } from '../support/factories.ts';

describe('reads', () => {
  it('change nothing another connection can see, before and after the compactor ran', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'hl-reads-')), 'h.db');
    const db = openDatabase(path);
    const now = T0 + 30 * H + 20 * 60_000;
    const config = testConfig({ webDir: '/nonexistent' });
    const store = createStore(db.$client, config);
    const app = createApp({ db, config, now: () => now, store });
    const ingest = createToken(db, 'i', 'ingest');
    const admin = createToken(db, 'a', 'admin');
    const post = async (kind: string, body: unknown) => {
      const res = await app.request(`/api/v1/ingest/${kind}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', authorization: `Bearer ${ingest}` } });
      expect(res.status).toBe(202);
    };
    await post('jobs', {
      schema: 1,
      cluster: 'c',
      jobs: [
        job({ jobId: '1', account: 'a', submitTime: iso(T0 - 2 * H), startTime: iso(T0), endTime: iso(T0 + 5 * H) }),
        job({ jobId: '2', account: 'b', submitTime: iso(T0 + 25 * H), startTime: iso(T0 + 29 * H), endTime: null, state: 'RUNNING' }),
      ],
    });
    await post('gpu', { schema: 1, cluster: 'c', node: 'n1', samples: series(T0, T0 + 5 * H, 60, { gpuUuid: 'G1', powerW: 500, jobIds: ['1'] }) });
    await post('gpu', { schema: 1, cluster: 'c', node: 'n2', samples: series(T0 + 29 * H, now, 60, { gpuUuid: 'G2', powerW: 400, jobIds: ['2'] }) });
    const readings = [];
    for (let ts = T0; ts <= now; ts += 5 * 60_000) readings.push({ ts: iso(ts), meter: 'it', quantity: 'itPowerW', value: 2000 }, { ts: iso(ts), meter: 'site', quantity: 'facilityPowerW', value: 2600 });
    await post('facility', { schema: 1, site: 's', readings });

    const other = new Database(path, { readonly: true });
    const version = () => other.pragma('data_version', { simple: true }) as number;
    const windows = [
      `from=${iso(T0 + 20 * 60_000)}&to=${iso(T0 + 3 * H + 10 * 60_000)}`,
      `from=${iso(T0 - 40 * 24 * H)}&to=${iso(now)}`,
      `from=${iso(T0 + 24 * H)}&to=${iso(now + H)}`,
    ];
    const paths = ['/api/v1/usage?groupBy=project&', '/api/v1/usage?groupBy=user&', '/api/v1/energy/projects?', '/api/v1/energy/jobs?', '/api/v1/energy/kpis?', '/api/v1/waits?groupBy=partition&', '/api/v1/projects/a/review?',
      // The reads this round added: a job's report, a project's members, fair share, start advice.
      '/api/v1/jobs/c/1/report?', '/api/v1/projects/a/members?', '/api/v1/fairshare?', '/api/v1/advice/start?partition=gpu&gpus=1&hours=1&'];
    const readAll = async () => {
      for (const w of windows) {
        for (const p of paths) {
          const res = await app.request(`${p}${w}`, { headers: { authorization: `Bearer ${admin}` } });
          expect(res.status, `${p}${w}`).toBe(200);
          await res.arrayBuffer();
        }
      }
    };
    for (const compacted of [false, true]) {
      if (compacted) {
        const before = version();
        expect(store.compact(now).hours).toBeGreaterThan(0);
        // The compactor does write (the test can see a write).
        expect(version()).not.toBe(before);
      }
      const before = version();
      await readAll();
      await readAll();
      // The server's start-up warm-up reads too: every read of the API once, as an in-process read principal.
      const warmed = await warmUp(app, store, now);
      expect(warmed.failed).toEqual([]);
      expect(warmed.reads).toBeGreaterThan(20);
      expect(version(), compacted ? 'after compaction' : 'before compaction').toBe(before);
    }
    // The in-process principal is not something a request can name: without a token the same read is refused.
    expect((await app.request(`/api/v1/usage?groupBy=project&${windows[0]}`)).status).toBe(401);
    other.close();
    db.$client.close();
  });
});
