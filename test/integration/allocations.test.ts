import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { checkAlerts } from '../../server/services/alert.service.ts';
import { importAllocationsCsv } from '../../server/services/allocation.service.ts';
import type { Review } from '../../server/services/review.service.ts';
import { H, iso, job, makeApp, series } from '../support/factories.ts';

const DAY = 24 * H;
const NOV1 = Date.parse('2026-11-01T00:00:00.000Z');
const DEC31 = Date.parse('2026-12-31T00:00:00.000Z');

type App = ReturnType<typeof makeApp>;

async function grant(t: App, body: { project: string; parentId?: number | null; grantedGpuHours: number; periodStart?: string; periodEnd?: string }) {
  return t.client.api.v1.allocations.$post(
    { json: { parentId: null, periodStart: iso(NOV1), periodEnd: iso(DEC31), ...body } },
    t.auth(t.tokens.admin),
  );
}

describe('allocation trees', () => {
  it('lets sub-allocations share a root but never exceed it or its period, and audits every change', async () => {
    const t = makeApp({ now: NOV1 + 10 * DAY });
    const root = await grant(t, { project: 'national', grantedGpuHours: 1000 });
    expect(root.status).toBe(201);
    const rootId = (await root.json()).id;
    expect((await grant(t, { project: 'a', parentId: rootId, grantedGpuHours: 600 })).status).toBe(201);
    const over = await grant(t, { project: 'b', parentId: rootId, grantedGpuHours: 500 });
    expect(over.status).toBe(409);
    expect(((await over.json()) as unknown as { error: { message: string } }).error.message).toContain('1100 GPU-hours, more than its 1000');
    const outside = await grant(t, { project: 'b', parentId: rootId, grantedGpuHours: 100, periodEnd: iso(DEC31 + DAY) });
    expect(outside.status).toBe(400);
    expect((await grant(t, { project: 'b', parentId: rootId, grantedGpuHours: 400 })).status).toBe(201);
    // Shrinking the root below its children is refused; growing it is fine.
    expect((await t.client.api.v1.allocations[':id'].$patch({ param: { id: String(rootId) }, json: { grantedGpuHours: 900 } }, t.auth(t.tokens.admin))).status).toBe(409);
    expect((await t.client.api.v1.allocations[':id'].$patch({ param: { id: String(rootId) }, json: { grantedGpuHours: 1200 } }, t.auth(t.tokens.admin))).status).toBe(200);
    // Only admins change grants.
    expect((await t.client.api.v1.allocations.$post({ json: { project: 'c', parentId: null, grantedGpuHours: 1, periodStart: iso(NOV1), periodEnd: iso(DEC31) } }, t.auth(t.tokens.read))).status).toBe(403);
    const audit = await (await t.client.api.v1.allocations.audit.$get({}, t.auth(t.tokens.admin))).json();
    expect(audit.rows.map((r) => r.action)).toEqual(['allocation.create', 'allocation.create', 'allocation.create', 'allocation.update']);
    expect(audit.rows[3]!.actor).toBe('token:test-admin');
    expect(audit.rows[3]!.details).toMatchObject({ before: { grantedGpuHours: 1000 }, after: { grantedGpuHours: 1200 } });
  });

  it('counts a sub-project use against its parent', async () => {
    const t = makeApp({ now: NOV1 + 10 * DAY });
    const rootId = (await (await grant(t, { project: 'national', grantedGpuHours: 1000 })).json()).id;
    await grant(t, { project: 'a', parentId: rootId, grantedGpuHours: 300 });
    await t.client.api.v1.ingest.jobs.$post({ json: { schema: 1, cluster: 'c', jobs: [job({ jobId: '1', account: 'a', gpus: 2, startTime: iso(NOV1 + DAY), endTime: iso(NOV1 + DAY + 10 * H), submitTime: iso(NOV1) })] } }, t.auth(t.tokens.ingest));
    const rows = (await (await t.client.api.v1.allocations.$get({ query: {} }, t.auth(t.tokens.read))).json()).rows;
    expect(rows.map((r) => [r.project, r.usedGpuHours, r.remainingGpuHours])).toEqual([
      ['national', 20, 980],
      ['a', 20, 280],
    ]);
  });

  it('imports a CSV all or nothing, naming the bad line', () => {
    const t = makeApp();
    const bad = 'project,parent,grantedGpuHours,periodStart,periodEnd\nnational,,1000,2026-11-01,2026-12-31\na,national,lots,2026-11-01,2026-12-31\n';
    expect(() => importAllocationsCsv(t.db.$client, bad, 'test', Date.now())).toThrow("line 3: grantedGpuHours 'lots' is not a number");
    expect(t.count('allocations')).toBe(0);
    const good = 'project,parent,grantedGpuHours,periodStart,periodEnd\nnational,,1000,2026-11-01,2026-12-31\na,national,600,2026-11-01,2026-12-31\n';
    expect(importAllocationsCsv(t.db.$client, good, 'test', Date.now())).toBe(2);
    expect(t.count('audit_log')).toBe(2);
  });
});

describe('use against grant', () => {
  it('reports burn rates and the run-out dates at the recent and the average rate', async () => {
    const now = NOV1 + 20 * DAY;
    const t = makeApp({ now });
    await grant(t, { project: 'p', grantedGpuHours: 5000 });
    // 4 GPUs for 13 days, then 8 GPUs for the last 7 days (still running).
    await t.client.api.v1.ingest.jobs.$post(
      {
        json: {
          schema: 1,
          cluster: 'c',
          jobs: [
            job({ jobId: '1', account: 'p', gpus: 4, submitTime: iso(NOV1), startTime: iso(NOV1), endTime: iso(NOV1 + 13 * DAY) }),
            job({ jobId: '2', account: 'p', gpus: 8, submitTime: iso(NOV1), state: 'RUNNING', startTime: iso(NOV1 + 13 * DAY), endTime: null }),
          ],
        },
      },
      t.auth(t.tokens.ingest),
    );
    const [a] = (await (await t.client.api.v1.allocations.$get({ query: { project: 'p' } }, t.auth(t.tokens.read))).json()).rows;
    const used = 13 * 96 + 7 * 192;
    expect(a!.usedGpuHours).toBeCloseTo(used, 6);
    expect(a!.remainingGpuHours).toBeCloseTo(5000 - used, 6);
    expect(a!.recentRateGpuHoursPerDay).toBeCloseTo(192, 6);
    expect(a!.averageRateGpuHoursPerDay).toBeCloseTo(used / 20, 6);
    expect(Date.parse(a!.forecastExhaustion!)).toBeCloseTo(now + ((5000 - used) / 192) * DAY, -3);
    expect(Date.parse(a!.forecastExhaustionAtAverage!)).toBeCloseTo(now + ((5000 - used) / (used / 20)) * DAY, -3);
    expect(a!.flags).toEqual(['runs-out-early']);
  });

  it('flags a grant little used with most of its period gone', async () => {
    const t = makeApp({ now: NOV1 + 40 * DAY });
    await grant(t, { project: 'idle', grantedGpuHours: 10_000 });
    await t.client.api.v1.ingest.jobs.$post({ json: { schema: 1, cluster: 'c', jobs: [job({ jobId: '1', account: 'idle', gpus: 1, submitTime: iso(NOV1), startTime: iso(NOV1), endTime: iso(NOV1 + 100 * H) })] } }, t.auth(t.tokens.ingest));
    const [a] = (await (await t.client.api.v1.allocations.$get({ query: {} }, t.auth(t.tokens.read))).json()).rows;
    expect(a!.usedPct).toBeCloseTo(1, 9);
    expect(a!.flags).toEqual(['under-use']);
  });
});

describe('alerts', () => {
  it('raises each threshold once and delivers it to the webhook, retrying a failed delivery', async () => {
    const received: unknown[] = [];
    let failNext = 0;
    const receiver = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        if (failNext > 0) {
          failNext--;
          res.writeHead(503).end();
          return;
        }
        received.push(JSON.parse(body));
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const webhookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    try {
      let now = NOV1 + 10 * DAY;
      const t = makeApp({ now });
      await grant(t, { project: 'p', grantedGpuHours: 100 });
      const send = (id: string, hours: number, startDay: number) =>
        t.client.api.v1.ingest.jobs.$post({ json: { schema: 1, cluster: 'c', jobs: [job({ jobId: id, account: 'p', gpus: 1, submitTime: iso(NOV1), startTime: iso(NOV1 + startDay * DAY), endTime: iso(NOV1 + startDay * DAY + hours * H) })] } }, t.auth(t.tokens.ingest));
      await send('1', 60, 1);
      const check = () => checkAlerts({ sqlite: t.db.$client, webhookUrl, now: () => now });
      expect(await check()).toEqual({ raised: 1, delivered: 1, failed: 0, mailed: 0, mailFailed: 0 });
      expect(await check()).toEqual({ raised: 0, delivered: 0, failed: 0, mailed: 0, mailFailed: 0 });
      await send('2', 35, 2);
      now += DAY;
      t.setNow(now);
      failNext = 1;
      // 95 % used: 75 and 90 are crossed; the first delivery fails and is retried next time.
      expect(await check()).toEqual({ raised: 2, delivered: 1, failed: 1, mailed: 0, mailFailed: 0 });
      expect(await check()).toEqual({ raised: 0, delivered: 1, failed: 0, mailed: 0, mailFailed: 0 });
      expect(received.map((r) => (r as { thresholdPct: number }).thresholdPct).sort()).toEqual([50, 75, 90]);
      expect(received[0]).toMatchObject({ type: 'allocation.threshold', project: 'p', thresholdPct: 50, usedPct: 60, grantedGpuHours: 100 });
      const shown = (await (await t.client.api.v1.allocations.$get({ query: {} }, t.auth(t.tokens.read))).json()).rows[0]!.alerts;
      expect(shown.map((a) => [a.thresholdPct, a.delivered])).toEqual([
        [50, true],
        [75, true],
        [90, true],
      ]);
    } finally {
      receiver.close();
    }
  });
});

describe('review pack', () => {
  it('gives grant, burn-down, efficiency, waits and energy for one project, as JSON and as CSV', async () => {
    const now = NOV1 + 3 * DAY;
    const t = makeApp({ now });
    await grant(t, { project: 'p', grantedGpuHours: 100 });
    await t.client.api.v1.ingest.jobs.$post(
      {
        json: {
          schema: 1,
          cluster: 'c',
          jobs: [
            // Day 1: 2 GPUs × 5 h after a 30-minute wait; day 2: 1 GPU × 4 h after 90 minutes.
            job({ jobId: '1', account: 'p', user: 'ann', gpus: 2, submitTime: iso(NOV1 + DAY - H / 2), startTime: iso(NOV1 + DAY), endTime: iso(NOV1 + DAY + 5 * H) }),
            job({ jobId: '2', account: 'p', user: 'ben', gpus: 1, submitTime: iso(NOV1 + 2 * DAY - 1.5 * H), startTime: iso(NOV1 + 2 * DAY), endTime: iso(NOV1 + 2 * DAY + 4 * H) }),
          ],
        },
      },
      t.auth(t.tokens.ingest),
    );
    // Job 2's GPU idles at 1 % utilisation for its 4 hours.
    await t.client.api.v1.ingest.gpu.$post(
      { json: { schema: 1, cluster: 'c', node: 'n', samples: series(NOV1 + 2 * DAY, NOV1 + 2 * DAY + 4 * H, 60, { gpuUuid: 'G', utilPct: 1, powerW: 90, jobIds: ['2'] }) } },
      t.auth(t.tokens.ingest),
    );
    const review = (await (await t.client.api.v1.projects[':project'].review.$get({ param: { project: 'p' }, query: {} }, t.auth(t.tokens.read))).json()) as Review;
    expect(review.from).toBe(iso(NOV1));
    expect(review.usage.gpuHours).toBeCloseTo(14, 9);
    expect(review.usage.idleGpuHours).toBeCloseTo(4, 9);
    expect(review.usage.energyKWh).toBeCloseTo((90 * 4) / 1000, 9);
    expect(review.burnDown.map((d) => [d.day, d.gpuHours, d.cumulativeGpuHours, d.remainingGpuHours])).toEqual([
      ['2026-11-02', 10, 10, 90],
      ['2026-11-03', 4, 14, 86],
    ]);
    expect(review.waits).toMatchObject({ jobs: 2, meanS: 3600, p50S: 3600, maxS: 5400 });
    expect(review.wastefulJobs.map((j) => [j.jobId, j.idleGpuHours])).toEqual([['2', 4]]);
    expect(review.allocation!.usedGpuHours).toBeCloseTo(14, 9);
    const csv = await (await t.app.request('/api/v1/projects/p/review', { headers: { authorization: `Bearer ${t.tokens.read}`, accept: 'text/csv' } })).text();
    expect(csv.split('\n')[0]).toBe('section,key,field,value');
    expect(csv).toContain('usage,p,gpuHours,14\n');
    expect(csv).toContain('burn-down,2026-11-03,cumulativeGpuHours,14\n');
    expect((await t.app.request('/api/v1/projects/nope/review', { headers: { authorization: `Bearer ${t.tokens.read}` } })).status).toBe(404);
  });
});
