/**
 * The queue-wait rollup (wait_runs): per grouping (partition, project, GPU count, hour of
 * week of submission) and per UTC day and UTC calendar month, each key's ascending waits
 * (start − submit, ms) of the jobs that started in it, with their eligible-waits beside.
 * A year's percentiles then read per key a dozen month runs, the loose days around them
 * merged into one run per side, and the partial days at the window's ends, instead of two
 * million jobs, and stay exact: `kthPairOfRuns` picks the ranks out of the runs.
 *
 * Kept by change stamps (db/stamps.ts), not by ingest: triggers on jobs (migrations 0011
 * and 0018) count every change that can move a wait, per UTC start day, in the 'waits'
 * family of change_stamp, whichever connection or process writes. A span's stamp is the sum of its days' counts (counts only grow, so an
 * equal sum means no day changed). Runs, cached in memory or stored, are used only while
 * their stamp is current; otherwise a day is rebuilt from its job records and a month from
 * its days. Reads never write: the compactor (`compactWaitRollup`) stores the ended spans
 * whose stored runs are missing or stale, so the next read and the next process start warm.
 */
import type { Database } from 'better-sqlite3';
import {
  clearWaitRuns,
  readWaitRuns,
  startedJobs,
  storedWaitStamps,
  writeWaitRuns,
  type WaitGroup,
  type WaitJob,
  type WaitRunsRow,
} from '../queries/waits.ts';
import { DAY_MS, HOUR_MS, bucketOf, monthOf, monthsBefore, nextMonth } from '../rules/time.ts';
import { Kept, bucketStamps } from '../stamps.ts';

const WAIT_GROUPS: readonly WaitGroup[] = ['partition', 'project', 'gpus', 'hourOfWeek'];

/** One key's waits in a span: ascending milliseconds, and their sums. */
export interface WaitRun {
  waitsMs: Float64Array;
  eligibleMs: Float64Array;
  waitSumMs: number;
  eligibleSumMs: number;
}

type SpanRuns = Map<string, WaitRun>;
type SpanKind = 'day' | 'month';

interface Span {
  kind: SpanKind;
  startTs: number;
  endTs: number;
}

const weekday = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Copenhagen', weekday: 'short', hour: '2-digit', hourCycle: 'h23' });
const dayIndex: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };

/** "d-hh" with d = 1 (Monday) … 7 (Sunday) and the local hour in Copenhagen. */
function hourOfWeek(ts: number): string {
  const parts = weekday.formatToParts(ts);
  const d = dayIndex[parts.find((p) => p.type === 'weekday')!.value]!;
  const h = parts.find((p) => p.type === 'hour')!.value;
  return `${d}-${h}`;
}

// Per UTC hour, its label when both ends of the hour have the same one, else null. Since
// 1894 Copenhagen's offsets are whole hours and change on whole hours, so such an hour has
// one label throughout; formatting two million timestamps one by one would take seconds.
const hourLabels = new Map<number, string | null>();

function hourOfWeekOf(ts: number): string {
  const hour = Math.floor(ts / HOUR_MS);
  let label = hourLabels.get(hour);
  if (label === undefined) {
    const first = hourOfWeek(hour * HOUR_MS);
    label = hourOfWeek(hour * HOUR_MS + HOUR_MS - 1) === first ? first : null;
    hourLabels.set(hour, label);
  }
  return label ?? hourOfWeek(ts);
}

/** The key a job's wait is grouped under. */
function waitKeyOf(job: WaitJob, groupBy: WaitGroup): string {
  if (groupBy === 'partition') return job.partition ?? '(none)';
  if (groupBy === 'project') return job.account;
  if (groupBy === 'gpus') return String(job.gpus);
  return hourOfWeekOf(job.submitTs);
}

const ascending = (values: number[]) => Float64Array.from(values).sort();
const sum = (values: Float64Array) => values.reduce((s, v) => s + v, 0);

/** Runs of `jobs` by key: waits and eligible-waits (never negative) in ms, as the wait statistics define them. */
function runsOfJobs(jobs: WaitJob[], groupBy: WaitGroup): SpanRuns {
  const byKey = new Map<string, { waits: number[]; eligible: number[] }>();
  for (const job of jobs) {
    const key = waitKeyOf(job, groupBy);
    let g = byKey.get(key);
    if (!g) byKey.set(key, (g = { waits: [], eligible: [] }));
    g.waits.push(job.startTs - job.submitTs);
    if (job.eligibleTs !== null) g.eligible.push(Math.max(0, job.startTs - job.eligibleTs));
  }
  const runs: SpanRuns = new Map();
  for (const [key, g] of byKey) {
    const waitsMs = ascending(g.waits);
    const eligibleMs = ascending(g.eligible);
    runs.set(key, { waitsMs, eligibleMs, waitSumMs: sum(waitsMs), eligibleSumMs: sum(eligibleMs) });
  }
  return runs;
}

/** The runs of several spans, gathered per key. */
function runsByKey(parts: SpanRuns[]): Map<string, WaitRun[]> {
  const byKey = new Map<string, WaitRun[]>();
  for (const part of parts) {
    for (const [key, run] of part) {
      const list = byKey.get(key);
      if (list) list.push(run);
      else byKey.set(key, [run]);
    }
  }
  return byKey;
}

/** The runs of several spans merged per key. */
function mergeRuns(parts: SpanRuns[]): SpanRuns {
  const concat = (arrays: Float64Array[]) => {
    const out = new Float64Array(arrays.reduce((n, a) => n + a.length, 0));
    let at = 0;
    for (const a of arrays) {
      out.set(a, at);
      at += a.length;
    }
    return out.sort();
  };
  const merged: SpanRuns = new Map();
  for (const [key, list] of runsByKey(parts)) {
    merged.set(key, {
      waitsMs: concat(list.map((r) => r.waitsMs)),
      eligibleMs: concat(list.map((r) => r.eligibleMs)),
      waitSumMs: list.reduce((s, r) => s + r.waitSumMs, 0),
      eligibleSumMs: list.reduce((s, r) => s + r.eligibleSumMs, 0),
    });
  }
  return merged;
}

const bytesOf = (a: Float64Array | Uint32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** A typed view of a stored blob (copied when SQLite's buffer is not aligned for it). */
function viewOf<T extends Float64Array | Uint32Array>(buf: Buffer, Type: { new (b: ArrayBuffer, o: number, n: number): T; BYTES_PER_ELEMENT: number }): T {
  const n = buf.byteLength / Type.BYTES_PER_ELEMENT;
  if (buf.byteOffset % Type.BYTES_PER_ELEMENT === 0) return new Type(buf.buffer as ArrayBuffer, buf.byteOffset, n);
  return new Type(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer, 0, n);
}

/** A span's runs as a wait_runs row. */
function encodeRuns(grouping: WaitGroup, span: Span, stamp: number, runs: SpanRuns): WaitRunsRow {
  const keys = [...runs.keys()];
  const list = [...runs.values()];
  const flat = (pick: (r: WaitRun) => Float64Array) => {
    const out = new Float64Array(list.reduce((n, r) => n + pick(r).length, 0));
    let at = 0;
    for (const r of list) {
      out.set(pick(r), at);
      at += pick(r).length;
    }
    return bytesOf(out);
  };
  return {
    grouping,
    span: span.kind,
    startTs: span.startTs,
    stamp,
    keys: JSON.stringify(keys),
    waitCounts: bytesOf(Uint32Array.from(list, (r) => r.waitsMs.length)),
    waits: flat((r) => r.waitsMs),
    eligibleCounts: bytesOf(Uint32Array.from(list, (r) => r.eligibleMs.length)),
    eligible: flat((r) => r.eligibleMs),
  };
}

/** The runs of a stored wait_runs row (views into its blobs). */
function decodeRuns(row: WaitRunsRow): SpanRuns {
  const keys = JSON.parse(row.keys) as string[];
  const waitCounts = viewOf(row.waitCounts, Uint32Array);
  const eligibleCounts = viewOf(row.eligibleCounts, Uint32Array);
  const waits = viewOf(row.waits, Float64Array);
  const eligible = viewOf(row.eligible, Float64Array);
  const runs: SpanRuns = new Map();
  let w = 0;
  let e = 0;
  keys.forEach((key, i) => {
    const waitsMs = waits.subarray(w, (w += waitCounts[i]!));
    const eligibleMs = eligible.subarray(e, (e += eligibleCounts[i]!));
    runs.set(key, { waitsMs, eligibleMs, waitSumMs: sum(waitsMs), eligibleSumMs: sum(eligibleMs) });
  });
  return runs;
}

/**
 * What one database connection keeps in memory, per grouping where it says: three years of
 * month runs, a hundred days of day runs, the merged runs of sixteen spans of loose days
 * (the days before a window's first whole month and after its last: a window ending now
 * asks for the same ones all day; the dashboard's five windows and the hour have ten or
 * more, and with six kept, those asked first were gone before they were asked again), and
 * the started jobs, by start time, of eight days at windows' partial ends. A year and a
 * month of the national bench (two million jobs a year) in all four groupings hold about
 * 130 MB (sixteen ranges rather than six: 5 MB more resident after the warm-up).
 */
class RollupMemory {
  readonly months = new Kept<SpanRuns>(4 * 36);
  readonly days = new Kept<SpanRuns>(4 * 100);
  readonly ranges = new Kept<SpanRuns>(4 * 16);
  /** Ranges asked for once (merged when asked again). */
  readonly rangesAsked = new Kept<boolean>(4 * 16);
  readonly dayJobs = new Kept<WaitJob[]>(8);
}

const memories = new WeakMap<Database, RollupMemory>();

function memoryOf(sqlite: Database): RollupMemory {
  let memory = memories.get(sqlite);
  if (!memory) memories.set(sqlite, (memory = new RollupMemory()));
  return memory;
}

/** Whole UTC months in [fromDayTs, toDayTs) as month spans, the days around them as day spans. */
function spansBetween(fromDayTs: number, toDayTs: number): Span[] {
  const spans: Span[] = [];
  for (let ts = fromDayTs; ts < toDayTs; ) {
    const monthEnd = nextMonth(ts);
    if (new Date(ts).getUTCDate() === 1 && monthEnd <= toDayTs) {
      spans.push({ kind: 'month', startTs: ts, endTs: monthEnd });
      ts = monthEnd;
    } else {
      spans.push({ kind: 'day', startTs: ts, endTs: ts + DAY_MS });
      ts += DAY_MS;
    }
  }
  return spans;
}

/** One read (or rebuild) of the rollup: the day change counts it saw, and the spans to store back. */
class RollupRead {
  private readonly writes: WaitRunsRow[] = [];
  private readonly memory: RollupMemory;

  constructor(
    private readonly sqlite: Database,
    private readonly changes: Map<number, number>,
    private readonly nowTs: number,
  ) {
    this.memory = memoryOf(sqlite);
  }

  /** The stamp of [startTs, endTs): the sum of its days' change counts (0: no job ever started in it). */
  stampOf(startTs: number, endTs: number): number {
    let stamp = 0;
    for (let day = startTs; day < endTs; day += DAY_MS) stamp += this.changes.get(day) ?? 0;
    return stamp;
  }

  /** The runs of a day or month: from memory, from the table, or rebuilt. */
  runs(grouping: WaitGroup, span: Span): SpanRuns {
    const stamp = this.stampOf(span.startTs, span.endTs);
    if (stamp === 0) return new Map();
    const store = span.kind === 'month' ? this.memory.months : this.memory.days;
    const id = `${grouping}|${span.startTs}`;
    const kept = store.get(id, stamp);
    if (kept) return kept;
    const row = readWaitRuns(this.sqlite, grouping, span.kind, span.startTs);
    if (row?.stamp === stamp) return store.set(id, stamp, decodeRuns(row));
    if (span.kind === 'day') {
      // One read of the day's jobs serves every grouping.
      const jobs = startedJobs(this.sqlite, span.startTs, span.endTs, null);
      for (const g of WAIT_GROUPS) if (g !== grouping) this.keep(g, span, stamp, runsOfJobs(jobs, g));
      return this.keep(grouping, span, stamp, runsOfJobs(jobs, grouping));
    }
    return this.keep(grouping, span, stamp, mergeRuns(daysOf(span.startTs, span.endTs).map((day) => this.runs(grouping, day))));
  }

  /** Puts a day's or month's stored runs in memory, when they are stored and current; whether it did. */
  loadStored(grouping: WaitGroup, span: Span): boolean {
    const stamp = this.stampOf(span.startTs, span.endTs);
    const store = span.kind === 'month' ? this.memory.months : this.memory.days;
    const id = `${grouping}|${span.startTs}`;
    if (store.get(id, stamp)) return true;
    const row = readWaitRuns(this.sqlite, grouping, span.kind, span.startTs);
    if (row?.stamp !== stamp) return false;
    store.set(id, stamp, decodeRuns(row));
    return true;
  }

  /** Queues a day's or month's runs to be stored by `flush` (from memory, or rebuilt). */
  store(grouping: WaitGroup, span: Span): void {
    const stamp = this.stampOf(span.startTs, span.endTs);
    const kept = (span.kind === 'month' ? this.memory.months : this.memory.days).get(`${grouping}|${span.startTs}`, stamp);
    if (kept) this.writes.push(encodeRuns(grouping, span, stamp, kept));
    else this.runs(grouping, span);
  }

  /**
   * The runs of consecutive days: the first time a range is asked for, each day's own runs
   * (percentiles need no merging: db/rules/sorted-runs.ts); from the second time on, the
   * days merged and kept, for the windows that ask for the same days again (a window
   * ending now asks for the same ones all day). Merging a month of days is most of a
   * first answer's time, and only pays when the range is read again.
   */
  range(grouping: WaitGroup, startTs: number, endTs: number): SpanRuns[] {
    if (endTs - startTs === DAY_MS) return [this.runs(grouping, { kind: 'day', startTs, endTs })];
    const stamp = this.stampOf(startTs, endTs);
    if (stamp === 0) return [];
    const id = `${grouping}|${startTs}|${endTs}`;
    const kept = this.memory.ranges.get(id, stamp);
    if (kept) return [kept];
    const days = daysOf(startTs, endTs).map((day) => this.runs(grouping, day));
    if (this.memory.rangesAsked.get(id, stamp) === undefined) {
      this.memory.rangesAsked.set(id, stamp, true);
      return days;
    }
    return [this.memory.ranges.set(id, stamp, mergeRuns(days))];
  }

  /** Runs of the jobs that started in [fromTs, toTs), within one UTC day, from that day's jobs by start time. */
  partialDay(grouping: WaitGroup, fromTs: number, toTs: number): SpanRuns {
    const day = bucketOf(fromTs, DAY_MS);
    const stamp = this.changes.get(day) ?? 0;
    if (stamp === 0 || fromTs >= toTs) return new Map();
    const jobs =
      this.memory.dayJobs.get(String(day), stamp) ??
      this.memory.dayJobs.set(String(day), stamp, startedJobs(this.sqlite, day, day + DAY_MS, null).sort((a, b) => a.startTs - b.startTs));
    return runsOfJobs(jobs.slice(firstStartingAt(jobs, fromTs), firstStartingAt(jobs, toTs)), grouping);
  }

  private keep(grouping: WaitGroup, span: Span, stamp: number, runs: SpanRuns): SpanRuns {
    (span.kind === 'month' ? this.memory.months : this.memory.days).set(`${grouping}|${span.startTs}`, stamp, runs);
    // A span still under way changes with every job that starts; only ended ones are stored.
    if (span.endTs <= this.nowTs) this.writes.push(encodeRuns(grouping, span, stamp, runs));
    return runs;
  }

  /** Stores the rebuilt spans in one transaction. */
  flush(): void {
    if (this.writes.length === 0) return;
    const rows = this.writes.splice(0);
    try {
      this.sqlite.transaction(() => rows.forEach((row) => writeWaitRuns(this.sqlite, row))).immediate();
    } catch (error) {
      // Storing is only a head start for later reads, which rebuild what is missing: a
      // read-only or busy database must not fail the read that has its answer already.
      const code = (error as { code?: unknown }).code;
      if (typeof code !== 'string' || !/^SQLITE_(BUSY|LOCKED|READONLY)/.test(code)) throw error;
    }
  }
}

/** The days of [startTs, endTs) as day spans. */
function daysOf(startTs: number, endTs: number): Span[] {
  const days: Span[] = [];
  for (let day = startTs; day < endTs; day += DAY_MS) days.push({ kind: 'day', startTs: day, endTs: day + DAY_MS });
  return days;
}

/** Index of the first of `jobs` (by start time) that started at or after `ts`. */
function firstStartingAt(jobs: WaitJob[], ts: number): number {
  let lo = 0;
  let hi = jobs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (jobs[mid]!.startTs < ts) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Per key, the runs that together hold exactly the waits of the jobs that started in
 * [fromTs, toTs): stored months, the loose days around them merged, and the partial days
 * at the ends from their job records.
 */
export function waitRunsIn(sqlite: Database, fromTs: number, toTs: number, groupBy: WaitGroup, nowTs: number): Map<string, WaitRun[]> {
  const firstDay = Math.ceil(fromTs / DAY_MS) * DAY_MS;
  const endDay = bucketOf(toTs, DAY_MS);
  const read = new RollupRead(sqlite, bucketStamps(sqlite, 'waits', bucketOf(fromTs, DAY_MS), toTs), nowTs);
  const parts: SpanRuns[] = [];
  if (firstDay > endDay) {
    parts.push(read.partialDay(groupBy, fromTs, toTs));
  } else {
    parts.push(read.partialDay(groupBy, fromTs, firstDay), read.partialDay(groupBy, endDay, toTs));
    let looseFrom = firstDay;
    for (const span of spansBetween(firstDay, endDay)) {
      if (span.kind === 'day') continue;
      if (looseFrom < span.startTs) parts.push(...read.range(groupBy, looseFrom, span.startTs));
      parts.push(read.runs(groupBy, span));
      looseFrom = span.endTs;
    }
    if (looseFrom < endDay) parts.push(...read.range(groupBy, looseFrom, endDay));
  }
  return runsByKey(parts);
}

/**
 * Rebuilds the stored rollup from job records: every ended day and month up to `nowTs`.
 * For a database filled without it (a bulk load, a repair); reads would otherwise rebuild
 * and store each span on first use.
 */
export function rebuildWaitRollup(sqlite: Database, nowTs: number): void {
  clearWaitRuns(sqlite);
  const days = [...bucketStamps(sqlite, 'waits')].sort((a, b) => a[0] - b[0]);
  if (days.length === 0) return;
  const read = new RollupRead(sqlite, new Map(days), nowTs);
  const first = new Date(days[0]![0]);
  for (const span of spansBetween(Date.UTC(first.getUTCFullYear(), first.getUTCMonth(), 1), bucketOf(nowTs, DAY_MS))) {
    for (const g of WAIT_GROUPS) read.runs(g, span);
    read.flush();
  }
}

/**
 * Loads the stored runs of the last `months` ended months, and of the days of this month,
 * the month before and the month a year back (where a month's or a year's window starts:
 * its loose days), into this connection's memory, in every grouping, so that a year's
 * window reads them from memory on its first request after a start. Loads only what is
 * stored and current (never rebuilds); returns the spans loaded.
 */
export function warmWaitRollup(sqlite: Database, nowTs: number, months = 13): number {
  const today = bucketOf(nowTs, DAY_MS);
  const current = monthOf(today);
  const first = monthsBefore(today, months);
  const yearBack = monthsBefore(today, 12);
  const read = new RollupRead(sqlite, bucketStamps(sqlite, 'waits', first, today), nowTs);
  const spans: Span[] = [...daysOf(yearBack, nextMonth(yearBack)), ...daysOf(monthsBefore(today, 1), today)];
  for (let m = first; m < current; m = nextMonth(m)) spans.push({ kind: 'month', startTs: m, endTs: nextMonth(m) });
  let loaded = 0;
  for (const span of spans) {
    if (read.stampOf(span.startTs, span.endTs) === 0) continue;
    for (const g of WAIT_GROUPS) if (read.loadStored(g, span)) loaded++;
  }
  return loaded;
}

/** Whether jobs have started but no wait runs are stored (a database that predates the rollup). */
export function waitRollupMissing(sqlite: Database): boolean {
  const has = (sql: string) => sqlite.prepare(sql).get() !== undefined;
  return has("SELECT 1 FROM change_stamp WHERE family = 'waits' LIMIT 1") && !has('SELECT 1 FROM wait_runs LIMIT 1');
}

/**
 * Rollup upkeep for the compactor: stores every ended day and month (up to `nowTs`) whose
 * stored runs are missing or older than its change stamp, built from memory, the stored
 * days or the job records. At most `maxSpans` spans a call, so one call stays short.
 * Returns the spans stored.
 */
export function compactWaitRollup(sqlite: Database, nowTs: number, maxSpans = 400): number {
  const changes = bucketStamps(sqlite, 'waits');
  if (changes.size === 0) return 0;
  const stored = storedWaitStamps(sqlite);
  const read = new RollupRead(sqlite, changes, nowTs);
  const first = new Date(Math.min(...changes.keys()));
  let count = 0;
  for (const span of spansBetween(Date.UTC(first.getUTCFullYear(), first.getUTCMonth(), 1), bucketOf(nowTs, DAY_MS))) {
    // A month's days too: windows that start or end inside a month read its days.
    for (const s of span.kind === 'month' ? [...daysOf(span.startTs, span.endTs), span] : [span]) {
      const stamp = read.stampOf(s.startTs, s.endTs);
      if (stamp === 0) continue;
      for (const g of WAIT_GROUPS) {
        if (stored.get(`${g}|${s.kind}|${s.startTs}`) === stamp) continue;
        read.store(g, s);
        count++;
      }
    }
    if (count >= maxSpans) break;
  }
  read.flush();
  return count;
}
