import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { JobRecord } from '../../collectors/shared/wire.ts';
import { openDatabase } from '../../db/client.ts';
import { usageByKey, type UsageGroup } from '../../db/queries/usage.ts';
import { testConfig } from '../../server/config.ts';
import { seeded } from '../../collectors/demo/random.ts';
import { createIngestService } from '../../server/services/ingest.service.ts';
import { rebuildUsageRollups } from '../../db/rollups/usage.ts';
import type { GpuBatchParsed, JobParsed } from '../../server/services/ingest-types.ts';
import { iso, job, series } from '../support/factories.ts';

const H = 3_600_000;
const DAY = 24 * H;
const MIDNIGHT = Date.parse('2026-11-01T00:00:00.000Z'); // also a month boundary
const M = 60_000;

type Row = Record<string, number | string>;
const table = (sqlite: ReturnType<typeof openDatabase>['$client'], name: string) =>
  sqlite.prepare(`SELECT * FROM ${name} ORDER BY 1, 2, 3, 4`).all() as Row[];

/** The rows with every number rounded, so that sums taken in another order compare equal. */
const rounded = (rows: Row[]) => rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'number' ? Math.round(v * 1e6) / 1e6 : v])));
/** Rows whose every figure is zero are kept by incremental updates and not by a rebuild. */
const nonZero = (rows: Row[]) => rows.filter((r) => Object.entries(r).some(([k, v]) => typeof v === 'number' && !k.endsWith('_ts') && Math.abs(v) > 1e-9));

describe('usage rollups', () => {
  it('kept by ingest equal a rebuild from the records, across late records, corrections and a month boundary', () => {
    const db = openDatabase(':memory:');
    const ingest = createIngestService({ sqlite: db.$client, config: testConfig(), now: () => MIDNIGHT + 3 * H });
    const jobs = (list: JobRecord[]) => ingest.ingest({ kind: 'jobs', batch: { schema: 1, cluster: 'c', jobs: list as JobParsed[] } });
    const gpu = (uuid: string, jobId: string, from: number, to: number) =>
      ingest.ingest({ kind: 'gpu', batch: { schema: 1, cluster: 'c', node: 'n1', samples: series(from, to, 60, { gpuUuid: uuid, jobIds: [jobId], powerW: 600 }) as GpuBatchParsed['samples'] } });

    // A: samples before its record, across midnight; then RUNNING, then COMPLETED.
    gpu('GPU-1', 'A', MIDNIGHT - 10 * M, MIDNIGHT + 10 * M);
    const a = { jobId: 'A', account: 'a', user: 'u1', partition: 'gpu', gpus: 2, submitTime: iso(MIDNIGHT - H), startTime: iso(MIDNIGHT - 20 * M) };
    jobs([job({ ...a, state: 'RUNNING', endTime: null })]);
    jobs([job({ ...a, state: 'COMPLETED', endTime: iso(MIDNIGHT + 20 * M) })]);
    // B: ended under account b, samples arrive, then a correction moves it to account c.
    const b = { jobId: 'B', user: 'u2', partition: null, gpus: 1, submitTime: iso(MIDNIGHT), state: 'COMPLETED' as const, startTime: iso(MIDNIGHT + 30 * M), endTime: iso(MIDNIGHT + 90 * M) };
    jobs([job({ ...b, account: 'b' })]);
    gpu('GPU-2', 'B', MIDNIGHT + 30 * M, MIDNIGHT + 90 * M);
    jobs([job({ ...b, account: 'c' })]);
    // C runs on; its energy is rolled up, its allocated time counted live.
    jobs([job({ jobId: 'C', account: 'a', user: 'u1', partition: 'gpu', gpus: 4, state: 'RUNNING', submitTime: iso(MIDNIGHT), startTime: iso(MIDNIGHT + H), endTime: null })]);
    gpu('GPU-3', 'C', MIDNIGHT + H, MIDNIGHT + 2 * H);

    const tables = ['usage_day', 'usage_month', 'usage_day_project', 'usage_month_project', 'usage_day_account', 'usage_day_total'];
    const incremental = tables.map((t) => rounded(nonZero(table(db.$client, t))));
    // Worked out by hand: A is 2 GPUs × 20 min on each side of midnight; 600 W × 10 min = 100 Wh on each side.
    // B: 1 GPU × 60 min, 600 W for an hour, under account c only. C: 600 W for an hour.
    const oct31 = MIDNIGHT - DAY;
    const base = { alloc_gpu_s: 0, jobs_active: 0, jobs_started: 0, energy_wh: 0, measured_gpu_s: 0, idle_gpu_s: 0 };
    const detail = [
      { ...base, day_ts: oct31, account: 'a', user: 'u1', partition: 'gpu', alloc_gpu_s: 2400, jobs_active: 1, jobs_started: 1, energy_wh: 100, measured_gpu_s: 600 },
      { ...base, day_ts: MIDNIGHT, account: 'a', user: 'u1', partition: 'gpu', alloc_gpu_s: 2400, jobs_active: 1, energy_wh: 100 + 600, measured_gpu_s: 600 + 3600 },
      { ...base, day_ts: MIDNIGHT, account: 'c', user: 'u2', partition: '(none)', alloc_gpu_s: 3600, jobs_active: 1, jobs_started: 1, energy_wh: 600, measured_gpu_s: 3600 },
    ];
    // One day in each month and one user and partition per project, so every table holds these rows, keyed its own way.
    const oct1 = Date.UTC(2026, 9, 1);
    const asMonth = ({ day_ts: d, ...r }: (typeof detail)[number]) => ({ month_ts: d === oct31 ? oct1 : MIDNIGHT, ...r });
    const withoutUser = ({ user: _, ...r }: Record<string, unknown>) => r;
    const withoutPartition = ({ partition: _, ...r }: Record<string, unknown>) => r;
    expect(incremental).toEqual([
      detail.map(withoutPartition),
      detail.map(asMonth).map(withoutPartition),
      detail.map(withoutUser),
      detail.map(asMonth).map(withoutUser),
      detail.map(withoutUser).map(withoutPartition),
      // Summed over projects too: the two rows of 1 November add up.
      [
        { ...base, day_ts: oct31, alloc_gpu_s: 2400, jobs_active: 1, jobs_started: 1, energy_wh: 100, measured_gpu_s: 600 },
        { ...base, day_ts: MIDNIGHT, alloc_gpu_s: 2400 + 3600, jobs_active: 2, jobs_started: 1, energy_wh: 700 + 600, measured_gpu_s: 4200 + 3600 },
      ],
    ]);

    rebuildUsageRollups(db.$client);
    expect(tables.map((t) => rounded(nonZero(table(db.$client, t))))).toEqual(incremental);
  });

  it('answers any window, grouping and filter as a recomputation from the job records and job_hour does', () => {
    const db = openDatabase(':memory:');
    const sqlite = db.$client;
    const start = Date.parse('2026-08-20T00:00:00.000Z');
    const nowTs = start + 80 * DAY + 7 * H + 13 * M;
    const ingest = createIngestService({ sqlite, config: testConfig(), now: () => nowTs });
    const random = seeded(7);
    const list: JobRecord[] = [];
    for (let i = 0; i < 400; i++) {
      const s = start + Math.floor(random() * 80 * DAY);
      const running = s > nowTs - 2 * DAY && random() < 0.5;
      const e = Math.min(s + Math.floor(random() * 40 * H), nowTs - M);
      list.push(
        job({
          jobId: String(i),
          account: `p${Math.floor(random() * 5)}`,
          user: `u${Math.floor(random() * 8)}`,
          partition: random() < 0.2 ? null : random() < 0.5 ? 'gpu' : 'big',
          gpus: 1 + Math.floor(random() * 8),
          state: running ? 'RUNNING' : 'COMPLETED',
          submitTime: iso(s - M),
          startTime: iso(s),
          endTime: running ? null : iso(e),
        }),
      );
    }
    for (let i = 0; i < list.length; i += 50) ingest.ingest({ kind: 'jobs', batch: { schema: 1, cluster: 'c', jobs: list.slice(i, i + 50) as JobParsed[] } });
    // Job-hours as a year of GPU ingest would fold them (the bench writes them so too), some of unknown jobs.
    const jh = sqlite.prepare('INSERT OR IGNORE INTO job_hour (hour_ts, cluster, job_id, energy_wh, gpu_s, util_pct_s, idle_gpu_s) VALUES (?, ?, ?, ?, ?, 0, ?)');
    for (let i = 0; i < 3000; i++) {
      const hour = start + Math.floor(random() * 80 * 24) * H;
      jh.run(hour, 'c', String(Math.floor(random() * 440)), random() * 500, random() * 3600, random() * 600);
    }
    rebuildUsageRollups(sqlite);

    const jobsRows = sqlite.prepare("SELECT job_id AS id, account, user, COALESCE(partition, '(none)') AS partition, start_ts AS s, end_ts AS e, gpus FROM jobs").all() as Array<{ id: string; account: string; user: string; partition: string; s: number; e: number | null; gpus: number }>;
    const byId = new Map(jobsRows.map((j) => [j.id, j]));
    const hours = sqlite.prepare('SELECT hour_ts AS h, job_id AS id, energy_wh AS wh, gpu_s AS g, idle_gpu_s AS i FROM job_hour').all() as Array<{ h: number; id: string; wh: number; g: number; i: number }>;
    const dayKey = (ts: number) => iso(ts).slice(0, 10);

    /** The usage rows worked out directly from the definitions. */
    const expected = (from: number, to: number, groupBy: UsageGroup, accounts: string[] | null, users: string[] | null) => {
      const out = new Map<string, { gpuHours: number; jobs: number; energyKWh: number; idleGpuHours: number }>();
      const row = (k: string) => out.get(k) ?? out.set(k, { gpuHours: 0, jobs: 0, energyKWh: 0, idleGpuHours: 0 }).get(k)!;
      const keyOf = (j: (typeof jobsRows)[number]) => (groupBy === 'project' ? j.account : groupBy === 'user' ? j.user : j.partition);
      for (const j of jobsRows) {
        if ((accounts && !accounts.includes(j.account)) || (users && !users.includes(j.user))) continue;
        const end = j.e ?? nowTs;
        const s = Math.max(j.s, from);
        const e = Math.min(end, to);
        const overlaps = j.e === null ? j.s < to && nowTs > from : j.e > from && j.s < to;
        if (!overlaps) continue;
        if (groupBy !== 'day') {
          const r = row(keyOf(j));
          r.jobs++;
          r.gpuHours += (j.gpus * Math.max(0, e - s)) / H;
          continue;
        }
        for (let d = Math.floor(s / DAY) * DAY; d < e; d += DAY) {
          const o = Math.min(e, d + DAY) - Math.max(s, d);
          if (o <= 0) continue;
          const r = row(dayKey(d));
          r.jobs++;
          r.gpuHours += (j.gpus * o) / H;
        }
      }
      for (const h of hours) {
        const j = byId.get(h.id);
        if (!j || h.h < from || h.h >= to || (accounts && !accounts.includes(j.account)) || (users && !users.includes(j.user))) continue;
        const r = row(groupBy === 'day' ? dayKey(h.h) : keyOf(j));
        r.energyKWh += h.wh / 1000;
        r.idleGpuHours += h.i / 3600;
      }
      return [...out].filter(([, r]) => r.jobs > 0 || r.energyKWh > 0).sort((x, y) => x[0].localeCompare(y[0]));
    };

    const windows: Array<[number, number]> = [
      [nowTs - 30 * DAY, nowTs],
      [nowTs - 75 * DAY, nowTs],
      [start + 3 * DAY, start + 40 * DAY],
      [start + 10 * DAY + 5 * H + 7 * M, start + 71 * DAY + 2 * H],
      [start + 20 * DAY + H, start + 20 * DAY + 9 * H],
      [start + 41 * DAY - M, start + 43 * DAY + M],
      [nowTs - 5 * H, nowTs + 2 * DAY],
    ];
    let compared = 0;
    for (const [from, to] of windows) {
      for (const groupBy of ['project', 'user', 'partition', 'day'] as const) {
        for (const [accounts, users] of [[null, null], [['p1', 'p3'], null], [null, ['u2', 'u5']]] as const) {
          // One person's usage by partition is a question no caller asks (the per-user rollup keeps no partition).
          if (groupBy === 'partition' && users) continue;
          const got = usageByKey(sqlite, { fromTs: from, toTs: to, nowTs, groupBy, accounts: accounts && [...accounts], users: users && [...users] })
            .map((r) => [r.key, { gpuHours: r.gpuHours, jobs: r.jobs, energyKWh: r.energyKWh, idleGpuHours: r.idleGpuHours }] as const)
            .sort((x, y) => x[0].localeCompare(y[0]));
          const want = expected(from, to, groupBy, accounts && [...accounts], users && [...users]);
          expect(got.map(([k]) => k), `${groupBy} ${iso(from)}–${iso(to)}`).toEqual(want.map(([k]) => k));
          got.forEach(([k, r], i) => {
            const w = want[i]![1];
            expect(r.jobs, `${groupBy} ${k} jobs`).toBe(w.jobs);
            expect(r.gpuHours).toBeCloseTo(w.gpuHours, 6);
            expect(r.energyKWh).toBeCloseTo(w.energyKWh, 6);
            expect(r.idleGpuHours).toBeCloseTo(w.idleGpuHours, 6);
          });
          compared += want.length;
        }
      }
    }
    expect(compared).toBeGreaterThan(450);
  });

  it('keeps sums over whole months only until one of those months changes, here or in another process', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'hl-usage-')), 'u.db');
    const db = openDatabase(path);
    const nowTs = Date.parse('2026-11-20T12:00:00.000Z');
    const ingest = createIngestService({ sqlite: db.$client, config: testConfig(), now: () => nowTs });
    const ended = (jobId: string, account: string, startTs: number) =>
      job({ jobId, account, gpus: 2, state: 'COMPLETED', submitTime: iso(startTs - H), startTime: iso(startTs), endTime: iso(startTs + 10 * H) }) as JobParsed;
    const send = (service: typeof ingest, jobs: JobParsed[]) => service.ingest({ kind: 'jobs', batch: { schema: 1, cluster: 'c', jobs } });
    send(ingest, [ended('1', 'a', Date.parse('2026-06-10T00:00:00.000Z')), ended('2', 'b', Date.parse('2026-08-10T00:00:00.000Z'))]);
    const hours = () =>
      Object.fromEntries(usageByKey(db.$client, { fromTs: nowTs - 300 * DAY, toTs: nowTs, nowTs, groupBy: 'project', accounts: null, users: null }).map((r) => [r.key, r.gpuHours]));
    expect(hours()).toEqual({ a: 20, b: 20 });
    expect(hours()).toEqual({ a: 20, b: 20 });
    // A late record of a closed month, through this connection's ingest…
    send(ingest, [ended('3', 'a', Date.parse('2026-07-10T00:00:00.000Z'))]);
    expect(hours()).toEqual({ a: 40, b: 20 });
    // …and one written by another process.
    const other = openDatabase(path);
    send(createIngestService({ sqlite: other.$client, config: testConfig(), now: () => nowTs }), [ended('4', 'b', Date.parse('2026-05-10T00:00:00.000Z'))]);
    other.$client.close();
    expect(hours()).toEqual({ a: 40, b: 40 });
    // A rebuild gives the same.
    rebuildUsageRollups(db.$client);
    expect(hours()).toEqual({ a: 40, b: 40 });
  });

  it('keeps the partial first day and the days of ended months only until those months change', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'hl-usage-')), 'u.db');
    const db = openDatabase(path);
    const nowTs = Date.parse('2026-11-20T12:00:00.000Z');
    const ingest = createIngestService({ sqlite: db.$client, config: testConfig({ retentionDays: 60 }), now: () => nowTs });
    const at = (s: string) => Date.parse(`2026-10-${s}:00.000Z`);
    const ended = (jobId: string, account: string, user: string, startTs: number, endTs: number) =>
      job({ jobId, account, user, gpus: 2, state: 'COMPLETED', submitTime: iso(startTs - H), startTime: iso(startTs), endTime: iso(endTs) }) as JobParsed;
    const send = (service: typeof ingest, jobs: JobParsed[]) => service.ingest({ kind: 'jobs', batch: { schema: 1, cluster: 'c', jobs } });
    // The window starts on 25 October at 15:00: that day is worked out from the records, the
    // rest of October from its days, November from its month.
    const fromTs = at('25T15:00');
    const usage = (groupBy: UsageGroup) =>
      Object.fromEntries(
        usageByKey(db.$client, { fromTs, toTs: nowTs, nowTs, groupBy, accounts: null, users: null }).map((r) => [r.key, [Math.round(r.gpuHours * 1e6) / 1e6, Math.round(r.energyKWh * 1e6) / 1e6]]),
      );
    // X: 2 GPUs from 10:00 to 20:00 on the 25th, 5 hours in the window. Y: 2 GPUs for 10 hours on the 27th.
    send(ingest, [ended('X', 'a', 'u1', at('25T10:00'), at('25T20:00')), ended('Y', 'a', 'u2', at('27T00:00'), at('27T10:00'))]);
    for (let i = 0; i < 2; i++) {
      expect(usage('project')).toEqual({ a: [30, 0] });
      expect(usage('user')).toEqual({ u1: [10, 0], u2: [20, 0] });
      expect(usage('day')).toEqual({ '2026-10-25': [10, 0], '2026-10-27': [20, 0] });
    }
    // Late samples of X (600 W for an hour from 16:00): the first day's energy changes.
    ingest.ingest({ kind: 'gpu', batch: { schema: 1, cluster: 'c', node: 'n1', samples: series(at('25T16:00'), at('25T17:00'), 60, { gpuUuid: 'G1', jobIds: ['X'], powerW: 600 }) as GpuBatchParsed['samples'] } });
    expect(usage('user')).toEqual({ u1: [10, 0.6], u2: [20, 0] });
    expect(usage('day')).toEqual({ '2026-10-25': [10, 0.6], '2026-10-27': [20, 0] });
    // A late record on the 28th, and X moved to project b.
    send(ingest, [ended('Z', 'a', 'u2', at('28T00:00'), at('28T05:00')), ended('X', 'b', 'u1', at('25T10:00'), at('25T20:00'))]);
    expect(usage('project')).toEqual({ a: [30, 0], b: [10, 0.6] });
    expect(usage('day')).toEqual({ '2026-10-25': [10, 0.6], '2026-10-27': [20, 0], '2026-10-28': [10, 0] });
    // Another process writes a record on the 25th.
    const other = openDatabase(path);
    send(createIngestService({ sqlite: other.$client, config: testConfig(), now: () => nowTs }), [ended('W', 'c', 'u3', at('25T22:00'), at('26T02:00'))]);
    other.$client.close();
    expect(usage('project')).toEqual({ a: [30, 0], b: [10, 0.6], c: [8, 0] });
    expect(usage('user')).toEqual({ u1: [10, 0.6], u2: [30, 0], u3: [8, 0] });
    expect(usage('day')).toEqual({ '2026-10-25': [14, 0.6], '2026-10-26': [4, 0], '2026-10-27': [20, 0], '2026-10-28': [10, 0] });
  });
});
