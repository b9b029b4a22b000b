/**
 * Issue 15 §8: login must not tell who has an account, by its answer or by its time, and one
 * address must not try a password on many names. Through createApp in-process; the address
 * checks over a real socket, since the address is the socket's.
 */
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { H, T0, makeApp } from '../support/factories.ts';

const json = { 'content-type': 'application/json' };

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

describe('login timing', () => {
  // Each attempt from its own (trusted-proxy) address, so that the rate limit stays out of the measurement.
  const t = makeApp({ config: { trustProxy: true } });
  let address = 0;
  const login = (username: string, password: string) =>
    t.app.request('/api/v1/auth/login', {
      method: 'POST',
      body: JSON.stringify({ username, password }),
      headers: { ...json, 'x-forwarded-for': `198.51.100.${++address % 250}, 10.9.${address >> 8}.${address % 250}` },
    });

  beforeAll(() => {
    t.addPerson('rita', 'researcher', ['proj-a']);
  });

  it('takes as long for an unknown name as for a wrong password, and answers the same', async () => {
    const timed = async (username: string, password: string) => {
      const start = performance.now();
      const res = await login(username, password);
      const ms = performance.now() - start;
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ error: { code: 'UNAUTHORIZED', message: 'wrong username or password' } });
      return ms;
    };
    // One of each first: module loading and the JIT are not what is measured.
    await timed('nobody-here', 'whatever-1');
    await timed('rita', 'whatever-1');
    const unknownMs: number[] = [];
    const wrongMs: number[] = [];
    // Interleaved, so that load from other processes falls on both alike.
    for (let i = 0; i < 15; i++) {
      unknownMs.push(await timed(`nobody-${i}`, `guess-${i}-pw`));
      wrongMs.push(await timed('rita', `guess-${i}-pw`));
    }
    const ratio = median(unknownMs) / median(wrongMs);
    console.log(`login medians over 15 each: unknown name ${median(unknownMs).toFixed(1)} ms, wrong password ${median(wrongMs).toFixed(1)} ms, ratio ${ratio.toFixed(2)}`);
    expect(ratio).toBeGreaterThan(0.7);
    expect(ratio).toBeLessThan(1.4);
    expect(t.count('sessions')).toBe(0);
  });
});

interface Answer {
  status: number;
  retryAfter: string | undefined;
  body: { error?: { code: string; message: string }; username?: string };
}

describe('failed logins per address, over any names', () => {
  const t = makeApp();
  const start = T0 + 48 * H;
  let base = '';
  let http: ReturnType<typeof serve>;

  /** POST /login over a socket bound to `from` (127.0.0.x), optionally claiming another address. */
  const login = (from: string, username: string, password: string, forwardedFor?: string) =>
    new Promise<Answer>((resolve, reject) => {
      const body = JSON.stringify({ username, password });
      const headers: Record<string, string> = { ...json, 'content-length': String(Buffer.byteLength(body)) };
      if (forwardedFor) headers['x-forwarded-for'] = forwardedFor;
      const req = request(`${base}/api/v1/auth/login`, { method: 'POST', localAddress: from, headers }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'], body: JSON.parse(text) as Answer['body'] }));
      });
      req.on('error', reject);
      req.end(body);
    });

  beforeAll(async () => {
    t.addPerson('rita', 'researcher', ['proj-a']);
    http = serve({ fetch: t.app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise<void>((resolve) => http.once('listening', () => resolve()));
    base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => http.close(() => resolve())));

  it('answers 429 after 20 failures from one address over 30 sprayed names; others and, later, the right password get through', async () => {
    const answers: Answer[] = [];
    for (let i = 0; i < 30; i++) {
      t.setNow(start + i * 1000);
      // Each a different name, each claiming a different address: without a trusted proxy the claim is ignored.
      answers.push(await login('127.0.0.2', `user-${i}`, 'Winter2026!', `203.0.113.${i}`));
    }
    expect(answers.slice(0, 20).map((a) => a.status)).toEqual(Array(20).fill(401));
    expect(answers.slice(20).map((a) => a.status)).toEqual(Array(10).fill(429));
    // Attempt 21 is at start + 20 s; the first failure (at start) leaves the 15-minute window 880 s later.
    expect(answers[20]!.retryAfter).toBe('880');
    expect(answers[20]!.body.error!.code).toBe('RATE_LIMITED');
    expect(answers[20]!.body.error!.message).toBe('too many failed logins from this address; try again in 880 s');
    // The last, 9 s later: 871 s.
    expect(answers[29]!.retryAfter).toBe('871');

    // Even the right password waits: the limit is on the address, not on the name.
    t.setNow(start + 60_000);
    const refused = await login('127.0.0.2', 'rita', 'correct horse');
    expect(refused.status).toBe(429);
    expect(refused.retryAfter).toBe('840');
    expect(t.count('sessions')).toBe(0);

    // Another address is judged on its own: a wrong password is a plain 401, the right one works.
    const other = await login('127.0.0.3', 'user-0', 'Winter2026!');
    expect(other.status).toBe(401);
    expect(other.body.error!.code).toBe('UNAUTHORIZED');
    const otherRita = await login('127.0.0.3', 'rita', 'correct horse');
    expect(otherRita.status).toBe(200);
    expect(otherRita.body.username).toBe('rita');

    // Once the 20th failure (start + 19 s) has left the window, the sprayer's address may log in again.
    t.setNow(start + 19_000 + 15 * 60_000 + 1);
    const later = await login('127.0.0.2', 'rita', 'correct horse');
    expect(later.status).toBe(200);
    expect(later.body.username).toBe('rita');
    expect(t.count('sessions')).toBe(2);
  });
});

describe('behind a trusted proxy', () => {
  const t = makeApp({ config: { trustProxy: true } });
  const start = T0 + 96 * H;
  const login = (forwardedFor: string, username: string, password: string) =>
    t.app.request('/api/v1/auth/login', { method: 'POST', body: JSON.stringify({ username, password }), headers: { ...json, 'x-forwarded-for': forwardedFor } });

  beforeAll(() => {
    t.addPerson('rita', 'researcher', ['proj-a']);
  });

  it('counts by the address the proxy appended, not the entries a client put before it', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) {
      t.setNow(start + i * 1000);
      // The client forges a new first entry each time; the proxy appends what it saw.
      statuses.push((await login(`10.0.0.${i}, 192.0.2.50`, `user-${i}`, 'Spring2026!')).status);
    }
    expect(statuses).toEqual([...Array(20).fill(401), ...Array(5).fill(429)]);
    const other = await login('192.0.2.51', 'rita', 'correct horse');
    expect(other.status).toBe(200);
  });
});
