/**
 * The hub's rollups (hours → days → dekads → months, wait runs per day, month and project)
 * answer any whole-hour window exactly as the pushed rows themselves do: two sites' synthetic
 * days over three months (edges inside days, dekads and months, February's short last
 * dekad), compared with sums and percentile_cont that PostgreSQL computes straight from
 * hub_usage_hour and hub_jobs; a re-pushed day mid-dekad changes its dekad and month; the
 * migration that fills hub_usage_dekad on an existing hub gives what the push builds.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hubUsage, hubWaits, openHub, pieces, storeDays, type HubStore, type HubWaitKey, type PushedDay } from '../../db/hub/store.ts';
import { expectWaitsAsPostgres } from '../support/hub-waits.ts';
import { DAY_MS, HOUR_MS, dekadOf, monthOf } from '../../db/rules/time.ts';
import { seeded } from '../../collectors/demo/random.ts';
import { freshDatabase, hasPostgres, type TestDatabase } from '../support/postgres.ts';
import { missing } from '../support/requirements.ts';

const FROM = Date.UTC(2026, 0, 27);
const DAYS = 75; // to 2026-04-12
const SITES = ['bitten', 'lumi-dk'];

/** A site's day: per hour and project × user × partition some usage; the day's jobs with their waits. */
function day(site: string, dayTs: number, salt = 0): PushedDay {
  const rnd = seeded(SITES.indexOf(site) * 1_000_003 + dayTs / DAY_MS + salt * 7919);
  const usage: PushedDay['usage'] = [];
  for (let h = 0; h < 24; h++) {
    for (const project of ['proj-a', 'proj-b', 'proj-c']) {
      for (const partition of ['gpu', 'gpu-large']) {
        if (rnd() < 0.4) continue;
        const gpuS = Math.floor(rnd() * 8) * 3600 + Math.floor(rnd() * 3600);
        usage.push({
          hourTs: dayTs + h * HOUR_MS,
          project,
          user: rnd() < 0.5 ? 'u1' : 'u2',
          partition,
          gpuS,
          measuredGpuS: gpuS * 0.97,
          energyKWh: (gpuS / 3600) * (0.2 + rnd() * 0.5),
          inferredKWh: rnd() * 0.01,
          overheadKWh: rnd() * 0.3,
          reusedKWh: rnd() * 0.6,
          co2Kg: rnd() * 0.05,
        });
      }
    }
  }
  const jobs: PushedDay['jobs'] = [];
  const n = 5 + Math.floor(rnd() * 10);
  for (let i = 0; i < n; i++) {
    const startTs = dayTs + Math.floor(rnd() * DAY_MS / 1000) * 1000;
    // Whole seconds as Slurm's (stored as int32 seconds), now and then a tie, and on every
    // fifth day some milliseconds (stored as float64 milliseconds, and their months too).
    const wait = (rnd() < 0.1 ? 600_000 : Math.floor(Math.exp(rnd() * 10)) * 1000) + ((dayTs / DAY_MS) % 5 === 0 && i % 2 === 0 ? 137 : 0);
    jobs.push({
      cluster: site,
      jobId: `${dayTs / DAY_MS}-${i}`,
      project: ['proj-a', 'proj-b', 'proj-c'][i % 3]!,
      user: 'u1',
      partition: i % 4 === 0 ? 'gpu-large' : 'gpu',
      gpus: 1 + (i % 4),
      submitTs: startTs - wait,
      startTs,
      endTs: startTs + HOUR_MS,
      state: 'COMPLETED',
      energyKWh: rnd(),
    });
  }
  return { dayTs, completeToTs: dayTs + DAY_MS, usage, jobs, facility: [] };
}

const hash = (d: PushedDay, salt = 0) => `${d.dayTs}:${salt}`.padEnd(64, '0');

describe('pieces', () => {
  it('tile a window exactly, with at most 23 hours, 10 days and 2 dekads at each edge', () => {
    const rnd = seeded(11);
    for (let i = 0; i < 2000; i++) {
      const a = FROM + Math.floor(rnd() * 400 * 24) * HOUR_MS;
      const b = a + Math.floor(rnd() * 200 * 24) * HOUR_MS;
      const ps = pieces(a, b);
      let t = a;
      for (const p of ps) {
        expect(p.a).toBe(t);
        expect(p.b).toBeGreaterThan(p.a);
        if (p.table === 'month') expect([monthOf(p.a), monthOf(p.b)]).toEqual([p.a, p.b]);
        if (p.table === 'dekad') expect([dekadOf(p.a), dekadOf(p.b)]).toEqual([p.a, p.b]);
        if (p.table === 'day') expect([p.a % DAY_MS, p.b % DAY_MS]).toEqual([0, 0]);
        t = p.b;
      }
      expect(t).toBe(b);
      const count = (table: string) => ps.filter((p) => p.table === table).reduce((n, p) => n + (p.b - p.a), 0);
      expect(count('hour')).toBeLessThanOrEqual(2 * 23 * HOUR_MS);
      expect(count('day')).toBeLessThanOrEqual(2 * 10 * DAY_MS);
      expect(ps.filter((p) => p.table === 'dekad').length).toBeLessThanOrEqual(4);
    }
  });
});

describe.skipIf(missing('PostgreSQL (HEATLEDGER_TEST_PG_URL; .ci/pg/start.sh)', await hasPostgres()))('hub rollups on PostgreSQL', () => {
  let db: TestDatabase;
  let hub: HubStore;

  beforeAll(async () => {
    db = await freshDatabase('hl_pieces');
    hub = await openHub(db.url);
    for (const site of SITES) {
      const days = Array.from({ length: DAYS }, (_, i) => day(site, FROM + i * DAY_MS));
      await storeDays(hub, site, days.map((d) => ({ ...d, hash: hash(d) })), Date.now());
    }
  }, 120_000);
  afterAll(async () => {
    await hub?.close();
    await db?.drop();
  });

  const windows = () => {
    const rnd = seeded(29);
    const out: Array<[number, number]> = [
      [Date.UTC(2026, 1, 10, 13), Date.UTC(2026, 2, 20, 7)],
      [Date.UTC(2026, 1, 21), Date.UTC(2026, 2, 1)],
      [Date.UTC(2026, 1, 1), Date.UTC(2026, 3, 1)],
      [FROM - DAY_MS, FROM + (DAYS + 1) * DAY_MS],
    ];
    while (out.length < 24) {
      const a = FROM + Math.floor(rnd() * DAYS * 24) * HOUR_MS;
      out.push([a, Math.min(a + Math.floor(rnd() * 60 * 24 + 1) * HOUR_MS, FROM + DAYS * DAY_MS)]);
    }
    return out;
  };

  /** Sums straight from the pushed hours. */
  async function byPostgres(a: number, b: number, groupBy: string[]) {
    const r = await hub.pool.query(
      `SELECT ${groupBy.map((k) => `${k}, `).join('')}SUM(gpu_s) AS gpu_s, SUM(energy_kwh) AS e, SUM(reused_kwh) AS r, SUM(co2_kg) AS c
       FROM hub_usage_hour WHERE hour_ts >= $1 AND hour_ts < $2 ${groupBy.length ? `GROUP BY ${groupBy.join(', ')}` : 'HAVING COUNT(*) > 0'}`,
      [a, b],
    );
    return new Map(r.rows.map((x) => [groupBy.map((k) => x[k]).join('|'), x]));
  }

  async function expectUsageExact() {
    let compared = 0;
    for (const [a, b] of windows()) {
      for (const groupBy of [['site', 'project'], ['project', 'partition'], []] as Array<Array<'site' | 'project' | 'partition'>>) {
        const got = await hubUsage(hub, { fromTs: a, toTs: b, groupBy, projects: null });
        const want = await byPostgres(a, b, groupBy);
        expect(got.length, `${new Date(a).toISOString()} ${new Date(b).toISOString()} ${groupBy}`).toBe(want.size);
        for (const r of got) {
          const w = want.get(groupBy.map((k) => (r as unknown as Record<string, unknown>)[k]).join('|'))!;
          expect(r.gpuHours * 3600).toBeCloseTo(Number(w.gpu_s), 3);
          expect(r.energyKWh).toBeCloseTo(Number(w.e), 9);
          expect(r.reusedKWh).toBeCloseTo(Number(w.r), 9);
          expect(r.co2Kg).toBeCloseTo(Number(w.c), 9);
          compared++;
        }
      }
    }
    expect(compared).toBeGreaterThan(300);
  }

  it('sums any window exactly as the pushed hours do', async () => {
    await expectUsageExact();
  }, 60_000);

  async function expectWaitsExact(ws: Array<[number, number]>) {
    let compared = 0;
    for (const [a, b] of ws) {
      for (const groupBy of [['site', 'partition'], ['project'], []] as HubWaitKey[][]) {
        for (const projects of [null, ['proj-b']]) compared += await expectWaitsAsPostgres(hub, a, b, groupBy, projects);
      }
    }
    return compared;
  }

  it("gives the waits' percentiles PostgreSQL's percentile_cont gives over the jobs", async () => {
    expect(await expectWaitsExact(windows().slice(0, 12))).toBeGreaterThan(100);
  }, 60_000);

  it("counts a job once when a later push moves its start to another day (the old day's runs rebuilt)", async () => {
    // A job of lumi-dk's Feb 20 pushed again inside Feb 19 (its start corrected at the site): it leaves Feb 20.
    const old = day('lumi-dk', Date.UTC(2026, 1, 20));
    const movedJob = { ...old.jobs[0]!, startTs: old.jobs[0]!.startTs - DAY_MS, submitTs: old.jobs[0]!.submitTs - DAY_MS - 3_600_000 };
    const feb19 = day('lumi-dk', Date.UTC(2026, 1, 19));
    const changed = { ...feb19, jobs: [...feb19.jobs, movedJob] };
    expect(await storeDays(hub, 'lumi-dk', [{ ...changed, hash: hash(changed, 2) }], Date.now())).toEqual({ stored: 1, unchanged: 0 });
    const held = await hub.pool.query('SELECT start_day_ts FROM hub_jobs WHERE site = $1 AND job_id = $2', ['lumi-dk', movedJob.jobId]);
    expect(held.rows.map((r) => Number(r.start_day_ts))).toEqual([Date.UTC(2026, 1, 19)]);
    const jobs = await hubWaits(hub, { fromTs: Date.UTC(2026, 1, 1), toTs: Date.UTC(2026, 2, 1), groupBy: [], projects: null });
    const count = await hub.pool.query('SELECT COUNT(*)::int AS n FROM hub_jobs WHERE start_ts >= $1 AND start_ts < $2', [Date.UTC(2026, 1, 1), Date.UTC(2026, 2, 1)]);
    expect(jobs[0]!.jobs).toBe(count.rows[0].n);
    expect(
      await expectWaitsExact([
        [Date.UTC(2026, 1, 19), Date.UTC(2026, 1, 21)],
        [Date.UTC(2026, 1, 1), Date.UTC(2026, 2, 1)],
        [Date.UTC(2026, 0, 27), Date.UTC(2026, 3, 1)],
      ]),
    ).toBeGreaterThan(10);
  }, 60_000);

  it('rebuilds the dekad and the month of a day pushed again with other figures', async () => {
    const changed = day('bitten', Date.UTC(2026, 1, 15), 1);
    expect(await storeDays(hub, 'bitten', [{ ...changed, hash: hash(changed, 1) }], Date.now())).toEqual({ stored: 1, unchanged: 0 });
    await expectUsageExact();
  }, 60_000);

  it('fills hub_usage_dekad on an existing hub (migration 0005) as the push builds it', async () => {
    const built = (await hub.pool.query('SELECT site, dekad_ts, project, partition, gpu_s, energy_kwh FROM hub_usage_dekad ORDER BY 1, 2, 3, 4')).rows;
    expect(built.length).toBeGreaterThan(100);
    const sql = readFileSync(new URL('../../db/hub/migrations/0005_usage_dekad.sql', import.meta.url), 'utf8').split('--> statement-breakpoint').at(-1)!;
    await hub.pool.query('DELETE FROM hub_usage_dekad');
    await hub.pool.query(sql);
    const filled = (await hub.pool.query('SELECT site, dekad_ts, project, partition, gpu_s, energy_kwh FROM hub_usage_dekad ORDER BY 1, 2, 3, 4')).rows;
    expect(filled.map((r) => [r.site, r.dekad_ts, r.project, r.partition, r.gpu_s])).toEqual(built.map((r) => [r.site, r.dekad_ts, r.project, r.partition, r.gpu_s]));
    for (const [i, r] of filled.entries()) expect(r.energy_kwh).toBeCloseTo(built[i]!.energy_kwh, 9);
  });
});
