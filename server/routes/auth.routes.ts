/** Login and logout with an HttpOnly session cookie (CONTRACTS §3). */
import { Hono } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { z } from 'zod';
import type { Db } from '../../db/client.ts';
import { SESSION_COOKIE, type AppEnv } from '../auth/middleware.ts';
import type { Config } from '../config.ts';
import { DomainError } from '../errors.ts';
import { login, logout } from '../services/auth.service.ts';
import { validate } from '../validation.ts';

const loginBody = z.object({ username: z.string().min(1).max(200), password: z.string().min(1).max(1000) });

/** Routes under /api/v1/auth. */
export function authRoutes({ db, config }: { db: Db; config: Config }) {
  return new Hono<AppEnv>()
    .post('/login', validate('json', loginBody), (c) => {
      const { username, password } = c.req.valid('json');
      const { sessionId, principal } = login(db, username, password, config.sessionHours);
      setCookie(c, SESSION_COOKIE, sessionId, {
        httpOnly: true,
        sameSite: 'Strict',
        secure: new URL(c.req.url).protocol === 'https:',
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
