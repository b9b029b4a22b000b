import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSender } from './sender.ts';

interface Received {
  status: number;
  key: string | undefined;
  auth: string | undefined;
  path: string | undefined;
  seq: number;
}

/** A stand-in ingest server on a real port: answers `mode`, records every request. */
class FakeIngest {
  mode: 'accept' | '503' | '400' = 'accept';
  received: Received[] = [];
  /** The spool backlog each post reported (X-HeatLedger-Spool-Batches). */
  spoolHeaders: Array<string | undefined> = [];
  private server: Server | null = null;
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        const status = this.mode === 'accept' ? 202 : this.mode === '503' ? 503 : 400;
        this.spoolHeaders.push(req.headers['x-heatledger-spool-batches'] as string | undefined);
        this.received.push({
          status,
          key: req.headers['idempotency-key'] as string | undefined,
          auth: req.headers.authorization,
          path: req.url,
          seq: (JSON.parse(body) as { seq: number }).seq,
        });
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(status === 202 ? JSON.stringify({ accepted: 1, duplicates: 0 }) : JSON.stringify({ error: { code: 'X', message: `mode ${this.mode}` } }));
      });
    });
    // The same port as before, when restarting, so the sender's URL stays valid.
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  accepted(): number[] {
    return this.received.filter((r) => r.status === 202).map((r) => r.seq);
  }
}

function keyOf(batch: unknown): string {
  return createHash('sha256').update('gpu').update('\n').update(JSON.stringify(batch)).digest('hex');
}

const batch = (seq: number) => ({ schema: 1, cluster: 'c', node: 'n', seq, samples: [] });

let server: FakeIngest;
let spoolDir: string;

beforeEach(async () => {
  server = new FakeIngest();
  await server.start();
  spoolDir = mkdtempSync(join(tmpdir(), 'heatledger-spool-'));
});

afterEach(async () => {
  await server.stop();
  rmSync(spoolDir, { recursive: true, force: true });
});

describe('sender', () => {
  it('sends with the token and an idempotency key derived from the body', async () => {
    const sender = createSender({ server: server.url, token: 'tok', spoolDir });
    const outcome = await sender.send('gpu', batch(1));
    expect(outcome).toEqual({ status: 'sent', result: { accepted: 1, duplicates: 0 } });
    expect(server.received).toEqual([{ status: 202, key: keyOf(batch(1)), auth: 'Bearer tok', path: '/api/v1/ingest/gpu', seq: 1 }]);
  });

  it('spools while the server is down or answers 503, then replays oldest first with the same keys', async () => {
    const sender = createSender({ server: server.url, token: 'tok', spoolDir, timeoutMs: 2_000 });
    await server.stop();
    expect((await sender.send('gpu', batch(1))).status).toBe('spooled');
    expect((await sender.send('gpu', batch(2))).status).toBe('spooled');

    await server.start();
    server.mode = '503';
    expect((await sender.send('gpu', batch(3))).status).toBe('spooled');
    expect(sender.spooledCount()).toBe(3);
    // While 503, only the oldest is tried: replay stops at the first transient failure.
    expect(server.received.map((r) => [r.seq, r.status])).toEqual([[1, 503]]);

    server.mode = 'accept';
    const outcome = await sender.send('gpu', batch(4));
    expect(outcome.status).toBe('sent');
    expect(server.accepted()).toEqual([1, 2, 3, 4]);
    expect(sender.spooledCount()).toBe(0);
    // The refused attempt and the replay of batch 1 carry the same key, so the server can dedupe.
    const keysOfOne = server.received.filter((r) => r.seq === 1).map((r) => r.key);
    expect(keysOfOne).toEqual([keyOf(batch(1)), keyOf(batch(1))]);
    for (const r of server.received) expect(r.key).toBe(keyOf(batch(r.seq)));
  });

  it('reports its spool backlog with each post, falling as the replay drains it', async () => {
    const sender = createSender({ server: server.url, token: 'tok', spoolDir, timeoutMs: 2_000 });
    await server.stop();
    for (const seq of [1, 2, 3]) expect((await sender.send('gpu', batch(seq))).status).toBe('spooled');
    await server.start();
    expect((await sender.send('gpu', batch(4))).status).toBe('sent');
    expect(server.accepted()).toEqual([1, 2, 3, 4]);
    const reported = server.spoolHeaders.map(Number);
    // While replaying batch 1, three batches were in the spool; none once all were sent.
    expect(reported[0]).toBeGreaterThanOrEqual(3);
    expect(reported.at(-1)).toBe(0);
    expect(reported.every((n, i) => i === 0 || n <= reported[i - 1]!)).toBe(true);
    // Without a spool there is nothing to report.
    const direct = createSender({ server: server.url, token: 'tok' });
    server.spoolHeaders = [];
    await direct.send('gpu', batch(5));
    expect(server.spoolHeaders).toEqual([undefined]);
  });

  it('keeps the spool across a restart of the collector and replays it from a new sender', async () => {
    await server.stop();
    const first = createSender({ server: server.url, token: 'tok', spoolDir, timeoutMs: 2_000 });
    await first.send('gpu', batch(1));
    await first.enqueue('gpu', batch(2));
    await server.start();
    const second = createSender({ server: server.url, token: 'tok', spoolDir });
    expect(await second.flush()).toEqual({ replayed: 2, remaining: 0 });
    expect(server.accepted()).toEqual([1, 2]);
  });

  it('bounds the spool by dropping the oldest batches', async () => {
    const size = Buffer.byteLength(JSON.stringify(batch(1)));
    // Room for two batches of this size, not three.
    const sender = createSender({ server: server.url, token: 'tok', spoolDir, maxSpoolBytes: size * 2 + size / 2, timeoutMs: 2_000 });
    await server.stop();
    for (const seq of [1, 2, 3, 4, 5]) await sender.send('gpu', batch(seq));
    expect(sender.spooledCount()).toBe(2);
    expect(sender.droppedCount()).toBe(3);
    await server.start();
    expect(await sender.flush()).toEqual({ replayed: 2, remaining: 0 });
    expect(server.accepted()).toEqual([4, 5]);
  });

  it('does not retry a batch the server refuses with 400', async () => {
    const sender = createSender({ server: server.url, token: 'tok', spoolDir });
    server.mode = '400';
    const outcome = await sender.send('gpu', batch(1));
    expect(outcome).toEqual({ status: 'refused', httpStatus: 400, message: 'mode 400' });
    expect(sender.spooledCount()).toBe(0);
    server.mode = 'accept';
    await sender.flush();
    await sender.send('gpu', batch(2));
    expect(server.received.map((r) => [r.seq, r.status])).toEqual([[1, 400], [2, 202]]);
  });

  it('sets aside a spooled batch refused on replay and goes on with the next', async () => {
    const sender = createSender({ server: server.url, token: 'tok', spoolDir });
    await sender.enqueue('gpu', batch(1));
    await sender.enqueue('gpu', batch(2));
    let calls = 0;
    server.mode = '400';
    // Refuse only the first replayed batch.
    const original = server.received.push.bind(server.received);
    server.received.push = (...items: Received[]) => {
      if (++calls === 1) server.mode = 'accept';
      return original(...items);
    };
    expect(await sender.flush()).toEqual({ replayed: 1, remaining: 0 });
    expect(server.received.map((r) => [r.seq, r.status])).toEqual([[1, 400], [2, 202]]);
    expect(readdirSync(spoolDir).filter((f) => f.endsWith('.refused'))).toHaveLength(1);
  });
  it('with retry, tries a 503 again with growing pauses until the server takes the batch, without a spool (issue 15.1)', async () => {
    const delays: number[] = [];
    const sender = createSender({ server: server.url, token: 'tok', retry: { attempts: Infinity, firstDelayMs: 20, maxDelayMs: 60, onRetry: (_r, ms) => delays.push(ms) } });
    server.mode = '503';
    // The server is busy for three answers, then takes the batch.
    const original = server.received.push.bind(server.received);
    server.received.push = (...items: Received[]) => {
      const n = original(...items);
      if (n === 3) server.mode = 'accept';
      return n;
    };
    expect(await sender.send('gpu', batch(1))).toEqual({ status: 'sent', result: { accepted: 1, duplicates: 0 } });
    expect(server.received.map((r) => [r.seq, r.status])).toEqual([[1, 503], [1, 503], [1, 503], [1, 202]]);
    for (const r of server.received) expect(r.key).toBe(keyOf(batch(1)));
    // 20 ms doubling, capped at 60 ms.
    expect(delays).toEqual([20, 40, 60]);
  });

  it('with retry, tries an unreachable server again, and a stop signal ends the tries with the last failure', async () => {
    const port = server.port;
    await server.stop();
    const stop = new AbortController();
    const tries: number[] = [];
    const sender = createSender({ server: `http://127.0.0.1:${port}`, token: 'tok', retry: { attempts: Infinity, firstDelayMs: 10, maxDelayMs: 10, signal: stop.signal, onRetry: (_r, _ms, attempt) => tries.push(attempt) } });
    const sending = sender.send('gpu', batch(1));
    // Back after a few tries: the batch goes through on the next one.
    while (tries.length < 3) await new Promise((r) => setTimeout(r, 5));
    await server.start();
    expect((await sending).status).toBe('sent');
    expect(server.accepted()).toEqual([1]);
    await server.stop();
    const stopped = sender.send('gpu', batch(2));
    setTimeout(() => stop.abort(), 50);
    await expect(stopped).rejects.toThrow(/cannot reach/);
  });

  it('with a bounded retry, spools the batch once the tries are used up', async () => {
    const sender = createSender({ server: server.url, token: 'tok', spoolDir, retry: { attempts: 2, firstDelayMs: 10 } });
    server.mode = '503';
    expect((await sender.send('gpu', batch(1))).status).toBe('spooled');
    expect(server.received.map((r) => r.status)).toEqual([503, 503]);
    expect(sender.spooledCount()).toBe(1);
  });
});
