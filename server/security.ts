/**
 * Request hardening that sits in front of the routes: security headers on every answer,
 * a limit on body size, an Origin check on state-changing requests that ride on the
 * session cookie (CSRF), and a limit on failed logins per username and client address.
 */
import type { IncomingMessage } from 'node:http';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { createMiddleware } from 'hono/factory';
import { bodyLimit } from 'hono/body-limit';
import { secureHeaders } from 'hono/secure-headers';
import { SESSION_COOKIE, type AppEnv } from './auth/middleware.ts';
import { DomainError } from './errors.ts';

/**
 * CSP and friends for the Svelte app served from web/dist: the built index.html loads one
 * module script and one stylesheet from /assets, so scripts need only 'self'. Styles keep
 * 'unsafe-inline' because Svelte's style directives and chart.js write style attributes.
 */
export function securityHeaders(): MiddlewareHandler {
  return secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", 'data:'],
      fontSrc: ["'self'"],
      connectSrc: ["'self'"],
      objectSrc: ["'none'"],
      baseUri: ["'self'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
    },
    xFrameOptions: 'DENY',
    referrerPolicy: 'same-origin',
    xContentTypeOptions: 'nosniff',
    crossOriginResourcePolicy: 'same-origin',
  });
}

/**
 * Refuses a request body larger than `maxSize` bytes. hono's bodyLimit first asks the
 * request for its body stream, which makes @hono/node-server build a whole web Request
 * around the Node one: a seventh of the server's time at full GPU ingest. A body whose
 * length is declared (Node's parser then reads exactly that many bytes) is judged by the
 * header here, and a GET or HEAD without one has none; a chunked body is read from the
 * Node request here (hono's bodyLimit without a socket: app.request() in tests), counted
 * as it arrives and handed on as the request's body.
 *
 * A refused body is read to its end and dropped before the refusal is sent: a client that
 * writes its whole body before reading (Python's urllib, anything with `Connection: close`)
 * would otherwise find the socket closed under it while still writing and see a broken
 * pipe instead of the 413, because Node closes such a connection once the answer is
 * written and closing with unread bytes makes the kernel send a reset. Nothing of it is
 * kept; past MAX_DISCARD_BYTES or DISCARD_TIMEOUT_MS the answer goes out at once.
 */
export function requestBodyLimit(maxSize: number, onError: () => never): MiddlewareHandler {
  const counting = bodyLimit({ maxSize, onError });
  return async (c, next) => {
    const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
    if (c.req.header('transfer-encoding') === undefined) {
      const length = c.req.header('content-length');
      if (length !== undefined && /^\d+$/.test(length)) {
        if (Number(length) <= maxSize) return next();
        if (!incoming || !(await discardRest(incoming, Number(length), 0))) c.header('Connection', 'close');
        return onError();
      }
      if (length === undefined && (c.req.method === 'GET' || c.req.method === 'HEAD')) return next();
    }
    if (!incoming) return counting(c, next);
    const body = await readBounded(incoming, maxSize);
    if (body === 'cut') c.header('Connection', 'close');
    if (body === 'cut' || body === 'over') return onError();
    c.req.raw = new Request(c.req.raw, { body });
    return next();
  };
}

/** Most bytes of a refused body read and dropped; a longer one is cut off (its sender may then see a reset). */
const MAX_DISCARD_BYTES = 64 * 1024 * 1024;
/** Longest wait for the rest of a refused body; a slower sender is cut off. */
const DISCARD_TIMEOUT_MS = 10_000;

/**
 * Reads `incoming` to its end dropping every chunk, unless more than MAX_DISCARD_BYTES
 * (counting `readBytes` already read) would be: true when it ended, false when cut off.
 */
function discardRest(incoming: IncomingMessage, declaredBytes: number | null, readBytes: number): Promise<boolean> {
  if (incoming.readableEnded) return Promise.resolve(true);
  if (incoming.destroyed || (declaredBytes ?? 0) > MAX_DISCARD_BYTES) return Promise.resolve(false);
  return new Promise((resolve) => {
    let bytes = readBytes;
    const done = (ended: boolean) => {
      clearTimeout(timer);
      incoming.off('data', onData).off('end', onEnd).off('error', onCut).off('close', onCut);
      resolve(ended);
    };
    const onData = (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > MAX_DISCARD_BYTES) {
        incoming.pause();
        done(false);
      }
    };
    const onEnd = () => done(true);
    const onCut = () => done(false);
    const timer = setTimeout(onCut, DISCARD_TIMEOUT_MS);
    incoming.on('data', onData).on('end', onEnd).on('error', onCut).on('close', onCut);
    incoming.resume();
  });
}

/**
 * A chunked body read whole when it holds at most `maxSize` bytes; 'over' when it held
 * more (the rest read and dropped), 'cut' when it could not be read to its end.
 */
function readBounded(incoming: IncomingMessage, maxSize: number): Promise<Uint8Array<ArrayBuffer> | 'over' | 'cut'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    const stop = () => incoming.off('data', onData).off('end', onEnd).off('error', onCut).off('close', onCut);
    const onData = (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes <= maxSize) {
        chunks.push(chunk);
        return;
      }
      stop();
      chunks.length = 0;
      void discardRest(incoming, null, bytes).then((ended) => resolve(ended ? 'over' : 'cut'));
    };
    const onEnd = () => {
      stop();
      resolve(Buffer.concat(chunks, bytes));
    };
    const onCut = () => {
      stop();
      resolve('cut');
    };
    incoming.on('data', onData).on('end', onEnd).on('error', onCut).on('close', onCut);
  });
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Refuses (403) a state-changing request authenticated by the session cookie unless its
 * Origin (or, without one, its Referer) names this host. SameSite=Strict already keeps the
 * cookie off cross-site requests in current browsers; this covers older ones and
 * same-site-but-cross-origin pages. Bearer-token requests carry no ambient credential and
 * are exempt, as are requests without the cookie (login itself).
 */
export function originCheck(): MiddlewareHandler<AppEnv> {
  return createMiddleware<AppEnv>(async (c, next) => {
    if (!SAFE_METHODS.has(c.req.method) && !c.req.header('authorization') && getCookie(c, SESSION_COOKIE)) {
      const host = c.req.header('host') ?? new URL(c.req.url).host;
      const claimed = c.req.header('origin') ?? c.req.header('referer');
      const claimedHost = hostOf(claimed);
      if (claimedHost === null) throw new DomainError('FORBIDDEN', 'a request made with the session cookie must carry an Origin header');
      if (claimedHost !== host) throw new DomainError('FORBIDDEN', `cross-origin request from ${claimed} refused`);
    }
    await next();
  });
}

/** The host of a URL-valued header, or null when absent, opaque ('null') or malformed. */
function hostOf(value: string | undefined): string | null {
  if (!value || value === 'null') return null;
  try {
    return new URL(value).host;
  } catch {
    return null;
  }
}

export interface LoginLimit {
  /** Failed logins allowed per username and address within the window. */
  maxFailures: number;
  /** Failed logins allowed per address within the window, whatever the usernames: one password tried on many names. */
  maxFailuresPerAddress: number;
  windowMs: number;
}

/**
 * Twenty failures per address in 15 minutes: room for a few people behind one NAT who
 * mistype, far too few to spray a password over a directory of names.
 */
export const defaultLoginLimit: LoginLimit = { maxFailures: 10, maxFailuresPerAddress: 20, windowMs: 15 * 60_000 };

/** Most keys remembered per kind; beyond it the oldest are forgotten. */
const MAX_KEYS = 100_000;

/**
 * The client's address: the socket's. Behind a trusted reverse proxy (HEATLEDGER_TRUST_PROXY)
 * the socket is the proxy, and the last X-Forwarded-For entry is the one that proxy appended;
 * entries before it are whatever the client sent. Without trust the header is never read, so
 * a client cannot pose as many addresses.
 */
export function clientAddress(c: Context, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = c.req.header('x-forwarded-for')?.split(',').at(-1)?.trim();
    if (forwarded) return forwarded;
  }
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    return 'unknown'; // app.request() in tests has no socket
  }
}

/** Times of failed logins per key, within the window. */
class FailureLog {
  private readonly times = new Map<string, number[]>();
  constructor(private readonly windowMs: number) {}

  /** Failures of `key` still inside the window at `t`, oldest first. */
  recent(key: string, t: number): number[] {
    const kept = this.times.get(key);
    if (!kept) return [];
    const recent = kept.filter((ts) => ts > t - this.windowMs);
    if (recent.length === 0) this.times.delete(key);
    else this.times.set(key, recent);
    return recent;
  }

  add(key: string, t: number): void {
    const recent = this.recent(key, t);
    recent.push(t);
    this.times.delete(key); // re-insert so Map order stays oldest-first for eviction
    this.times.set(key, recent);
    if (this.times.size > MAX_KEYS) this.times.delete(this.times.keys().next().value!);
  }

  clear(key: string): void {
    this.times.delete(key);
  }

  /** Whole seconds until the oldest of `recent` leaves the window (at least 1). */
  retryAfterS(recent: number[], t: number): number {
    return Math.max(1, Math.ceil((recent[0]! + this.windowMs - t) / 1000));
  }
}

/**
 * Limits failed logins: after `maxFailures` failures for one username from one address, or
 * `maxFailuresPerAddress` failures from one address over any usernames, within `windowMs`,
 * further attempts answer 429 with Retry-After (seconds until enough failures leave the
 * window) without checking the password. A success clears that username's count from that
 * address, not the address's: one account of its own must not let an address spray on.
 * Mount on POST /api/v1/auth/login only.
 */
export function loginRateLimit(
  now: () => number = Date.now,
  { trustProxy = false, limit = defaultLoginLimit }: { trustProxy?: boolean; limit?: LoginLimit } = {},
): MiddlewareHandler<AppEnv> {
  const byUser = new FailureLog(limit.windowMs);
  const byAddress = new FailureLog(limit.windowMs);
  return createMiddleware<AppEnv>(async (c, next) => {
    let username = '';
    try {
      const body: unknown = await c.req.json();
      if (body && typeof body === 'object' && typeof (body as { username?: unknown }).username === 'string') {
        username = (body as { username: string }).username;
      }
    } catch {
      // Not JSON: the route's validator answers 400.
    }
    const address = clientAddress(c, trustProxy);
    const userKey = `${username}\u0000${address}`;
    const t = now();
    const fromAddress = byAddress.recent(address, t);
    const forUser = byUser.recent(userKey, t);
    const waits: Array<{ retryAfterS: number; why: string }> = [];
    if (fromAddress.length >= limit.maxFailuresPerAddress) waits.push({ retryAfterS: byAddress.retryAfterS(fromAddress, t), why: 'from this address' });
    if (forUser.length >= limit.maxFailures) waits.push({ retryAfterS: byUser.retryAfterS(forUser, t), why: 'for this user' });
    if (waits.length > 0) {
      const { retryAfterS, why } = waits.reduce((a, b) => (b.retryAfterS > a.retryAfterS ? b : a));
      return c.json(
        { error: { code: 'RATE_LIMITED', message: `too many failed logins ${why}; try again in ${retryAfterS} s` } },
        429,
        { 'Retry-After': String(retryAfterS) },
      );
    }
    let failed = false;
    let succeeded = false;
    try {
      await next();
      failed = c.res.status === 401;
      succeeded = c.res.status === 200;
    } catch (error) {
      failed = error instanceof DomainError && error.code === 'UNAUTHORIZED';
      throw error;
    } finally {
      if (failed) {
        byUser.add(userKey, t);
        byAddress.add(address, t);
      } else if (succeeded) {
        byUser.clear(userKey);
      }
    }
  });
}
