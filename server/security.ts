/**
 * Request hardening that sits in front of the routes: security headers on every answer,
 * a limit on body size, an Origin check on state-changing requests that ride on the
 * session cookie (CSRF), and a limit on failed logins per username and client address.
 */
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
 * header here, and a GET or HEAD without one has none; chunked bodies go to hono's, which
 * counts them as they arrive.
 */
export function requestBodyLimit(maxSize: number, onError: () => never): MiddlewareHandler {
  const counting = bodyLimit({ maxSize, onError });
  return async (c, next) => {
    if (c.req.header('transfer-encoding') === undefined) {
      const length = c.req.header('content-length');
      if (length !== undefined && /^\d+$/.test(length)) return Number(length) > maxSize ? onError() : next();
      if (length === undefined && (c.req.method === 'GET' || c.req.method === 'HEAD')) return next();
    }
    return counting(c, next);
  };
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
  windowMs: number;
}

export const defaultLoginLimit: LoginLimit = { maxFailures: 10, windowMs: 15 * 60_000 };

/** Most (username, address) pairs remembered; beyond it the oldest are forgotten. */
const MAX_KEYS = 100_000;

/** The client's address; the socket's, never a header a client can forge. */
function clientAddress(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    return 'unknown'; // app.request() in tests has no socket
  }
}

/**
 * Limits failed logins: after `maxFailures` failures for one username from one address
 * within `windowMs`, further attempts answer 429 with Retry-After (seconds until the
 * oldest failure leaves the window) without checking the password. A success clears the
 * count. Mount on POST /api/v1/auth/login only.
 */
export function loginRateLimit(now: () => number = Date.now, limit: LoginLimit = defaultLoginLimit): MiddlewareHandler<AppEnv> {
  const failures = new Map<string, number[]>();
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
    const key = `${username}\u0000${clientAddress(c)}`;
    const t = now();
    const recent = (failures.get(key) ?? []).filter((ts) => ts > t - limit.windowMs);
    if (recent.length >= limit.maxFailures) {
      failures.set(key, recent);
      const retryAfterS = Math.max(1, Math.ceil((recent[0]! + limit.windowMs - t) / 1000));
      return c.json(
        { error: { code: 'RATE_LIMITED', message: `too many failed logins for this user; try again in ${retryAfterS} s` } },
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
        recent.push(t);
        failures.delete(key); // re-insert so Map order stays oldest-first for eviction
        failures.set(key, recent);
        if (failures.size > MAX_KEYS) failures.delete(failures.keys().next().value!);
      } else if (succeeded) {
        failures.delete(key);
      }
    }
  });
}
