/**
 * The review pack reads one project's waits from its own jobs; /api/v1/waits by project
 * reads every project's from the wait rollup. For the same window they must agree to the
 * last bit, rejected submissions and jobs without an eligible time included.
 */
import { describe, expect, it } from 'vitest';
import { seeded } from '../../collectors/demo/random.ts';
import type { Review } from '../../server/services/review.service.ts';
import { H, T0, iso, job, makeApp } from '../support/factories.ts';

const DAY = 24 * H;

describe('a review pack’s waits', () => {
  it('equal the project’s row of waits by project, over windows with partial days and whole months', async () => {
    const t = makeApp({ now: T0 + 40 * DAY });
    const random = seeded(11);
    const jobs = Array.from({ length: 400 }, (_, i) => {
      const start = T0 - 35 * DAY + Math.floor(random() * 70 * DAY);
      const submit = start - Math.floor(random() * 6 * H);
      const rejected = i % 37 === 0;
      return job({
        jobId: String(i),
        account: `p${i % 4}`,
        user: `u${i % 7}`,
        submitTime: iso(rejected ? start : submit),
        eligibleTime: i % 5 === 0 ? null : iso(submit + Math.floor(random() * H)),
        startTime: iso(start),
        endTime: iso(rejected ? start : start + H),
        state: rejected ? 'CANCELLED' : 'COMPLETED',
        nodes: rejected ? [] : ['gpu-n01'],
      });
    });
    for (let i = 0; i < jobs.length; i += 100) {
      const res = await t.client.api.v1.ingest.jobs.$post({ json: { schema: 1, cluster: 'c', jobs: jobs.slice(i, i + 100) } }, t.auth(t.tokens.ingest));
      expect(res.status).toBe(202);
    }
    t.compact();
    const read = async (path: string) => {
      const res = await t.app.request(path, { headers: { authorization: `Bearer ${t.tokens.read}` } });
      expect(res.status).toBe(200);
      return res.json();
    };
    const windows: Array<[number, number]> = [
      [T0 - 30 * DAY + 7 * H + 13 * 60_000, T0 + 2 * DAY + 3 * H],
      [Date.UTC(2026, 10, 1), Date.UTC(2026, 11, 1)],
      [T0 - 3 * H, T0 + 5 * H],
    ];
    let compared = 0;
    for (const [from, to] of windows) {
      const q = `from=${iso(from)}&to=${iso(to)}`;
      const byProject = (await read(`/api/v1/waits?groupBy=project&${q}`)) as { rows: Array<{ key: string; jobs: number; meanS: number; p50S: number; p90S: number; p99S: number; maxS: number }> };
      for (const project of ['p0', 'p1', 'p2', 'p3']) {
        const review = (await read(`/api/v1/projects/${project}/review?${q}`)) as Review;
        const row = byProject.rows.find((r) => r.key === project);
        if (!row) {
          expect(review.waits.jobs).toBe(0);
          continue;
        }
        expect(review.waits, `${project} ${iso(from)}–${iso(to)}`).toEqual({ jobs: row.jobs, meanS: row.meanS, p50S: row.p50S, p90S: row.p90S, p99S: row.p99S, maxS: row.maxS });
        compared += row.jobs;
      }
    }
    expect(compared).toBeGreaterThan(200);
  });
});
