/**
 * The hub's waits checked against PostgreSQL's own arithmetic over hub_jobs: COUNT, AVG, MAX
 * and percentile_cont, worked out by the database from the jobs themselves, never from the
 * stored runs the hub reads.
 */
import { expect } from 'vitest';
import { hubWaits, type HubStore, type HubWaitKey } from '../../db/hub/store.ts';

/** Asserts hubWaits over [a, b) by `groupBy` (narrowed to `projects`) equals PostgreSQL's; returns how many non-empty groups were compared. */
export async function expectWaitsAsPostgres(hub: HubStore, a: number, b: number, groupBy: HubWaitKey[], projects: string[] | null): Promise<number> {
  const got = await hubWaits(hub, { fromTs: a, toTs: b, groupBy, projects });
  const r = await hub.pool.query(
    `SELECT ${groupBy.map((k) => `${k}, `).join('')}COUNT(*) AS jobs, AVG(wait_ms) / 1000 AS mean, MAX(wait_ms)::float8 / 1000 AS max,
       percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY wait_ms) AS p
     FROM hub_jobs WHERE start_ts >= $1 AND start_ts < $2 AND ($3::text[] IS NULL OR project = ANY($3)) ${groupBy.length ? `GROUP BY ${groupBy.join(', ')}` : ''}`,
    [a, b, projects],
  );
  const want = new Map(r.rows.map((x) => [groupBy.map((k) => x[k]).join('|'), x]));
  expect(got.length, `${new Date(a).toISOString()} → ${new Date(b).toISOString()} by ${groupBy.join(',')} of ${projects}`).toBe(want.size);
  let compared = 0;
  for (const g of got) {
    const w = want.get(groupBy.map((k) => (g as Record<string, unknown>)[k]).join('|'))!;
    expect(g.jobs).toBe(Number(w.jobs));
    if (g.jobs === 0) continue;
    compared++;
    expect(g.meanS).toBeCloseTo(Number(w.mean), 9);
    expect(g.maxS).toBeCloseTo(Number(w.max), 9);
    expect([g.p50S, g.p90S, g.p99S].map((x) => x! * 1000)).toEqual(w.p.map((x: number) => expect.closeTo(x, 6)));
  }
  return compared;
}
