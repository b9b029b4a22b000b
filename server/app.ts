/**
 * The HeatLedger HTTP application. `createApp` builds it over a database and a
 * configuration and starts nothing; `server/main.ts` listens.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { serveStatic } from '@hono/node-server/serve-static';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { Db } from '../db/client.ts';
import { createStore, type Store } from '../db/store.ts';
import { getConnInfo } from '@hono/node-server/conninfo';
import { identify, type AppEnv } from './auth/middleware.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import type { Config } from './config.ts';
import { DomainError, codeForStatus, statusByCode } from './errors.ts';
import { readCache } from './read-cache.ts';
import { loginRateLimit, originCheck, requestBodyLimit, securityHeaders } from './security.ts';
import { allocationRoutes } from './routes/allocations.routes.ts';
import { authRoutes } from './routes/auth.routes.ts';
import { coolingRoutes } from './routes/cooling.routes.ts';
import { energyRoutes } from './routes/energy.routes.ts';
import { ingestRoutes } from './routes/ingest.routes.ts';
import { applyAssociations } from './services/associations.service.ts';
import { adviceRoutes } from './routes/advice.routes.ts';
import { applyFairshare } from './services/fairshare.service.ts';
import { fairshareRoutes } from './routes/fairshare.routes.ts';
import { projectRoutes } from './routes/projects.routes.ts';
import { reportsRoutes } from './routes/reports.routes.ts';
import { usageRoutes } from './routes/usage.routes.ts';
import { waitsRoutes } from './routes/waits.routes.ts';
import { createIngestService, type IngestService } from './services/ingest.service.ts';
import { createOidcService } from './services/oidc.service.ts';

export interface AppDeps {
  db: Db;
  config: Config;
  /** The clock; tests pass a fixed one. */
  now?: () => number;
  /** Demo sign-in accounts offered on the login page (demo mode only). */
  demoAccounts?: Array<{ username: string; role: string; password: string }>;
  /** The store over `db` (one is made when not given). */
  store?: Store;
  /** Called after each ingest commit (server/main.ts: the compactor runs soon after). */
  onIngestCommit?: () => void;
  /** How far the demo's history has been sent (demo mode only): the dashboard shows it while it loads. */
  demoProgress?: () => { historyDays: number; percent: number; done: boolean } | null;
  /** The /metrics exposition (one is made when not given; server/main.ts stores its counter restarts). */
  metrics?: Metrics;
}

function errorBody(code: string, message: string, details?: unknown) {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}

/** Builds the app: API routes, error mapping, and the built web app at `/`. */
export function createApp({ db, config, now, store = createStore(db.$client, config), onIngestCommit, demoAccounts = [], demoProgress = () => null, metrics = createMetrics(db.$client) }: AppDeps) {
  const sqlite = db.$client;
  const clock = now ?? Date.now;
  const ingest: IngestService = createIngestService({ sqlite, config, now, store, onCommit: onIngestCommit });
  const oidc = config.oidc ? createOidcService(config.oidc, { now: clock }) : null;

  const api = new Hono<AppEnv>()
    .use('*', securityHeaders())
    .use(
      '/api/*',
      requestBodyLimit(config.maxBodyBytes, () => {
        throw new DomainError('TOO_LARGE', `request body larger than ${config.maxBodyBytes} bytes`);
      }),
    )
    .use('/api/*', originCheck())
    .use('/api/*', identify(db))
    .use('/api/v1/auth/login', loginRateLimit(now, { trustProxy: config.trustProxy }))
    .use('/api/v1/*', readCache(config.readCacheMs, now))
    // Refused ingest batches, counted by kind and reason for /metrics.
    .use('/api/v1/ingest/*', async (c, next) => {
      await next();
      // Known kinds only: a label from the path would let any caller add series.
      const kind = c.req.path.split('/').pop() ?? '';
      if (c.res.status >= 400) metrics.rejected(['gpu', 'jobs', 'facility'].includes(kind) ? kind : 'other', c.res.status >= 500 ? 'UNAVAILABLE' : codeForStatus(c.res.status));
    })
    .use('/metrics', identify(db))
    .get('/metrics', (c) => {
      const p = c.get('principal');
      const token = p?.kind === 'token' && (p.scope === 'read' || p.scope === 'admin');
      if (!token && !allowed(config.metricsAllow, remoteAddress(c))) {
        throw new DomainError(p ? 'FORBIDDEN' : 'UNAUTHORIZED', p ? 'scraping /metrics needs a read token' : 'send a read token (Authorization: Bearer) or scrape from an address in HEATLEDGER_METRICS_ALLOW');
      }
      const openMetrics = /application\/openmetrics-text/.test(c.req.header('accept') ?? '');
      c.header('content-type', openMetrics ? 'application/openmetrics-text; version=1.0.0; charset=utf-8' : 'text/plain; version=0.0.4; charset=utf-8');
      c.header('vary', 'Accept');
      return c.body(metrics.render(clock(), openMetrics));
    })
    .get('/api/health', (c) => c.json({ status: 'ok' as const, demoHistory: demoProgress() }, 200))
    .get('/api/v1/demo-accounts', (c) => c.json({ accounts: demoAccounts.map(({ username, role, password }) => ({ username, role, password })) }, 200))
    .route('/api/v1/auth', authRoutes({ db, config, oidc }))
    .route('/api/v1/ingest', ingestRoutes(ingest, metrics.backlog, (batch) => applyAssociations(sqlite, batch, { nowTs: clock(), grantPeriod: config.grantPeriod }), (batch) => applyFairshare(sqlite, batch)))
    .route('/api/v1/usage', usageRoutes({ sqlite, now }))
    .route('/api/v1/energy', energyRoutes({ sqlite, config, now }))
    .route('/api/v1/energy/cooling', coolingRoutes({ sqlite }))
    .route('/api/v1/reports', reportsRoutes({ sqlite, config }))
    .route('/api/v1', waitsRoutes({ sqlite, now }))
    .route('/api/v1', fairshareRoutes({ sqlite }))
    .route('/api/v1', adviceRoutes({ sqlite, now: clock }))
    .route('/api/v1/allocations', allocationRoutes({ sqlite, now }))
    .route('/api/v1', projectRoutes({ sqlite, config, now }));

  api.notFound((c) => c.json(errorBody('NOT_FOUND', `no route for ${c.req.method} ${c.req.path}`), 404));
  api.onError((error, c) => {
    if (error instanceof DomainError) return c.json(errorBody(error.code, error.message, error.details), statusByCode[error.code]);
    if (error instanceof HTTPException) {
      const status = error.status;
      const code = codeForStatus(status);
      return c.json(errorBody(code, error.message || 'bad request'), status);
    }
    if (isDiskError(error)) {
      return c.json(errorBody('UNAVAILABLE', `the database cannot be written: ${error.message}`), 503);
    }
    console.error('unexpected error', c.req.method, c.req.path, error);
    return c.json(errorBody('INTERNAL', 'internal error'), 500);
  });

  // The dashboard is a single-page app: every other non-API path serves its shell. Before it
  // is built (a fresh clone started without `npm start`), a page says how to build it; the
  // shell is looked for again on each request until it is there, so a reload after the build works.
  const indexPath = join(config.webDir, 'index.html');
  let indexHtml: string | null = null;
  const shell = () => (indexHtml ??= existsSync(indexPath) ? readFileSync(indexPath, 'utf8') : null);
  api.use('/assets/*', serveStatic({ root: config.webDir }));
  api.get('/favicon.svg', serveStatic({ root: config.webDir }));
  api.get('*', (c) => (c.req.path.startsWith('/api/') ? c.json(errorBody('NOT_FOUND', `no route for GET ${c.req.path}`), 404) : c.html(shell() ?? notBuiltPage(config.webDir))));
  return api;
}

/** The page served at `/` when the dashboard has not been built into `webDir`. */
function notBuiltPage(webDir: string): string {
  const dir = webDir.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>HeatLedger: dashboard not built</title></head>
<body>
<h1>HeatLedger is running, but its dashboard has not been built</h1>
<p>There is no <code>index.html</code> in <code>${dir}</code>. Build the dashboard in the HeatLedger directory, then reload this page:</p>
<pre>npm run build:web</pre>
<p><code>npm install</code> builds it too (its <code>prepare</code> step), and <code>npm start</code> builds it before starting the demo. The API answers meanwhile under <code>/api/v1</code>.</p>
</body>
</html>
`;
}

/** The peer's address (none for an in-process request). */
function remoteAddress(c: Parameters<typeof getConnInfo>[0]): string | null {
  try {
    return getConnInfo(c).remote.address ?? null;
  } catch {
    return null;
  }
}

/** Whether `address` is one of `allow` (IPs, or IPv4 CIDRs); IPv4-mapped IPv6 counts as its IPv4. */
export function allowed(allow: string[], address: string | null): boolean {
  if (address === null) return false;
  const a = address.replace(/^::ffff:(?=\d+\.)/, '');
  const v4 = (ip: string) => {
    const parts = ip.split('.').map(Number);
    return parts.length === 4 && parts.every((n) => Number.isInteger(n) && n >= 0 && n <= 255) ? parts.reduce((x, n) => x * 256 + n, 0) : null;
  };
  return allow.some((entry) => {
    const [net, bits] = entry.split('/');
    if (bits === undefined) return entry === a || entry.replace(/^::ffff:/, '') === a;
    const n = v4(net!);
    const x = v4(a);
    if (n === null || x === null) return false;
    const size = 2 ** (32 - Number(bits));
    return Math.floor(n / size) === Math.floor(x / size);
  });
}

function isDiskError(error: unknown): error is Error & { code: string } {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && ['SQLITE_READONLY', 'SQLITE_FULL', 'SQLITE_IOERR', 'SQLITE_CANTOPEN', 'SQLITE_BUSY'].some((c) => code.startsWith(c));
}

export type AppType = ReturnType<typeof createApp>;
