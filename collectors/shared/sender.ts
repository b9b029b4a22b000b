/**
 * Delivers ingest batches to the server exactly once: each batch carries an idempotency
 * key (sha256 of its body); a batch the server cannot take now (unreachable, 5xx, 429)
 * is spooled to disk and replayed oldest first; a batch the server refuses (4xx) is
 * not retried, because sending it again cannot succeed. With `retry`, a transient failure
 * is first tried again in place with growing pauses: a server that answers 503 for a
 * moment (a long write elsewhere holds the database) gets the batch a second later
 * instead of the batch waiting in the spool, or failing where there is no spool.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ingestPaths, type IngestKind, type IngestResult } from './wire.ts';

export interface SenderOptions {
  server: string;
  token: string;
  /** Where undeliverable batches wait; without it a failed batch throws. */
  spoolDir?: string;
  /** Oldest spooled batches are dropped (and counted) beyond this many bytes. */
  maxSpoolBytes?: number;
  timeoutMs?: number;
  fetchImpl?: typeof fetch;
  /** Tries again in place after a transient failure (unreachable, 5xx, 429); off by default. */
  retry?: RetryOptions;
}

export interface RetryOptions {
  /** Tries in all, the first included; `Infinity` tries until `signal` aborts. */
  attempts: number;
  /** Pause before the second try; each further pause doubles, up to `maxDelayMs`. */
  firstDelayMs?: number;
  maxDelayMs?: number;
  /** Ends the tries (the send rejects with the last failure); a demo that stops, a collector told to stop. */
  signal?: AbortSignal;
  /** Told about each failed try that is tried again. */
  onRetry?: (reason: string, delayMs: number, attempt: number) => void;
}

/**
 * For a run that sends once and exits (cron, a Slurm epilog): a busy server (503 while
 * another process writes) or one away for a moment is tried a few times, about 3.5 s in
 * all, before the run counts the batch as not delivered.
 */
export const sendOnceRetry: RetryOptions = { attempts: 4, firstDelayMs: 500, maxDelayMs: 4_000 };

/** Pause before try `attempt + 1` (attempt ≥ 1): doubling from `firstMs`, capped; a server's Retry-After wins when longer, within the cap. */
export function retryDelayMs(attempt: number, firstMs: number, maxMs: number, retryAfterMs: number | null = null): number {
  const doubled = Math.min(maxMs, firstMs * 2 ** Math.min(attempt - 1, 30));
  return retryAfterMs === null ? doubled : Math.min(maxMs, Math.max(doubled, retryAfterMs));
}

export type SendOutcome =
  | { status: 'sent'; result: IngestResult }
  | { status: 'spooled'; reason: string }
  | { status: 'refused'; httpStatus: number; message: string };

/** A batch the server answered with 4xx: sending it again cannot help. */
export class BatchRefusedError extends Error {
  constructor(readonly httpStatus: number, message: string) {
    super(message);
  }
}

/** Transient failure: the server could not be reached or answered 5xx/429. */
class TransientError extends Error {
  constructor(
    message: string,
    /** The server's Retry-After, when it gave one. */
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
  }
}

export interface Sender {
  send(kind: IngestKind, batch: unknown): Promise<SendOutcome>;
  /** Spools a batch without contacting the server (while a caller backs off). */
  enqueue(kind: IngestKind, batch: unknown): Promise<void>;
  /** Replays spooled batches oldest first; stops at the first transient failure. */
  flush(): Promise<{ replayed: number; remaining: number }>;
  spooledCount(): number;
  droppedCount(): number;
}

/** Creates a sender for one server and token. */
export function createSender(options: SenderOptions): Sender {
  const doFetch = options.fetchImpl ?? fetch;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const maxSpoolBytes = options.maxSpoolBytes ?? 512 * 1024 * 1024;
  let dropped = 0;
  let seq = 0;
  let lastStampMs = 0;
  if (options.spoolDir) {
    mkdirSync(options.spoolDir, { recursive: true });
    // Continue after the newest batch a previous run left, so a clock stepped backwards
    // cannot sort new batches before old ones.
    const newest = spoolFiles().at(-1);
    lastStampMs = newest ? Number(newest.split('-')[0]) || 0 : 0;
  }
  // send and flush share the spool; one at a time keeps replay order and avoids posting
  // a batch twice when a flush on shutdown meets a send in flight.
  let queue: Promise<unknown> = Promise.resolve();
  function serial<T>(task: () => Promise<T>): Promise<T> {
    const run = queue.then(task, task);
    queue = run.catch(() => undefined);
    return run;
  }

  /** `waiting`: the batches in the spool, this one included (a replay knows it without reading the folder again). */
  async function post(kind: IngestKind, body: string, key: string, waiting: number): Promise<IngestResult> {
    let response: Response;
    try {
      response = await doFetch(new URL(ingestPaths[kind], options.server), {
        method: 'POST',
        headers: {
          authorization: `Bearer ${options.token}`,
          'content-type': 'application/json',
          'idempotency-key': key,
          // How many batches wait in this collector's spool (the server exports it in /metrics).
          ...(options.spoolDir ? { 'x-heatledger-spool-batches': String(waiting) } : {}),
        },
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      throw new TransientError(`cannot reach ${options.server}: ${(error as Error).message}`);
    }
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw new TransientError(`connection to ${options.server} broke: ${(error as Error).message}`);
    }
    if (response.status === 202 || response.status === 200) {
      try {
        return JSON.parse(text) as IngestResult;
      } catch {
        // Unsure whether it was stored: sending again is safe, the idempotency key dedups.
        throw new TransientError(`server answered ${response.status} with a body that is not JSON`);
      }
    }
    const message = describeError(text) ?? `HTTP ${response.status}`;
    if (response.status >= 500 || response.status === 429 || response.status === 408) {
      throw new TransientError(`server answered ${response.status}: ${message}`, retryAfter(response.headers.get('retry-after')));
    }
    throw new BatchRefusedError(response.status, message);
  }

  /** `post`, tried again after transient failures as `options.retry` says. */
  async function postRetrying(kind: IngestKind, body: string, key: string, waiting: number): Promise<IngestResult> {
    const retry = options.retry;
    for (let attempt = 1; ; attempt++) {
      try {
        return await post(kind, body, key, waiting);
      } catch (error) {
        if (!(error instanceof TransientError) || !retry || attempt >= retry.attempts || retry.signal?.aborted) throw error;
        const delayMs = retryDelayMs(attempt, retry.firstDelayMs ?? 500, retry.maxDelayMs ?? 10_000, error.retryAfterMs);
        retry.onRetry?.(error.message, delayMs, attempt);
        try {
          await sleep(delayMs, undefined, { signal: retry.signal });
        } catch {
          throw error; // aborted while waiting: the last failure stands
        }
      }
    }
  }

  function spoolFiles(): string[] {
    if (!options.spoolDir) return [];
    return readdirSync(options.spoolDir).filter((f) => f.endsWith('.json')).sort();
  }

  function spool(kind: IngestKind, body: string, key: string): void {
    const dir = options.spoolDir!;
    // Names sort by time, then by sequence within one millisecond, so replay keeps order.
    lastStampMs = Math.max(Date.now(), lastStampMs);
    const name = `${lastStampMs.toString().padStart(15, '0')}-${(seq++).toString().padStart(6, '0')}-${kind}-${key.slice(0, 16)}.json`;
    const tmp = join(dir, `.${name}.tmp`);
    writeFileSync(tmp, body);
    renameSync(tmp, join(dir, name));
    enforceLimit(dir);
  }

  function enforceLimit(dir: string): void {
    const files = spoolFiles();
    let total = files.reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
    for (const f of files) {
      if (total <= maxSpoolBytes) break;
      total -= statSync(join(dir, f)).size;
      unlinkSync(join(dir, f));
      dropped++;
    }
  }

  function keyOf(kind: IngestKind, body: string): string {
    return createHash('sha256').update(kind).update('\n').update(body).digest('hex');
  }

  async function flushNow(): Promise<{ replayed: number; remaining: number }> {
    const dir = options.spoolDir;
    if (!dir) return { replayed: 0, remaining: 0 };
    let replayed = 0;
    const files = spoolFiles();
    for (const [i, file] of files.entries()) {
      const kind = file.split('-')[2] as IngestKind;
      const path = join(dir, file);
      let body: string;
      try {
        body = readFileSync(path, 'utf8');
      } catch {
        continue; // dropped by the size bound meanwhile
      }
      try {
        await postRetrying(kind, body, keyOf(kind, body), files.length - i);
      } catch (error) {
        if (error instanceof BatchRefusedError) {
          // Keep the evidence next to the spool rather than retrying forever.
          renameSync(path, `${path}.refused`);
          continue;
        }
        return { replayed, remaining: spoolFiles().length };
      }
      unlinkSync(path);
      replayed++;
    }
    return { replayed, remaining: spoolFiles().length };
  }

  async function sendNow(kind: IngestKind, batch: unknown): Promise<SendOutcome> {
    const body = JSON.stringify(batch);
    const key = keyOf(kind, body);
    // Older spooled batches go first, so the server sees samples in order.
    if (spoolFiles().length > 0) {
      const { remaining } = await flushNow();
      if (remaining > 0) {
        spool(kind, body, key);
        return { status: 'spooled', reason: 'older batches are still waiting' };
      }
    }
    try {
      // The spool is empty here (it was, or the replay above emptied it).
      return { status: 'sent', result: await postRetrying(kind, body, key, 0) };
    } catch (error) {
      if (error instanceof BatchRefusedError) {
        return { status: 'refused', httpStatus: error.httpStatus, message: error.message };
      }
      if (!options.spoolDir) throw error;
      spool(kind, body, key);
      return { status: 'spooled', reason: (error as Error).message };
    }
  }

  return {
    send: (kind, batch) => serial(() => sendNow(kind, batch)),

    enqueue: (kind, batch) =>
      serial(async () => {
        if (!options.spoolDir) throw new Error('enqueue needs a spool directory');
        const body = JSON.stringify(batch);
        spool(kind, body, keyOf(kind, body));
      }),

    flush: () => serial(flushNow),

    spooledCount: () => spoolFiles().length,
    droppedCount: () => dropped,
  };
}

/** Retry-After in seconds or as an HTTP date, in ms from now; null when absent or unreadable. */
function retryAfter(header: string | null): number | null {
  if (!header) return null;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : null;
}

function describeError(text: string): string | null {
  try {
    const parsed = JSON.parse(text) as { error?: { message?: string } };
    return parsed.error?.message ?? null;
  } catch {
    return text ? text.slice(0, 200) : null;
  }
}
