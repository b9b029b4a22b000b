/**
 * A site's push to the federation hub (issue 18; DESIGN.md, "Beyond one machine"). For each
 * UTC day with data, the day's complete hours — those whose energy attribution is settled —
 * per project × user × partition (GPU-seconds, measured and inferred GPU energy, shares of
 * overhead, reused heat and CO2), each hour's unattributed remainder, the facility meters per
 * hour, and the jobs that started in it (waits and energies); and the site's grants.
 *
 * What is sent is worked out from the same tables and rules as the site's own answers, so
 * the hub's sums equal the site's. Users appear as the site's committee sees them (the
 * keyed pseudonym) unless the site opts in to real names.
 *
 * Idempotent and resumable: each day goes whole with the hash of its content, and the hub
 * replaces the day it held. Before sending, the site asks the hub which hash it holds of each
 * day, so a day the hub lost (killed mid-push, restored from a backup) is sent again, and a
 * day whose content changed at the site (a late sample, a corrected job record, a forgotten
 * person) is sent again; a day neither changed nor lost is not even extracted again
 * (its change stamps, db/stamps.ts, are those it was extracted at).
 */
import { createHash } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import { UNATTRIBUTED, settledBefore } from '../../db/rollups/attribution.ts';
import { QUEUED } from '../../db/queries/waits.ts';
import { NO_PARTITION, maxJobDurationMs } from '../../db/rollups/usage.ts';
import { shareSql, type AttributedSums } from '../../db/rules/shares.ts';
import { DAY_MS, HOUR_MS, bucketOf, monthOf, nextMonth } from '../../db/rules/time.ts';
import { stampOf } from '../../db/stamps.ts';
import type { PushedDay, PushedFacilityHour, PushedGrant, PushedJob, PushedUsage } from '../../db/hub/store.ts';
import { pseudonymiser } from './review.service.ts';

/** The hours a push may include: complete, with their attribution settled. */
export function pushableBefore(sqlite: Database, nowTs: number): number {
  return Math.min(bucketOf(nowTs, HOUR_MS), settledBefore(sqlite, nowTs));
}

/** The first UTC day holding anything to push, or null. */
function firstDay(sqlite: Database): number | null {
  const r = sqlite
    .prepare(
      `SELECT MIN(t) AS t FROM (SELECT MIN(start_ts) AS t FROM jobs WHERE start_ts IS NOT NULL UNION ALL SELECT MIN(hour_ts) FROM job_hour
         UNION ALL SELECT MIN(hour_ts) FROM facility_energy_hour UNION ALL SELECT MIN(hour_ts) FROM energy_hour)`,
    )
    .get() as { t: number | null };
  return r.t === null ? null : bucketOf(r.t, DAY_MS);
}

const PARTITION = `COALESCE(j.partition, '${NO_PARTITION}')`;

/**
 * The signature of what day `dayTs`'s content is built from at `toTs`: the change stamps of
 * its month's usage, its days' attribution (over the runs of its jobs) and facility energy,
 * its waits, the owners of job records (a forgotten person), and how far its hours are complete.
 */
function daySignature(sqlite: Database, dayTs: number, toTs: number, nowTs: number): string {
  const span = sqlite
    .prepare('SELECT MAX(COALESCE(end_ts, @now)) AS e, SUM(end_ts IS NULL) AS running FROM jobs WHERE start_ts >= @a AND start_ts < @b')
    .get({ a: dayTs, b: dayTs + DAY_MS, now: nowTs }) as { e: number | null; running: number | null };
  const jobsTo = Math.max(dayTs + DAY_MS, bucketOf(span.e ?? dayTs, DAY_MS) + DAY_MS);
  const month = monthOf(dayTs);
  return [
    stampOf(sqlite, 'usage', month, nextMonth(monthOf(jobsTo - 1))),
    stampOf(sqlite, 'attribution', dayTs, jobsTo),
    stampOf(sqlite, 'energy', dayTs - DAY_MS, dayTs + 2 * DAY_MS),
    stampOf(sqlite, 'waits', dayTs, dayTs + DAY_MS),
    stampOf(sqlite, 'owners'),
    Math.min(toTs, dayTs + DAY_MS),
    // A running job's figures grow with every settled hour.
    span.running ? toTs : '',
  ].join('|');
}

/** Day `dayTs`'s content over its complete hours before `toTs`. */
export function extractDay(sqlite: Database, dayTs: number, toTs: number, nowTs: number, nameOf: (user: string) => string): PushedDay {
  const a = dayTs;
  const b = Math.min(dayTs + DAY_MS, toTs);
  const usage = new Map<string, PushedUsage & { gpuMs: number }>();
  const row = (hourTs: number, project: string, user: string, partition: string) => {
    const key = `${hourTs}\u0000${project}\u0000${user}\u0000${partition}`;
    let r = usage.get(key);
    if (!r) {
      r = { hourTs, project, user: nameOf(user), partition, gpuS: 0, measuredGpuS: 0, energyKWh: 0, inferredKWh: 0, overheadKWh: 0, reusedKWh: 0, co2Kg: 0, gpuMs: 0 };
      usage.set(key, r);
    }
    return r;
  };
  if (b > a) {
    // Allocated GPU-time (db/rules/gpu-hours.ts): GPUs × milliseconds of the run inside each hour, a running job's run up to now.
    // Ended jobs through the end-time index (those overlapping the day ended after it began and, being no
    // longer than the longest job, before it ended plus that); running jobs apart.
    const runs = sqlite
      .prepare(
        `SELECT j.account AS project, j.user, ${PARTITION} AS partition, j.start_ts AS s, j.end_ts AS e, j.gpus AS g FROM jobs j INDEXED BY jobs_end
         WHERE j.end_ts > @a AND j.end_ts <= @b + @maxDur AND j.start_ts < @b AND j.end_ts >= j.start_ts
         UNION ALL
         SELECT j.account, j.user, ${PARTITION}, j.start_ts, @now, j.gpus FROM jobs j INDEXED BY jobs_end WHERE j.end_ts IS NULL AND j.start_ts < @b`,
      )
      .all({ a, b, now: nowTs, maxDur: maxJobDurationMs(sqlite) }) as Array<{ project: string; user: string; partition: string; s: number; e: number; g: number }>;
    for (const r of runs) {
      for (let h = Math.max(bucketOf(r.s, HOUR_MS), a); h < Math.min(r.e, b); h += HOUR_MS) {
        const ms = Math.max(0, Math.min(r.e, h + HOUR_MS) - Math.max(r.s, h));
        if (ms > 0) row(h, r.project, r.user, r.partition).gpuMs += r.g * ms;
      }
    }
    // Measured energy per job-hour of known jobs, and inferred energy of the settled hours, with each hour's shares.
    const energy = sqlite
      .prepare(
        `SELECT u.hour_ts AS h, j.account AS project, j.user, ${PARTITION} AS partition, SUM(u.kwh) AS kwh, SUM(u.inferred) AS inferred, SUM(u.gpu) AS gpu,
           ${shareSql('u.kwh', 'e')}
         FROM (SELECT hour_ts, cluster, job_id, energy_wh / 1000.0 AS kwh, 0 AS inferred, gpu_s AS gpu FROM job_hour WHERE hour_ts >= @a AND hour_ts < @b
               UNION ALL SELECT hour_ts, cluster, job_id, energy_kwh, energy_kwh, 0 FROM energy_job_inferred WHERE hour_ts >= @a AND hour_ts < @b) u
           JOIN jobs j ON j.cluster = u.cluster AND j.job_id = u.job_id
           LEFT JOIN energy_hour e ON e.hour_ts = u.hour_ts
         GROUP BY 1, 2, 3, 4`,
      )
      .all({ a, b }) as Array<{ h: number; project: string; user: string; partition: string; kwh: number; inferred: number; gpu: number } & Omit<AttributedSums, 'itKWh'>>;
    for (const e of energy) {
      const r = row(e.h, e.project, e.user, e.partition);
      r.energyKWh += e.kwh;
      r.inferredKWh += e.inferred;
      r.measuredGpuS += e.gpu;
      r.overheadKWh += e.overheadKWh;
      r.reusedKWh += e.reusedKWh;
      r.co2Kg += e.co2Kg;
    }
    const rest = sqlite
      .prepare('SELECT hour_ts AS h, it_kwh AS it, overhead_kwh AS overhead, reused_kwh AS reused, co2_kg AS co2 FROM energy_project_hour WHERE account = ? AND hour_ts >= ? AND hour_ts < ?')
      .all(UNATTRIBUTED, a, b) as Array<{ h: number; it: number; overhead: number; reused: number; co2: number }>;
    for (const e of rest) {
      // The remainder is nobody's: its row carries no user name to pseudonymise.
      usage.set(`${e.h}\u0000${UNATTRIBUTED}`, {
        hourTs: e.h,
        project: UNATTRIBUTED,
        user: '',
        partition: '',
        gpuS: 0,
        measuredGpuS: 0,
        energyKWh: e.it,
        inferredKWh: 0,
        overheadKWh: e.overhead,
        reusedKWh: e.reused,
        co2Kg: e.co2,
        gpuMs: 0,
      });
    }
  }
  const rows: PushedUsage[] = [...usage.values()]
    .sort((x, y) => x.hourTs - y.hourTs || x.project.localeCompare(y.project) || x.user.localeCompare(y.user) || x.partition.localeCompare(y.partition))
    .map(({ gpuMs, ...r }) => ({ ...r, gpuS: gpuMs / 1000 }));

  const jobs = (
    sqlite
      .prepare(
        `SELECT j.cluster, j.job_id AS jobId, j.account AS project, j.user, ${PARTITION} AS partition, j.gpus, j.submit_ts AS submitTs, j.start_ts AS startTs,
           j.end_ts AS endTs, j.state, COALESCE(ej.energy_kwh, 0) AS energyKWh
         FROM jobs j LEFT JOIN energy_job ej ON ej.cluster = j.cluster AND ej.job_id = j.job_id
         WHERE j.start_ts >= @a AND j.start_ts < @b AND j.submit_ts IS NOT NULL AND ${QUEUED} -- jobs that queued, as the site's waits count them
         ORDER BY j.cluster, j.job_id`,
      )
      .all({ a, b }) as PushedJob[]
  ).map((j) => ({ ...j, user: nameOf(j.user) }));

  const facility = sqlite
    .prepare(
      `SELECT hour_ts AS hourTs, it_energy_kwh AS itKWh, facility_energy_kwh AS facilityKWh, reused_heat_kwh AS reusedKWh, cooling_energy_kwh AS coolingKWh,
         co2_g / 1000.0 AS co2Kg FROM facility_energy_hour WHERE hour_ts >= ? AND hour_ts < ? ORDER BY hour_ts`,
    )
    .all(a, b) as PushedFacilityHour[];
  return { dayTs, completeToTs: b, usage: rows, jobs, facility };
}

/** The site's GPU-hour grants, as its allocations hold them. */
export function siteGrants(sqlite: Database): PushedGrant[] {
  return sqlite
    .prepare(
      `SELECT p.name AS project, a.period_start_ts AS fromTs, a.period_end_ts AS toTs, a.amount AS gpuHours
       FROM allocations a JOIN projects p ON p.id = a.project_id WHERE a.resource = 'gpu_hours' ORDER BY p.name, a.period_start_ts`,
    )
    .all() as PushedGrant[];
}

export const contentHash = (value: unknown) => createHash('sha256').update(JSON.stringify(value)).digest('hex');

export interface PushOptions {
  hubUrl: string;
  token: string;
  site: string;
  /** Send real user names rather than the committee's pseudonyms (the site opts in). */
  realNames?: boolean;
  now?: () => number;
  fetch?: typeof fetch;
  /** Rows per request at most (days are never split). */
  maxRows?: number;
  /**
   * Days extracted per call at most (the rest wait for the next call): a server's first push
   * of a year of history would otherwise hold its event loop for minutes. Unlimited by default.
   */
  maxDays?: number;
}

export interface PushResult {
  /** Days sent and stored by the hub. */
  sent: number;
  /** Days the hub already held as they are. */
  unchanged: number;
  /** Usage rows and jobs sent. */
  rows: number;
  /** Whether every day that needed sending was accepted. */
  ok: boolean;
  /** Whether days were left for the next call (`maxDays` reached). */
  more: boolean;
  error: string | null;
}

async function call(o: PushOptions, path: string, init: RequestInit = {}): Promise<unknown> {
  const url = new URL(path, o.hubUrl.replace(/\/?$/, '/'));
  let res: Response;
  try {
    res = await (o.fetch ?? fetch)(url, { ...init, headers: { authorization: `Bearer ${o.token}`, 'content-type': 'application/json', ...init.headers } });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`cannot reach the hub at ${url.origin}: ${cause?.code ?? cause?.message ?? (error as Error).message}`, { cause: error });
  }
  const text = await res.text();
  if (!res.ok) {
    let message = text.slice(0, 300);
    try {
      message = (JSON.parse(text) as { error: { message: string } }).error.message;
    } catch {
      // not the hub's JSON error: keep the text
    }
    throw new Error(`hub answered ${res.status} to ${path}: ${message}`);
  }
  return text ? JSON.parse(text) : null;
}

/**
 * Pushes what changed since the hub last stored it: every day with data whose content the
 * hub does not hold, and the grants. Stops at the first refused request (reported, not thrown).
 */
export async function pushToHub(sqlite: Database, o: PushOptions): Promise<PushResult> {
  const nowTs = (o.now ?? Date.now)();
  const result: PushResult = { sent: 0, unchanged: 0, rows: 0, ok: true, more: false, error: null };
  try {
    const state = (await call(o, 'api/v1/hub/state')) as { site: string; days: Array<{ day: string; hash: string }>; grantsHash: string | null };
    if (state.site !== o.site) throw new Error(`the hub token is ${state.site}'s, not ${o.site}'s (HEATLEDGER_SITE)`);
    const held = new Map(state.days.map((d) => [Date.parse(d.day), d.hash]));
    const toTs = pushableBefore(sqlite, nowTs);
    const first = firstDay(sqlite);
    const mine = new Map(
      (sqlite.prepare('SELECT day_ts AS dayTs, sig, hash FROM hub_push_day').all() as Array<{ dayTs: number; sig: string; hash: string }>).map((r) => [r.dayTs, r]),
    );
    const nameOf = o.realNames ? (u: string) => u : pseudonymiser(sqlite);
    const remember = sqlite.prepare('INSERT INTO hub_push_day (day_ts, sig, hash) VALUES (?, ?, ?) ON CONFLICT (day_ts) DO UPDATE SET sig = excluded.sig, hash = excluded.hash');
    const pending: Array<{ day: PushedDay & { hash: string }; sig: string }> = [];
    let pendingRows = 0;
    const flush = async () => {
      if (pending.length === 0) return;
      const answer = (await call(o, 'api/v1/hub/push', { method: 'POST', body: JSON.stringify({ schema: 1, site: o.site, days: pending.map((p) => p.day) }) })) as { stored: number; unchanged: number };
      result.sent += answer.stored;
      result.unchanged += answer.unchanged;
      result.rows += pendingRows;
      sqlite.transaction(() => {
        for (const p of pending) remember.run(p.day.dayTs, p.sig, p.day.hash);
      })();
      pending.length = 0;
      pendingRows = 0;
    };
    let extracted = 0;
    if (first !== null) {
      for (let day = first; day < toTs && extracted < (o.maxDays ?? Infinity); day += DAY_MS) {
        const sig = daySignature(sqlite, day, toTs, nowTs);
        const had = mine.get(day);
        if (had && had.sig === sig && held.get(day) === had.hash) {
          result.unchanged++;
          continue;
        }
        // Each day's extraction is synchronous (SQLite): let requests in between.
        await new Promise((r) => setImmediate(r));
        const content = extractDay(sqlite, day, toTs, nowTs, nameOf);
        extracted++;
        const hash = contentHash(content);
        if (held.get(day) === hash) {
          remember.run(day, sig, hash);
          result.unchanged++;
          continue;
        }
        pending.push({ day: { ...content, hash }, sig });
        pendingRows += content.usage.length + content.jobs.length;
        if (pendingRows >= (o.maxRows ?? 50_000)) await flush();
      }
    }
    result.more = first !== null && extracted >= (o.maxDays ?? Infinity);
    await flush();
    // The grants, whole, when they differ from what the hub holds.
    const grants = siteGrants(sqlite);
    const grantsHash = contentHash(grants);
    if (grantsHash !== state.grantsHash) await call(o, 'api/v1/hub/grants', { method: 'POST', body: JSON.stringify({ schema: 1, site: o.site, grants, hash: grantsHash }) });
  } catch (error) {
    result.ok = false;
    result.error = (error as Error).message;
  }
  return result;
}
