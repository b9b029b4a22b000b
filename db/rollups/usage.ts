/**
 * The usage rollups (usage_day, usage_month): use per UTC day and month by project, user
 * and partition, which usage, grant and review questions over long windows read.
 *
 * Job ingest adds an ended job's allocated GPU-seconds (split at UTC midnights, as sreport
 * and XDMoD charge) and its counts, and subtracts a changed record's old contribution
 * first, so re-sent and corrected records keep the rollup exact. GPU ingest adds measured
 * energy per job-hour for jobs whose record is known; a job's earlier job-hour energy
 * moves in when its record first arrives, and moves between keys if its account, user or
 * partition changes. Running jobs are not in the rollup: queries count them live.
 *
 * The longest job seen (setting `maxJobDurationMs`) bounds the queries' searches for the
 * jobs that cross a window's edge.
 */
import { createHash } from 'node:crypto';
import type { Database, Statement } from 'better-sqlite3';
import { getTableConfig, type SQLiteTable } from 'drizzle-orm/sqlite-core';
import { gpuSecondsByDay } from '../rules/gpu-hours.ts';
import { DAY_MS, bucketOf, monthOf, nextMonth } from '../rules/time.ts';
import { usageDay, usageDayAccount, usageDayProject, usageDayTotal, usageMonth, usageMonthProject } from '../schema.ts';
import { stampOf } from '../stamps.ts';

/** The key a job's use is rolled up under. */
export interface UsageKey {
  account: string;
  user: string;
  /** '(none)' when the scheduler named no partition. */
  partition: string;
}

/** The fields of a job record the rollup needs. */
export interface RolledJob extends UsageKey {
  startTs: number | null;
  endTs: number | null;
  gpus: number;
}

export const NO_PARTITION = '(none)';

/** Whether a record counts in the rollup: it ran (started, ended, not backwards). */
const hasRun = (j: Pick<RolledJob, 'startTs' | 'endTs'>): j is { startTs: number; endTs: number } =>
  j.startTs !== null && j.endTs !== null && j.endTs >= j.startTs;

interface Cell {
  allocGpuS: number;
  jobsActive: number;
  jobsStarted: number;
  energyWh: number;
  measuredGpuS: number;
  idleGpuS: number;
}

const SEP = '\u0000';
/** The figures every usage rollup keeps (db/schema.ts usageFigures), in the order `flush` writes a Cell's fields. */
const COLUMNS = ['alloc_gpu_s', 'jobs_active', 'jobs_started', 'energy_wh', 'measured_gpu_s', 'idle_gpu_s'] as const;
const BUCKETS = ['day_ts', 'month_ts'] as const;
const KEY_PARTS = ['account', 'user', 'partition'] as const;

/** A usage rollup table as the schema declares it: its time bucket column and the key it keeps of (account, user, partition). */
interface RollupTable {
  name: string;
  bucket: (typeof BUCKETS)[number];
  key: Array<(typeof KEY_PARTS)[number]>;
}

/**
 * A usage rollup table's bucket and key, read from its drizzle schema (db/schema.ts): its
 * primary key is the bucket column and the key columns. A table the rollup could not fill
 * (another bucket, a key column it does not know, other figures) stops start-up.
 */
function rollupTableOf(table: SQLiteTable): RollupTable {
  const config = getTableConfig(table);
  const primary = (config.primaryKeys[0]?.columns ?? config.columns.filter((c) => c.primary)).map((c) => c.name);
  const bucket = BUCKETS.find((b) => primary.includes(b));
  const key = primary.filter((n) => n !== bucket);
  const figures = config.columns.map((c) => c.name).filter((n) => !primary.includes(n));
  const known = (n: string): n is RollupTable['key'][number] => (KEY_PARTS as readonly string[]).includes(n);
  if (!bucket || !key.every(known) || figures.join() !== COLUMNS.join()) {
    throw new Error(`usage rollup ${config.name}: primary key (${primary.join(', ')}) and figures (${figures.join(', ')}) are not a usage rollup's`);
  }
  return { name: config.name, bucket, key: key.filter(known) };
}

/** The usage rollup tables, their buckets and keys as the schema declares them (the one place they are written down). */
const TABLES: readonly RollupTable[] = [usageDay, usageMonth, usageDayProject, usageMonthProject, usageDayAccount, usageDayTotal].map(rollupTableOf);

const upsertSql = ({ name, bucket, key }: RollupTable) => {
  const cols = [bucket, ...key, ...COLUMNS];
  return `INSERT INTO ${name} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})
   ON CONFLICT (${[bucket, ...key].join(', ')}) DO UPDATE SET ${COLUMNS.map((c) => `${c} = ${c} + excluded.${c}`).join(', ')}`;
};

/**
 * Deltas to the usage rollups, gathered over one ingest batch and written by `flush()`
 * inside the batch's transaction.
 */
export class UsageRollup {
  private readonly st: Record<'meta' | 'jobHours' | 'getMax' | 'putMax', Statement>;
  /** Each table's upsert, in the order of TABLES. */
  private readonly add: Statement[];
  private readonly days = new Map<string, Cell>();
  /** Jobs active per month: not a sum of days (a job that ran on two days of a month ran in it once). */
  private readonly monthsActive = new Map<string, number>();
  private readonly metaCache = new Map<string, UsageKey | null>();
  /** The 'owners' change stamp metaCache was filled under (db/stamps.ts; −1: not read yet). */
  private ownersStamp = -1;
  private maxDurationMs: number;
  private maxDirty = false;

  constructor(private readonly sqlite: Database) {
    this.st = {
      meta: sqlite.prepare(`SELECT account, user, COALESCE(partition, '${NO_PARTITION}') AS partition FROM jobs WHERE cluster = ? AND job_id = ?`),
      jobHours: sqlite.prepare(
        'SELECT hour_ts AS hourTs, energy_wh AS energyWh, gpu_s AS gpuS, idle_gpu_s AS idleGpuS FROM job_hour INDEXED BY job_hour_job WHERE cluster = ? AND job_id = ?',
      ),
      getMax: sqlite.prepare("SELECT value FROM settings WHERE key = 'maxJobDurationMs'"),
      putMax: sqlite.prepare("INSERT INTO settings (key, value) VALUES ('maxJobDurationMs', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
    };
    this.add = TABLES.map((t) => sqlite.prepare(upsertSql(t)));
    this.maxDurationMs = readMaxDuration(this.st.getMax);
  }

  /**
   * Starts a batch: inside its write transaction (no other writer can commit until it
   * ends), drops the cached job keys if a job record's account, user or partition was
   * rewritten or removed since they were read (by `user forget`, a correction, another process).
   */
  begin(): void {
    const stamp = stampOf(this.sqlite, 'owners');
    if (stamp !== this.ownersStamp) {
      this.metaCache.clear();
      this.ownersStamp = stamp;
    }
  }

  /** Adds (sign 1) or removes (sign −1) an ended job's allocated GPU-seconds and counts. */
  addJob(job: RolledJob, sign: 1 | -1): void {
    if (!hasRun(job)) return;
    const key = keyOf(job);
    for (const [dayTs, gpuS] of gpuSecondsByDay(job)) {
      const c = this.cell(dayTs, key);
      c.allocGpuS += sign * gpuS;
    }
    // A job is active on each day (and month) it ran some time; one that ran no time at
    // all still counts as started.
    const lastDay = job.endTs > job.startTs ? bucketOf(job.endTs - 1, DAY_MS) : -Infinity;
    for (let day = bucketOf(job.startTs, DAY_MS); day <= lastDay; day += DAY_MS) this.cell(day, key).jobsActive += sign;
    this.cell(bucketOf(job.startTs, DAY_MS), key).jobsStarted += sign;
    for (let m = monthOf(job.startTs); m <= lastDay; m = nextMonth(m)) {
      const k = `${m}${SEP}${key.account}${SEP}${key.user}${SEP}${key.partition}`;
      this.monthsActive.set(k, (this.monthsActive.get(k) ?? 0) + sign);
    }
    if (sign === 1 && job.endTs - job.startTs > this.maxDurationMs) {
      this.maxDurationMs = job.endTs - job.startTs;
      this.maxDirty = true;
    }
  }

  /**
   * Moves a job's measured energy (every job-hour stored so far) from one key to another:
   * `from` null when its record first arrives, `to` null when it goes away.
   */
  moveEnergy(cluster: string, jobId: string, from: UsageKey | null, to: UsageKey | null): void {
    this.metaCache.delete(`${cluster}${SEP}${jobId}`);
    if (from && to && sameKey(from, to)) return;
    const hours = this.st.jobHours.all(cluster, jobId) as Array<{ hourTs: number; energyWh: number; gpuS: number; idleGpuS: number }>;
    for (const h of hours) {
      const day = bucketOf(h.hourTs, DAY_MS);
      if (from) this.addEnergyOn(day, from, -h.energyWh, -h.gpuS, -h.idleGpuS);
      if (to) this.addEnergyOn(day, to, h.energyWh, h.gpuS, h.idleGpuS);
    }
  }

  /** Adds a job-hour's energy delta under its job's key, if the job's record is known. */
  addEnergy(cluster: string, jobId: string, hourTs: number, energyWh: number, gpuS: number, idleGpuS: number): void {
    const id = `${cluster}${SEP}${jobId}`;
    let key = this.metaCache.get(id);
    if (key === undefined) {
      key = (this.st.meta.get(cluster, jobId) as UsageKey | undefined) ?? null;
      this.metaCache.set(id, key);
    }
    if (key) this.addEnergyOn(bucketOf(hourTs, DAY_MS), key, energyWh, gpuS, idleGpuS);
  }

  /** Writes the gathered deltas to every rollup table. */
  flush(): void {
    const out = TABLES.map(() => new Map<string, Cell>());
    const keyIn = (table: RollupTable, bucket: number, k: UsageKey) => [bucket, ...table.key.map((c) => k[c])].join(SEP);
    for (const [k, c] of this.days) {
      const [day, account, user, partition] = k.split(SEP) as [string, string, string, string];
      const parts = { account, user, partition };
      const month = monthOf(Number(day));
      TABLES.forEach((t, i) => {
        const isDay = t.bucket === 'day_ts';
        // Jobs active in a month are not a sum of its days: they come from monthsActive.
        addCell(out[i]!, keyIn(t, isDay ? Number(day) : month, parts), c, isDay);
      });
    }
    for (const [k, n] of this.monthsActive) {
      const [month, account, user, partition] = k.split(SEP) as [string, string, string, string];
      TABLES.forEach((t, i) => {
        if (t.bucket === 'month_ts') addCell(out[i]!, keyIn(t, Number(month), { account, user, partition }), { ...ZERO, jobsActive: n }, true);
      });
    }
    TABLES.forEach((_, i) => {
      for (const [k, c] of out[i]!) {
        const [bucket, ...key] = k.split(SEP);
        this.add[i]!.run(Number(bucket), ...key, c.allocGpuS, c.jobsActive, c.jobsStarted, c.energyWh, c.measuredGpuS, c.idleGpuS);
      }
    });
    this.days.clear();
    this.monthsActive.clear();
    if (this.maxDirty) {
      this.st.putMax.run(String(this.maxDurationMs));
      this.maxDirty = false;
    }
  }

  /** Forgets gathered deltas and cached lookups (after a rolled-back transaction). */
  reset(): void {
    this.days.clear();
    this.monthsActive.clear();
    this.metaCache.clear();
    this.maxDurationMs = readMaxDuration(this.st.getMax);
    this.maxDirty = false;
  }

  /** Adds energy on a day under a key (for rebuilds; ingest goes through addEnergy and moveEnergy). */
  addEnergyOn(day: number, key: UsageKey, energyWh: number, gpuS: number, idleGpuS: number): void {
    const c = this.cell(day, key);
    c.energyWh += energyWh;
    c.measuredGpuS += gpuS;
    c.idleGpuS += idleGpuS;
  }

  private cell(dayTs: number, key: UsageKey): Cell {
    const k = `${dayTs}${SEP}${key.account}${SEP}${key.user}${SEP}${key.partition}`;
    let c = this.days.get(k);
    if (!c) this.days.set(k, (c = { ...ZERO }));
    return c;
  }
}

const ZERO: Cell = { allocGpuS: 0, jobsActive: 0, jobsStarted: 0, energyWh: 0, measuredGpuS: 0, idleGpuS: 0 };

/** Adds `c` into the cell at `key`; `withActive` false leaves jobs active out (not a sum of days). */
function addCell(cells: Map<string, Cell>, key: string, c: Cell, withActive: boolean): void {
  let t = cells.get(key);
  if (!t) cells.set(key, (t = { ...ZERO }));
  t.allocGpuS += c.allocGpuS;
  t.jobsStarted += c.jobsStarted;
  t.energyWh += c.energyWh;
  t.measuredGpuS += c.measuredGpuS;
  t.idleGpuS += c.idleGpuS;
  if (withActive) t.jobsActive += c.jobsActive;
}

const keyOf = (j: UsageKey): UsageKey => ({ account: j.account, user: j.user, partition: j.partition });
const sameKey = (a: UsageKey, b: UsageKey) => a.account === b.account && a.user === b.user && a.partition === b.partition;

function readMaxDuration(get: Statement): number {
  const row = get.get() as { value: string } | undefined;
  return row ? Number(row.value) : 0;
}

/** The longest run of an ended job so far, in ms (0 before any). */
export function maxJobDurationMs(sqlite: Database): number {
  const row = sqlite.prepare("SELECT value FROM settings WHERE key = 'maxJobDurationMs'").get() as { value: string } | undefined;
  return row ? Number(row.value) : 0;
}

/**
 * Rebuilds both usage rollups from the job records and job_hour, for a database that
 * predates them, after a restore or a bug fix; incremental ingest gives the same figures.
 */
export function rebuildUsageRollups(sqlite: Database): { dayRows: number; monthRows: number; jobs: number } {
  return sqlite.transaction(() => {
    for (const t of TABLES) sqlite.exec(`DELETE FROM ${t.name}`);
    const rollup = new UsageRollup(sqlite);
    let jobs = 0;
    const rows = sqlite
      .prepare(
        `SELECT account, user, COALESCE(partition, '${NO_PARTITION}') AS partition, start_ts AS startTs, end_ts AS endTs, gpus FROM jobs
         WHERE end_ts IS NOT NULL AND start_ts IS NOT NULL AND end_ts >= start_ts`,
      )
      .iterate() as IterableIterator<RolledJob>;
    for (const j of rows) {
      jobs++;
      rollup.addJob(j, 1);
    }
    // Energy of known jobs per day, in one pass over job_hour.
    const energy = sqlite
      .prepare(
        `SELECT (h.hour_ts / ${DAY_MS}) * ${DAY_MS} AS day, j.account, j.user, COALESCE(j.partition, '${NO_PARTITION}') AS partition,
           SUM(h.energy_wh) AS wh, SUM(h.gpu_s) AS gpuS, SUM(h.idle_gpu_s) AS idleS
         FROM job_hour h JOIN jobs j ON j.cluster = h.cluster AND j.job_id = h.job_id GROUP BY 1, 2, 3, 4`,
      )
      .iterate() as IterableIterator<UsageKey & { day: number; wh: number; gpuS: number; idleS: number }>;
    for (const e of energy) rollup.addEnergyOn(e.day, e, e.wh, e.gpuS, e.idleS);
    rollup.flush();
    const max = sqlite.prepare('SELECT MAX(end_ts - start_ts) AS m FROM jobs WHERE end_ts >= start_ts').get() as { m: number | null };
    sqlite
      .prepare("INSERT INTO settings (key, value) VALUES ('maxJobDurationMs', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
      .run(String(max.m ?? 0));
    sqlite.prepare(`INSERT INTO settings (key, value) VALUES ('usageRollupVersion', '${ROLLUP_VERSION}') ON CONFLICT (key) DO UPDATE SET value = excluded.value`).run();
    const count = (t: string) => (sqlite.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: number }).n;
    return { dayRows: count('usage_day'), monthRows: count('usage_month'), jobs };
  }).immediate();
}

/**
 * The rollups' shape (tables, buckets, keys, figures) as a short hash: a migration that
 * adds or rekeys a usage rollup changes it, and the next open rebuilds them once.
 */
const ROLLUP_VERSION = createHash('sha256')
  .update(JSON.stringify(TABLES.map((t) => [t.name, t.bucket, t.key, COLUMNS])))
  .digest('hex')
  .slice(0, 16);

/** Whether the usage rollups' shape changed (a migration added or rekeyed one) since they were last built. */
export function usageRollupsStale(sqlite: Database): boolean {
  const row = sqlite.prepare("SELECT value FROM settings WHERE key = 'usageRollupVersion'").get() as { value: string } | undefined;
  return row?.value !== ROLLUP_VERSION;
}
