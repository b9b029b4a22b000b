/**
 * Single sign-on by OpenID Connect (README: Single sign-on): /login sends the browser to the
 * provider, /callback takes it back, opens a session and goes on to the dashboard. These
 * are browser navigations, not API calls, so a failure is an HTML page saying what failed,
 * with the status of the failure (400, 401 or 503).
 */
import { Hono, type Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { Db } from '../../db/client.ts';
import type { AppEnv } from '../auth/middleware.ts';
import { isHttps, setSessionCookie } from '../auth/session-cookie.ts';
import type { Config } from '../config.ts';
import { DomainError, statusByCode } from '../errors.ts';
import { loginFromOidc } from '../services/auth.service.ts';
import { OIDC_ATTEMPT_MS, type OidcService } from '../services/oidc.service.ts';

/** The cookie that ties a callback to the browser that started the sign-in. */
export const OIDC_COOKIE = 'hl_oidc';
const COOKIE_PATH = '/api/v1/auth/oidc';

/** Routes under /api/v1/auth/oidc; 404 when single sign-on is not configured. */
export function oidcRoutes({ db, config, oidc }: { db: Db; config: Config; oidc: OidcService | null }) {
  const configured = () => {
    if (!oidc) throw new DomainError('NOT_FOUND', 'single sign-on is not configured (HEATLEDGER_OIDC_ISSUER)');
    return oidc;
  };
  return new Hono<AppEnv>()
    .get('/login', async (c) => {
      const service = configured();
      try {
        const { url, binding } = await service.begin();
        // Lax, not Strict: the provider's redirect back to /callback is a cross-site navigation.
        setCookie(c, OIDC_COOKIE, binding, { httpOnly: true, sameSite: 'Lax', secure: isHttps(c, config), path: COOKIE_PATH, maxAge: OIDC_ATTEMPT_MS / 1000 });
        return c.redirect(url, 302);
      } catch (error) {
        return failurePage(c, error);
      }
    })
    .get('/callback', async (c) => {
      const service = configured();
      const binding = getCookie(c, OIDC_COOKIE);
      deleteCookie(c, OIDC_COOKIE, { path: COOKIE_PATH, secure: isHttps(c, config) });
      try {
        const identity = await service.finish(new URL(c.req.url).searchParams, binding);
        const { sessionId } = loginFromOidc(db, identity, config.sessionHours);
        setSessionCookie(c, config, sessionId);
        return c.redirect('/', 302);
      } catch (error) {
        return failurePage(c, error);
      }
    });
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

/** The page for a failed sign-in; an error that is not a DomainError is the app's to handle (500, logged). */
function failurePage(c: Context<AppEnv>, error: unknown) {
  if (!(error instanceof DomainError)) throw error;
  c.header('cache-control', 'no-store');
  return c.html(
    `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>HeatLedger: sign-in failed</title></head>
<body>
<h1>Sign-in failed</h1>
<p data-testid="sign-in-failure">${escapeHtml(error.message)}</p>
<p><a href="/">Back to HeatLedger</a></p>
</body>
</html>
`,
    statusByCode[error.code] as 400 | 401 | 503,
  );
}
