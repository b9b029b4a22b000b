/** The session cookie, set alike by the password login and the OpenID Connect callback. */
import type { Context } from 'hono';
import { setCookie } from 'hono/cookie';
import type { Config } from '../config.ts';
import { SESSION_COOKIE } from './middleware.ts';

/**
 * Whether the browser reached us over https, so cookies must be `Secure`: the
 * configured public URL says so, or the request itself came over TLS, or (only when told to
 * trust one) the reverse proxy in front says it did. The first X-Forwarded-Proto entry is
 * the client's leg; a client that forges it only makes its own cookie stricter.
 */
export function isHttps(c: Context, config: Config): boolean {
  if (config.publicUrl?.startsWith('https:')) return true;
  if (new URL(c.req.url).protocol === 'https:') return true;
  if (!config.trustProxy) return false;
  return c.req.header('x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase() === 'https';
}

/** Sets the HttpOnly, SameSite=Strict session cookie for `config.sessionHours`. */
export function setSessionCookie(c: Context, config: Config, sessionId: string): void {
  setCookie(c, SESSION_COOKIE, sessionId, {
    httpOnly: true,
    sameSite: 'Strict',
    secure: isHttps(c, config),
    path: '/',
    maxAge: config.sessionHours * 3600,
  });
}
