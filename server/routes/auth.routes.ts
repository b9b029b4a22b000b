/** Login and logout with an HttpOnly session cookie (CONTRACTS §3). */
import { Hono } from 'hono';
import { deleteCookie, getCookie } from 'hono/cookie';
import { z } from 'zod';
import type { Db } from '../../db/client.ts';
import { SESSION_COOKIE, type AppEnv } from '../auth/middleware.ts';
import { setSessionCookie } from '../auth/session-cookie.ts';
import type { Config } from '../config.ts';
import { DomainError } from '../errors.ts';
import { login, logout } from '../services/auth.service.ts';
import type { OidcService } from '../services/oidc.service.ts';
import { validate } from '../validation.ts';
import { oidcRoutes } from './oidc.routes.ts';

const loginBody = z.object({ username: z.string().min(1).max(200), password: z.string().min(1).max(1000) });

/** Routes under /api/v1/auth; `oidc` is the single sign-on provider, null when none is configured. */
export function authRoutes({ db, config, oidc = null }: { db: Db; config: Config; oidc?: OidcService | null }) {
  return new Hono<AppEnv>()
    .post('/login', validate('json', loginBody), (c) => {
      const { username, password } = c.req.valid('json');
      const { sessionId, principal } = login(db, username, password, config.sessionHours);
      setSessionCookie(c, config, sessionId);
      if (principal.kind !== 'user') throw new DomainError('UNAUTHORIZED', 'not a person');
      return c.json({ username: principal.username, role: principal.role, projects: principal.projects }, 200);
    })
    .post('/logout', async (c) => {
      const session = getCookie(c, SESSION_COOKIE);
      const ended = session ? logout(db, session) : null;
      deleteCookie(c, SESSION_COOKIE, { path: '/' });
      // A person who signed in at the provider is signed out there too when it offers a
      // logout address: the dashboard follows `redirect`. Nothing else changes the answer.
      const redirect = oidc && ended?.passwordless ? await oidc.endSessionUrl() : null;
      const body: { ok: true; redirect?: string } = redirect ? { ok: true, redirect } : { ok: true };
      return c.json(body, 200);
    })
    .get('/me', (c) => {
      // Not being signed in is an ordinary answer here, not an error: the dashboard asks on load.
      const p = c.get('principal');
      const me: { username: string | null; role: string; projects: string[] } | null = !p
        ? null
        : p.kind === 'token'
          ? { username: null, role: p.scope, projects: [] }
          : { username: p.username, role: p.role, projects: p.projects };
      // How else one may sign in: the single sign-on provider's name and where its sign-in starts.
      const sso: { name: string; loginUrl: string } | null = oidc ? { name: oidc.name, loginUrl: '/api/v1/auth/oidc/login' } : null;
      return c.json({ me, oidc: sso }, 200);
    })
    .route('/oidc', oidcRoutes({ db, config, oidc }));
}
