/** Login and logout with an HttpOnly session cookie (CONTRACTS §3). */
import { Hono } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { z } from 'zod';
import type { Context } from 'hono';
import type { Db } from '../../db/client.ts';
import { SESSION_COOKIE, type AppEnv } from '../auth/middleware.ts';
import type { Config } from '../config.ts';
import { DomainError } from '../errors.ts';
import { login, logout } from '../services/auth.service.ts';
import { validate } from '../validation.ts';

const loginBody = z.object({ username: z.string().min(1).max(200), password: z.string().min(1).max(1000) });

/**
 * Whether the browser reached us over https, so the session cookie must be `Secure`: the
 * configured public URL says so, or the request itself came over TLS, or (only when told to
 * trust one) the reverse proxy in front says it did. The first X-Forwarded-Proto entry is
 * the client's leg; a client that forges it only makes its own cookie stricter.
 */
function isHttps(c: Context, config: Config): boolean {
  if (config.publicUrl?.startsWith('https:')) return true;
  if (new URL(c.req.url).protocol === 'https:') return true;
  if (!config.trustProxy) return false;
  return c.req.header('x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase() === 'https';
}

/** Routes under /api/v1/auth. */
export function authRoutes({ db, config }: { db: Db; config: Config }) {
  return new Hono<AppEnv>()
    .post('/login', validate('json', loginBody), (c) => {
      const { username, password } = c.req.valid('json');
      const { sessionId, principal } = login(db, username, password, config.sessionHours);
      setCookie(c, SESSION_COOKIE, sessionId, {
        httpOnly: true,
        sameSite: 'Strict',
        secure: isHttps(c, config),
        path: '/',
        maxAge: config.sessionHours * 3600,
      });
      if (principal.kind !== 'user') throw new DomainError('UNAUTHORIZED', 'not a person');
      return c.json({ username: principal.username, role: principal.role, projects: principal.projects }, 200);
    })
    .post('/logout', (c) => {
      const session = getCookie(c, SESSION_COOKIE);
      if (session) logout(db, session);
      deleteCookie(c, SESSION_COOKIE, { path: '/' });
      return c.json({ ok: true }, 200);
    })
    .get('/me', (c) => {
      // Not being signed in is an ordinary answer here, not an error: the dashboard asks on load.
      const p = c.get('principal');
      const me: { username: string | null; role: string; projects: string[] } | null = !p
        ? null
        : p.kind === 'token'
          ? { username: null, role: p.scope, projects: [] }
          : { username: p.username, role: p.role, projects: p.projects };
      return c.json({ me }, 200);
    });
}
