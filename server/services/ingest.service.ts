/**
 * The ingest service: one transaction per batch (all-or-nothing), idempotent re-sends
 * (by idempotency key for whole batches, by primary key for each sample or reading), and
 * rollups kept current in the same transaction.
 */
import type { Database } from 'better-sqlite3';
import { MAX_FUTURE_MS, MAX_PAST_MS, type IngestKind, type IngestResult } from '../../collectors/shared/wire.ts';
import type { Config } from '../config.ts';
import { DomainError } from '../errors.ts';
import { createStore, type Store } from '../../db/store.ts';
import { DAY_MS } from '../../db/rules/time.ts';
import type { FacilityBatchParsed, GpuBatchParsed, JobsBatchParsed } from './ingest-types.ts';

export type ParsedBatch =
  | { kind: 'gpu'; batch: GpuBatchParsed }
  | { kind: 'jobs'; batch: JobsBatchParsed }
  | { kind: 'facility'; batch: FacilityBatchParsed };

export interface IngestService {
  /**
   * Stores one batch in its own transaction. With an idempotency key, a batch whose key was
   * seen is a duplicate when it is the same kind and body (`bodyHash`: sha256 of the request
   * body, hex), and a CONFLICT when it is not: a key reused for another batch must not
   * silently drop it.
   */
  ingest(input: ParsedBatch, idempotencyKey?: string | null, bodyHash?: string | null): IngestResult;
  /**
   * Stores one batch together with the others submitted in the same turn of the event
   * loop: one transaction for all of them (a commit per request was a third of the
   * time at 120 samples a batch), each batch still all-or-nothing in its own savepoint.
   * Settles once the shared transaction has committed.
   */
  submit(input: ParsedBatch, idempotencyKey?: string | null, bodyHash?: string | null): Promise<IngestResult>;
}

/** Builds the ingest service over one database. */
export function createIngestService({
  sqlite,
  config,
  now = Date.now,
  store = createStore(sqlite, config),
  onCommit = () => {},
}: {
  sqlite: Database;
  config: Config;
  now?: () => number;
  store?: Store;
  /** Called after each commit (the server's compactor runs soon after). */
  onCommit?: () => void;
}): IngestService {
  const seenKey = sqlite.prepare('SELECT kind, body_hash AS bodyHash FROM ingest_batches WHERE key = ?');
  const recordKey = sqlite.prepare('INSERT INTO ingest_batches (key, kind, body_hash, accepted, received_ts) VALUES (?, ?, ?, ?, ?)');

  const run = sqlite.transaction((input: ParsedBatch, key: string | null, bodyHash: string | null, nowMs: number): IngestResult => {
    const seen = key ? (seenKey.get(key) as { kind: string; bodyHash: string | null } | undefined) : undefined;
    if (seen) {
      // A key stored before bodies were hashed (or without a body) matches any body of its kind.
      if (seen.kind !== input.kind || (seen.bodyHash !== null && bodyHash !== null && seen.bodyHash !== bodyHash)) {
        const what = seen.kind !== input.kind ? `a ${seen.kind} batch` : 'a different body';
        throw new DomainError('CONFLICT', `Idempotency-Key ${JSON.stringify(key!.slice(0, 200))} was already used for ${what}`, { idempotencyKey: key });
      }
      return { accepted: 0, duplicates: batchSize(input) };
    }
    const result: IngestResult = store.write(input.kind === 'gpu' ? { ...input, times: sampleTimes.get(input) } : input, nowMs);
    if (key) recordKey.run(key, input.kind, bodyHash, result.accepted, nowMs);
    return result;
  });

  // A rolled-back transaction or savepoint: the writers may hold ids or cursors it never committed.
  const resetCaches = () => store.rolledBack();
  const ingestOne = (input: ParsedBatch, idempotencyKey: string | null, bodyHash: string | null): IngestResult => {
    const nowMs = now();
    checkBatch(input, nowMs, config);
    let result: IngestResult;
    try {
      result = run.immediate(input, idempotencyKey, bodyHash, nowMs);
    } catch (error) {
      resetCaches();
      throw error;
    }
    // Inside a group's transaction nothing has committed yet: the group calls it once.
    if (!sqlite.inTransaction) onCommit();
    return result;
  };

  interface Queued {
    input: ParsedBatch;
    key: string | null;
    bodyHash: string | null;
    resolve: (r: IngestResult) => void;
    reject: (e: unknown) => void;
  }
  let queue: Queued[] = [];
  const group = sqlite.transaction((items: Queued[]) => {
    const done: Array<[Queued, IngestResult]> = [];
    for (const item of items) {
      try {
        done.push([item, ingestOne(item.input, item.key, item.bodyHash)]);
      } catch (error) {
        item.reject(error);
      }
    }
    return done;
  });
  const flush = () => {
    const items = queue;
    queue = [];
    let done: Array<[Queued, IngestResult]>;
    try {
      done = group.immediate(items);
    } catch (error) {
      // The shared commit failed: nothing of the group is stored.
      resetCaches();
      for (const item of items) item.reject(error);
      return;
    }
    onCommit();
    for (const [item, result] of done) item.resolve(result);
  };

  return {
    ingest: (input, idempotencyKey = null, bodyHash = null) => ingestOne(input, idempotencyKey, bodyHash),
    submit(input, idempotencyKey = null, bodyHash = null) {
      return new Promise<IngestResult>((resolve, reject) => {
        if (queue.length === 0) setImmediate(flush);
        queue.push({ input, key: idempotencyKey, bodyHash, resolve, reject });
      });
    },
  };
}

function batchSize(input: ParsedBatch): number {
  if (input.kind === 'gpu') return input.batch.samples.length;
  if (input.kind === 'jobs') return input.batch.jobs.length;
  return input.batch.readings.length;
}

/** The parsed time of each sample of a checked GPU batch, by batch. */
const sampleTimes = new WeakMap<ParsedBatch, number[]>();

/**
 * Refuses a batch holding what cannot be, naming the field: a time far in the future or
 * (for samples and readings) the past, a job time before the site's earliest date, a job
 * on more GPUs than the site allows. The wire schema has refused what no site could take.
 */
function checkBatch(input: ParsedBatch, nowMs: number, config: Config): void {
  const retentionMs = config.retentionDays * DAY_MS;
  /** The parsed time, refused when far in the future (or, with `pastToo`, the past). */
  const check = (iso: string | null, path: string, pastToo = true): number | null => {
    if (iso === null) return null;
    const ts = Date.parse(iso);
    if (ts > nowMs + MAX_FUTURE_MS) throw new DomainError('VALIDATION', `${path}: ${iso} is in the future`, { path });
    if (pastToo && ts < nowMs - MAX_PAST_MS) {
      throw new DomainError('VALIDATION', `${path}: ${iso} is older than the server accepts for samples`, { path });
    }
    return ts;
  };
  if (input.kind === 'gpu') {
    // A sample older than the raw retention window could not be integrated exactly: its
    // stored neighbours may already be purged. Each time is parsed once, here, for ingest too.
    const times = input.batch.samples.map((s, i) => {
      const ts = check(s.ts, `samples.${i}.ts`)!;
      if (ts < nowMs - retentionMs) {
        throw new DomainError('VALIDATION', `samples.${i}.ts: ${s.ts} is older than the ${retentionMs / DAY_MS}-day raw-sample retention window`, { path: `samples.${i}.ts` });
      }
      return ts;
    });
    sampleTimes.set(input, times);
  }
  else if (input.kind === 'facility') input.batch.readings.forEach((r, i) => check(r.ts, `readings.${i}.ts`));
  else {
    const earliest = new Date(config.earliestAcceptedTs).toISOString().slice(0, 10);
    /** A job time: old is ordinary (importing a past year of sacct), before the site's earliest date is not. */
    const checkJobTime = (iso: string | null, path: string, futureToo = true) => {
      const ts = futureToo ? check(iso, path, false) : iso === null ? null : Date.parse(iso);
      if (ts !== null && ts < config.earliestAcceptedTs) {
        throw new DomainError('VALIDATION', `${path}: ${iso} is before ${earliest}, the earliest date accepted (HEATLEDGER_EARLIEST_DATE)`, { path });
      }
    };
    input.batch.jobs.forEach((j, i) => {
      checkJobTime(j.submitTime, `jobs.${i}.submitTime`);
      // A job held with --begin becomes eligible in the future.
      checkJobTime(j.eligibleTime, `jobs.${i}.eligibleTime`, false);
      checkJobTime(j.startTime, `jobs.${i}.startTime`);
      checkJobTime(j.endTime, `jobs.${i}.endTime`);
      if (j.gpus > config.maxGpusPerJob) {
        throw new DomainError('VALIDATION', `jobs.${i}.gpus: ${j.gpus} is more than the ${config.maxGpusPerJob} GPUs a job may hold (HEATLEDGER_MAX_GPUS_PER_JOB)`, { path: `jobs.${i}.gpus` });
      }
      if (j.startTime && j.endTime && Date.parse(j.endTime) < Date.parse(j.startTime)) {
        throw new DomainError('VALIDATION', `jobs.${i}.endTime: ends before its startTime`, { path: `jobs.${i}.endTime` });
      }
    });
  }
}

export type { IngestKind };
