import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Database } from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { JobRecord } from '../../collectors/shared/wire.ts';
import { seeded } from '../../collectors/demo/random.ts';
import { openDatabase } from '../../db/client.ts';
import { percentileCont, startedJobs, waitStats, type WaitGroup } from '../../db/queries/waits.ts';
import type { Visibility } from '../../server/auth/middleware.ts';
import { testConfig } from '../../server/config.ts';
import { createIngestService } from '../../server/services/ingest.service.ts';
import type { JobParsed } from '../../server/services/ingest-types.ts';
import { compactWaitRollup, rebuildWaitRollup } from '../../db/rollups/waits.ts';
import { estimateWait, getWaits } from '../../server/services/waits.service.ts';
import { iso, job } from '../support/factories.ts';

const M = 60_000;
const H = 60 * M;
const DAY = 24 * H;
// Sep 20 – Dec 10 2026: three month boundaries and the end of summer time in Copenhagen (Oct 25).
const START = Date.parse('2026-09-20T00:00:00.000Z');
const END = Date.parse('2026-12-10T00:00:00.000Z');
const GROUPS: WaitGroup[] = ['partition', 'project', 'gpus', 'hourOfWeek'];
const everyone: Visibility = { accounts: null, users: null, perUser: true, role: 'admin' };
const members: Visibility = { accounts: ['a', 'c', 'élan', 'nobody'], users: null, perUser: true, role: 'pi' };
const noProject: Visibility = { accounts: [], users: null, perUser: true, role: 'researcher' };

// Today's implementation of GET /waits before the rollup, kept verbatim as the reference.
const weekday = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Copenhagen', weekday: 'short', hour: '2-digit', hourCycle: 'h23' });
const dayIndex: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };
function hourOfWeek(ts: number): string {
  const parts = weekday.formatToParts(ts);
  return `${dayIndex[parts.find((p) => p.type === 'weekday')!.value]!}-${parts.find((p) => p.type === 'hour')!.value}`;
}
function todaysWaits(sqlite: Database, window: { fromTs: number; toTs: number }, groupBy: WaitGroup, vis: Visibility) {
  const accounts = groupBy === 'project' ? vis.accounts : null;
  const groups = new Map<string, { waits: number[]; eligible: number[] }>();
  for (const j of startedJobs(sqlite, window.fromTs, window.toTs, accounts)) {
    const key = groupBy === 'partition' ? (j.partition ?? '(none)') : groupBy === 'project' ? j.account : groupBy === 'gpus' ? String(j.gpus) : hourOfWeek(j.submitTs);
    const g = groups.get(key) ?? { waits: [], eligible: [] };
    g.waits.push((j.startTs - j.submitTs) / 1000);
    if (j.eligibleTs !== null) g.eligible.push(Math.max(0, (j.startTs - j.eligibleTs) / 1000));
    groups.set(key, g);
  }
  const rows = [...groups].map(([key, g]) => {
    const e = waitStats(g.eligible);
    return { key, ...waitStats(g.waits), eligibleMeanS: e.meanS, eligibleP50S: e.p50S, eligibleP90S: e.p90S, eligibleP99S: e.p99S };
  });
  rows.sort((a, b) => (groupBy === 'gpus' ? Number(a.key) - Number(b.key) : a.key.localeCompare(b.key)));
  return { groupBy, rows };
}

/**
 * Compares the rollup's answer with today's: everything to the last bit except the means,
 * which today sums float seconds in ascending order and the rollup takes as whole
 * milliseconds over the count (correctly rounded); they agree to 1e-12 relative.
 */
function expectSameWaits(sqlite: Database, window: { fromTs: number; toTs: number }, groupBy: WaitGroup, vis: Visibility, nowTs: number) {
  const got = getWaits(sqlite, window, groupBy, vis, nowTs);
  const want = todaysWaits(sqlite, window, groupBy, vis);
  const withoutMeans = ({ meanS: _m, eligibleMeanS: _e, ...rest }: (typeof want.rows)[number]) => rest;
  const where = `${groupBy} ${iso(window.fromTs)}–${iso(window.toTs)}`;
  expect(got.rows.map(withoutMeans), where).toEqual(want.rows.map(withoutMeans));
  got.rows.forEach((row, i) => {
    for (const field of ['meanS', 'eligibleMeanS'] as const) {
      const [a, b] = [row[field], want.rows[i]![field]];
      if (a === null || b === null) expect(a, where).toBe(b);
      else expect(Math.abs(a - b), `${where} ${row.key} ${field}`).toBeLessThanOrEqual(1e-12 * Math.abs(b));
    }
  });
  return got.rows.length;
}

/** Random job records over [START, END): rejections, holds, negative and zero waits, jobs still queued. */
function randomJobs(random: () => number, count: number, idPrefix: string): JobRecord[] {
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
  return Array.from({ length: count }, (_, i) => {
    const submit = START + Math.floor(random() * (END - START - 4 * DAY));
    const kind = random();
    const base = { jobId: `${idPrefix}${i}`, account: pick(['a', 'b', 'c', 'élan', 'd']), partition: pick(['gpu', 'gpu', 'cpu', null]), gpus: pick([0, 1, 2, 4, 8]), submitTime: iso(submit) };
    if (kind < 0.05) return job({ ...base, state: 'FAILED', eligibleTime: null, startTime: iso(submit), endTime: iso(submit), nodes: [] });
    if (kind < 0.08) return job({ ...base, state: 'PENDING', eligibleTime: null, startTime: null, endTime: null, nodes: [] });
    // Started at its submission on no node and still running: the rejection test reads NULL and leaves it out.
    if (kind < 0.1) return job({ ...base, state: 'RUNNING', startTime: iso(submit), endTime: null, nodes: [] });
    const wait = kind < 0.13 ? 0 : kind < 0.15 ? -Math.floor(random() * H) : Math.floor(Math.exp(random() * 12) * 100);
    const start = submit + wait;
    const eligible = random() < 0.3 ? null : start - Math.floor((random() - 0.2) * Math.max(wait, M));
    const end = start + Math.floor(random() * 10 * H);
    return job({ ...base, state: 'COMPLETED', eligibleTime: eligible === null ? null : iso(eligible), startTime: iso(start), endTime: iso(end), nodes: ['n1'] });
  });
}

/** Windows of every shape: not day-aligned, day- and month-aligned, inside one day, past the data. */
function windows(random: () => number): Array<{ fromTs: number; toTs: number }> {
  const list = [
    { fromTs: START - DAY, toTs: END + DAY },
    { fromTs: Date.parse('2026-10-01T00:00:00.000Z'), toTs: Date.parse('2026-12-01T00:00:00.000Z') },
    { fromTs: Date.parse('2026-10-01T00:00:00.000Z') + 1, toTs: Date.parse('2026-11-30T23:59:59.999Z') },
    { fromTs: Date.parse('2026-10-25T00:00:00.000Z'), toTs: Date.parse('2026-10-26T00:00:00.000Z') },
    { fromTs: Date.parse('2026-11-03T05:17:00.000Z'), toTs: Date.parse('2026-11-03T19:02:00.000Z') },
  ];
  for (let i = 0; i < 6; i++) {
    const a = START - DAY + Math.floor(random() * (END - START + 2 * DAY));
    const b = START - DAY + Math.floor(random() * (END - START + 2 * DAY));
    if (a !== b) list.push({ fromTs: Math.min(a, b), toTs: Math.max(a, b) });
  }
  return list;
}

describe('queue waits from the wait rollup', () => {
  it("equal today's recomputation from the job records for any window, grouping and project filter, through corrections and late records", () => {
    const db = openDatabase(':memory:');
    const sqlite = db.$client;
    const random = seeded(2026);
    const ingest = createIngestService({ sqlite, config: testConfig(), now: () => END + 2 * H });
    let nowTs = END + 2 * H;
    const send = (jobs: JobRecord[]) => ingest.ingest({ kind: 'jobs', batch: { schema: 1, cluster: 'c', jobs: jobs as JobParsed[] } });
    const check = () => {
      let rows = 0;
      for (const w of windows(random)) {
        for (const g of GROUPS) rows += expectSameWaits(sqlite, w, g, everyone, nowTs);
        expectSameWaits(sqlite, w, 'project', members, nowTs);
        expectSameWaits(sqlite, w, 'project', noProject, nowTs);
      }
      return rows;
    };

    const records = randomJobs(random, 3000, 'j');
    send(records);
    expect(check()).toBeGreaterThan(200);
    // Reads store nothing; the compactor stores the ended spans, and reads then use them.
    expect(sqlite.prepare('SELECT COUNT(*) AS n FROM wait_runs').get()).toEqual({ n: 0 });
    compactWaitRollup(sqlite, nowTs, Infinity);
    expect(sqlite.prepare('SELECT COUNT(*) AS n FROM wait_runs').get()).not.toEqual({ n: 0 });
    check();

    // Corrections through ingest (the same connection as the reads): starts move across
    // days and months, projects, partitions and GPU counts change, holds appear, a job
    // turns out rejected; and late records arrive for days already read.
    const corrected = records.filter((r) => r.startTime !== null && r.endTime !== null && random() < 0.15).map((r, i) => {
      const shift = Math.floor((random() - 0.5) * 6 * DAY);
      const moved = (ts: string) => iso(Date.parse(ts) + shift);
      if (i % 5 === 0) return { ...r, startTime: moved(r.startTime!), endTime: moved(r.endTime!) };
      if (i % 5 === 1) return { ...r, account: r.account === 'a' ? 'b' : 'a', partition: r.partition === null ? 'gpu' : null };
      if (i % 5 === 2) return { ...r, gpus: r.gpus + 16, eligibleTime: iso(Date.parse(r.submitTime) + M) };
      if (i % 5 === 3) return { ...r, state: 'FAILED' as const, startTime: r.submitTime, endTime: r.submitTime, nodes: [] };
      return { ...r, submitTime: iso(Date.parse(r.submitTime) - 3 * H) };
    });
    send(corrected);
    send(randomJobs(random, 300, 'late'));
    check();

    // Reads at an earlier "now": spans after it are kept in memory but not stored, and still answer exactly.
    nowTs = Date.parse('2026-11-15T12:00:00.000Z');
    send(randomJobs(random, 200, 'later'));
    check();
    nowTs = END + 2 * H;

    // A rebuild from the records gives the same answers.
    rebuildWaitRollup(sqlite, END);
    check();
  });

  it('notices writes by another connection, also INSERT OR REPLACE and DELETE, and a new connection starts from the stored runs', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'hl-waits-')), 'h.db');
    const reader = openDatabase(path).$client;
    const writer = openDatabase(path).$client;
    const random = seeded(99);
    const nowTs = END + H;
    const ingest = createIngestService({ sqlite: writer, config: testConfig(), now: () => nowTs });
    const send = (jobs: JobRecord[]) => ingest.ingest({ kind: 'jobs', batch: { schema: 1, cluster: 'c', jobs: jobs as JobParsed[] } });
    const year = { fromTs: START - 7 * H, toTs: END + 5 * H };
    const octNov = { fromTs: Date.parse('2026-10-01T00:00:00.000Z'), toTs: Date.parse('2026-12-01T00:00:00.000Z') };
    const same = () => {
      for (const w of [year, octNov]) for (const g of GROUPS) expectSameWaits(reader, w, g, everyone, nowTs);
    };

    send(randomJobs(random, 1500, 'j'));
    same();
    // Another connection changes jobs the reader has cached, by ingest and by hand.
    send(randomJobs(random, 200, 'late'));
    same();
    const columns = 'cluster, job_id, array_job_id, name, user, account, partition, qos, state, submit_ts, eligible_ts, start_ts, end_ts, gpus, gpu_type, cpus, nodes, exit_code, record_hash, updated_ts';
    const moved = columns.replace('start_ts, end_ts', `start_ts - ${9 * DAY}, end_ts - ${9 * DAY}`);
    writer.prepare(`INSERT OR REPLACE INTO jobs (${columns}) SELECT ${moved} FROM jobs WHERE start_ts >= ? AND start_ts < ? AND nodes <> '[]'`).run(Date.parse('2026-11-10T00:00:00.000Z'), Date.parse('2026-11-12T00:00:00.000Z'));
    same();
    writer.prepare('DELETE FROM jobs WHERE start_ts >= ? AND start_ts < ?').run(Date.parse('2026-10-05T00:00:00.000Z'), Date.parse('2026-10-07T00:00:00.000Z'));
    same();

    // A fresh connection answers from the stored runs; the stored runs of days changed since are not used.
    compactWaitRollup(writer, nowTs, Infinity);
    const stored = reader.prepare('SELECT COUNT(*) AS n FROM wait_runs').get() as { n: number };
    expect(stored.n).toBeGreaterThan(4 * 60);
    writer.prepare('UPDATE jobs SET account = ? WHERE start_ts >= ? AND start_ts < ?').run('moved', Date.parse('2026-10-15T00:00:00.000Z'), Date.parse('2026-10-15T06:00:00.000Z'));
    const fresh = openDatabase(path).$client;
    for (const w of [year, octNov]) for (const g of GROUPS) expectSameWaits(fresh, w, g, everyone, nowTs);
    for (const c of [reader, writer, fresh]) c.close();
  });

  it("estimates a wait as today's scan of the partition's jobs did, ties in submission included", () => {
    const db = openDatabase(':memory:');
    const sqlite = db.$client;
    const random = seeded(5);
    const nowTs = Date.parse('2026-12-01T09:30:00.000Z');
    // The scheduler's clock runs ahead of the estimate's "now", so some jobs were submitted after it.
    const ingest = createIngestService({ sqlite, config: testConfig(), now: () => nowTs + 3 * H });
    // Submissions on whole minutes, so that many share a time; a few jobs submitted after "now".
    const jobs = Array.from({ length: 4000 }, (_, i) => {
      const submit = nowTs - 30 * DAY + Math.floor(random() * (30 * DAY + 2 * H) / M) * M;
      const gpus = [1, 2, 4, 8, 16][Math.floor(random() * 5)]!;
      const partition = random() < 0.8 ? 'gpu' : 'cpu';
      const r = random();
      const wait = Math.floor(Math.exp(random() * 10) * 1000);
      if (r < 0.1 || submit + wait > nowTs) return job({ jobId: String(i), partition, gpus, state: 'PENDING', submitTime: iso(submit), startTime: null, endTime: null, nodes: [] });
      if (r < 0.15) return job({ jobId: String(i), partition, gpus, state: 'CANCELLED', submitTime: iso(submit), startTime: null, endTime: iso(submit + wait), nodes: [] });
      const end = submit + wait + Math.floor(random() * 5 * H);
      return job({ jobId: String(i), partition, gpus, state: end > nowTs ? 'RUNNING' : 'COMPLETED', submitTime: iso(submit), startTime: iso(submit + wait), endTime: end > nowTs ? null : iso(end) });
    });
    ingest.ingest({ kind: 'jobs', batch: { schema: 1, cluster: 'c', jobs: jobs as JobParsed[] } });

    for (const [partition, gpus] of [['gpu', 1], ['gpu', 2], ['gpu', 3], ['gpu', 8], ['gpu', 16], ['cpu', 4], ['cpu', 64]] as const) {
      expect(estimateWait(sqlite, partition, gpus, nowTs), `${partition} ${gpus}`).toEqual(todaysEstimate(sqlite, partition, gpus, nowTs));
    }
    expect(() => estimateWait(sqlite, 'none', 1, nowTs)).toThrow('no jobs seen');
  });
});

// Today's estimate before the index searches, kept verbatim as the reference.
function todaysEstimate(sqlite: Database, partition: string, gpus: number, nowTs: number) {
  const LOOKBACK_MS = 14 * DAY;
  const jobs = sqlite
    .prepare(`SELECT submit_ts AS submitTs, start_ts AS startTs, end_ts AS endTs, state, gpus FROM jobs WHERE submit_ts >= ? AND (? IS NULL OR partition = ?) ORDER BY submit_ts`)
    .all(nowTs - 2 * LOOKBACK_MS, partition, partition) as Array<{ submitTs: number; startTs: number | null; endTs: number | null; state: string; gpus: number }>;
  const pendingGpusAt = (ts: number) => {
    let sum = 0;
    for (const j of jobs) {
      if (j.submitTs >= ts) break;
      if (j.startTs === null ? j.state === 'PENDING' || (j.endTs !== null && j.endTs > ts) : j.startTs > ts) sum += j.gpus;
    }
    return sum;
  };
  const queueNow = pendingGpusAt(nowTs + 1);
  const similar = jobs.filter((j) => j.startTs !== null && j.submitTs >= nowTs - LOOKBACK_MS && j.gpus >= gpus / 2 && j.gpus <= gpus * 2 && j.startTs >= j.submitTs);
  const scored = similar.slice(-600).map((j) => ({ waitS: (j.startTs! - j.submitTs) / 1000, distance: Math.abs(pendingGpusAt(j.submitTs) - queueNow) }));
  scored.sort((a, b) => a.distance - b.distance);
  const nearest = scored.slice(0, 40).map((s) => s.waitS).sort((a, b) => a - b);
  const stats = waitStats(nearest);
  return {
    partition,
    gpus,
    estimateS: stats.p50S,
    p25S: percentileCont(nearest, 0.25),
    p75S: percentileCont(nearest, 0.75),
    p90S: stats.p90S,
    sampleSize: nearest.length,
    similarJobs: similar.length,
    queueNow: { pendingGpus: queueNow },
    basis: `jobs with ${Math.ceil(gpus / 2)}-${gpus * 2} GPUs on ${partition} submitted in the last 14 days, nearest to today's queue`,
  };
}
