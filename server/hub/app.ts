/**
 * The federation hub's HTTP application (issue 18): sites push their ledgers with their own
 * push tokens; the national committee and facility managers read across sites with read
 * tokens. Built over an opened hub store; `heatledger hub serve` listens.
 *
 * Windows at the hub are whole hours (sites push complete hours): `from` and `to` are
 * refused unless they fall on the hour.
 */
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import { getCookie, deleteCookie } from 'hono/cookie';
import { authenticateHubToken, createHubSession, endHubSession, hubSessionUser, hubUser, setNationalGrant, type HubRole, type HubScope } from '../../db/hub/people.ts';
import { hubFacility, hubGrants, hubUsage, hubWaits, regroupUsage, siteState, storeDays, storeSiteGrants, type HubStore, type HubUsageKey } from '../../db/hub/store.ts';
import { DAY_MS, HOUR_MS } from '../../db/rules/time.ts';
import { SESSION_COOKIE } from '../auth/middleware.ts';
import { setSessionCookie } from '../auth/session-cookie.ts';
import { loadConfig, type Config } from '../config.ts';
import { DomainError, codeForStatus, statusByCode } from '../errors.ts';
import { passwordMatches } from '../services/auth.service.ts';
import { loginRateLimit, originCheck, requestBodyLimit, securityHeaders } from '../security.ts';
import { validate } from '../validation.ts';
import { hubPage, hubScript } from './page.ts';

/** Who asks: a token (a site's push token, or a read or admin token) or a signed-in person with the site's roles. */
type Holder = { kind: 'token'; name: string; scope: HubScope; site: string | null } | { kind: 'user'; name: string; role: HubRole; projects: string[] };
type HubEnv = { Variables: { holder: Holder } };

/** The projects a holder may read at every site: null for all (committee, facility, admin, read and admin tokens). */
function projectsOf(h: Holder): string[] | null {
  if (h.kind === 'token') return null;
  return h.role === 'researcher' || h.role === 'pi' ? h.projects : null;
}

/** Narrows `asked` to what `h` may read; a project outside them is refused. */
function visibleProjects(h: Holder, asked: string | null): string[] | null {
  const mine = projectsOf(h);
  if (asked === null) return mine;
  if (mine !== null && !mine.includes(asked)) throw new DomainError('FORBIDDEN', `you are not a member of project ${asked}`);
  return [asked];
}

const finite = z.number().refine(Number.isFinite, 'must be a finite number');
const nonNegative = finite.refine((v) => v >= 0, 'must not be negative');
const hourTs = z.number().int().refine((v) => v % HOUR_MS === 0, 'must be the start of an hour (epoch ms)');
const name = z.string().min(1).max(200);

const usageRow = z.object({
  hourTs,
  project: name,
  user: z.string().max(200),
  partition: z.string().max(200),
  gpuS: nonNegative,
  measuredGpuS: nonNegative,
  energyKWh: finite,
  inferredKWh: finite,
  overheadKWh: finite,
  reusedKWh: finite,
  co2Kg: finite,
});
const jobRow = z.object({
  cluster: name,
  jobId: name,
  project: name,
  user: z.string().max(200),
  partition: z.string().max(200),
  gpus: z.number().int().min(0),
  submitTs: z.number().int(),
  startTs: z.number().int(),
  endTs: z.number().int().nullable(),
  state: z.string().max(64),
  energyKWh: finite,
});
const nullableKWh = finite.nullable();
const facilityRow = z.object({ hourTs, itKWh: nullableKWh, facilityKWh: nullableKWh, reusedKWh: nullableKWh, coolingKWh: nullableKWh, co2Kg: nullableKWh });
const day = z
  .object({
    dayTs: z.number().int().refine((v) => v % DAY_MS === 0, 'must be the start of a UTC day (epoch ms)'),
    completeToTs: hourTs,
    hash: z.string().regex(/^[0-9a-f]{64}$/, 'must be the hex SHA-256 of the day'),
    usage: z.array(usageRow),
    jobs: z.array(jobRow),
    facility: z.array(facilityRow),
  })
  .superRefine((d, ctx) => {
    const inDay = (ts: number) => ts >= d.dayTs && ts < d.dayTs + DAY_MS;
    if (d.completeToTs < d.dayTs || d.completeToTs > d.dayTs + DAY_MS) ctx.addIssue({ code: 'custom', path: ['completeToTs'], message: 'must lie within the day' });
    d.usage.forEach((u, i) => inDay(u.hourTs) || ctx.addIssue({ code: 'custom', path: ['usage', i, 'hourTs'], message: 'hour outside the day' }));
    d.facility.forEach((f, i) => inDay(f.hourTs) || ctx.addIssue({ code: 'custom', path: ['facility', i, 'hourTs'], message: 'hour outside the day' }));
    d.jobs.forEach((j, i) => {
      if (!inDay(j.startTs)) ctx.addIssue({ code: 'custom', path: ['jobs', i, 'startTs'], message: 'job did not start in the day' });
      if (j.startTs < j.submitTs) ctx.addIssue({ code: 'custom', path: ['jobs', i, 'startTs'], message: 'before submitTs' });
    });
  });
const pushBody = z.object({ schema: z.literal(1), site: z.string().min(1), days: z.array(day).max(400) });
const grant = z.object({ project: name, fromTs: z.number().int(), toTs: z.number().int(), gpuHours: nonNegative }).refine((g) => g.toTs > g.fromTs, { message: 'toTs must be after fromTs', path: ['toTs'] });
const grantsBody = z.object({ schema: z.literal(1), site: z.string().min(1), grants: z.array(grant), hash: z.string().regex(/^[0-9a-f]{64}$/) });

const onHour = z.iso.datetime({ offset: true }).refine((v) => Date.parse(v) % HOUR_MS === 0, 'the hub answers on whole hours: give a time on the hour');
/** A window of whole hours (default: the 30 days up to the last whole hour). */
const hubWindow = (nowTs: () => number) =>
  z.object({ from: onHour.optional(), to: onHour.optional() }).transform((q, ctx) => {
    const toTs = q.to ? Date.parse(q.to) : Math.floor(nowTs() / HOUR_MS) * HOUR_MS;
    const fromTs = q.from ? Date.parse(q.from) : toTs - 30 * DAY_MS;
    if (fromTs >= toTs) ctx.addIssue({ code: 'custom', message: 'from must be before to', path: ['from'] });
    return { fromTs, toTs };
  });
const keys = <K extends string>(allowed: readonly K[], fallback: K[]) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      const list = (v ? v.split(',') : fallback).map((s) => s.trim()) as K[];
      for (const k of list) if (!allowed.includes(k)) ctx.addIssue({ code: 'custom', message: `groupBy: '${k}' is not one of ${allowed.join(', ')}` });
      return [...new Set(list)];
    });

function bearer(c: Context): string | null {
  const m = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '');
  return m ? m[1]! : null;
}

/** Identifies the caller by bearer token or session cookie (no credentials: none). */
function identify(hub: HubStore, now: () => number): MiddlewareHandler<HubEnv> {
  return async (c, next) => {
    const token = bearer(c);
    if (token) {
      const t = await authenticateHubToken(hub, token, now());
      if (!t) throw new DomainError('UNAUTHORIZED', 'unknown, revoked or expired hub token');
      c.set('holder', { kind: 'token', ...t });
    } else {
      const session = getCookie(c, SESSION_COOKIE);
      const user = session ? await hubSessionUser(hub, session, now()) : null;
      if (user) c.set('holder', { kind: 'user', name: user.username, role: user.role, projects: user.projects });
    }
    await next();
  };
}

/** Requires a caller `allowed` accepts; a missing one gets 401, a refused one 403 with `why`. */
function require_(allowed: (h: Holder) => boolean, why: string): MiddlewareHandler<HubEnv> {
  return async (c, next) => {
    const h = c.get('holder') as Holder | undefined;
    if (!h) throw new DomainError('UNAUTHORIZED', 'send a hub token (Authorization: Bearer) or sign in');
    if (!allowed(h)) throw new DomainError('FORBIDDEN', why);
    await next();
  };
}

/** The site a push token may write: its own, never another's. */
function ownSite(holder: Holder, site: string): string {
  if (holder.kind !== 'token' || holder.site !== site) throw new DomainError('FORBIDDEN', `this token pushes for site ${holder.kind === 'token' ? (holder.site ?? '(none)') : '(none)'}, not ${site}`);
  return site;
}

export function createHubApp({ hub, config = loadConfig({}), now = Date.now, maxBodyBytes = 256 * 1024 * 1024 }: { hub: HubStore; config?: Config; now?: () => number; maxBodyBytes?: number }) {
  const push = require_((h) => h.kind === 'token' && h.scope === 'push', 'this needs a site push token');
  const reader = require_((h) => h.kind === 'user' || h.scope === 'read' || h.scope === 'admin', 'this needs a read or admin token (a push token only pushes)');
  const admin = require_((h) => (h.kind === 'user' ? h.role === 'admin' : h.scope === 'admin'), 'this needs an administrator');
  const facilityReader = require_(
    (h) => (h.kind === 'user' ? ['committee', 'facility', 'admin'].includes(h.role) : h.scope !== 'push'),
    'facility figures are for facility managers, the committee and administrators',
  );
  const window = hubWindow(now);
  const iso = (ts: number) => new Date(ts).toISOString();

  const app = new Hono<HubEnv>()
    .use('*', securityHeaders())
    .use(
      '/api/*',
      requestBodyLimit(maxBodyBytes, () => {
        throw new DomainError('TOO_LARGE', `request body larger than ${maxBodyBytes} bytes`);
      }),
    )
    .use('/api/*', originCheck())
    .use('/api/*', identify(hub, now))
    .use('/api/v1/auth/login', loginRateLimit(now, { trustProxy: config.trustProxy }))
    .post('/api/v1/auth/login', validate('json', z.object({ username: z.string().min(1).max(200), password: z.string().min(1).max(1000) })), async (c) => {
      const { username, password } = c.req.valid('json');
      const user = await hubUser(hub, username);
      // One scrypt whether or not the name exists (server/services/auth.service.ts).
      if (!passwordMatches(password, user?.passwordHash) || !user) throw new DomainError('UNAUTHORIZED', 'wrong username or password');
      setSessionCookie(c, config, await createHubSession(hub, username, now() + config.sessionHours * HOUR_MS));
      return c.json({ username, role: user.role, projects: projectsOf({ kind: 'user', name: username, role: user.role, projects: user.projects }) }, 200);
    })
    .post('/api/v1/auth/logout', async (c) => {
      const session = getCookie(c, SESSION_COOKIE);
      if (session) await endHubSession(hub, session);
      deleteCookie(c, SESSION_COOKIE, { path: '/' });
      return c.body(null, 204);
    })
    .get('/api/v1/auth/me', require_(() => true, ''), (c) => {
      const h = c.get('holder');
      return c.json(h.kind === 'user' ? { kind: 'user', username: h.name, role: h.role, projects: projectsOf(h) } : { kind: 'token', name: h.name, scope: h.scope, site: h.site }, 200);
    })
    .get('/api/health', async (c) => {
      await hub.pool.query('SELECT 1');
      return c.json({ status: 'ok' as const, role: 'hub' as const }, 200);
    })
    // A site: what the hub holds of it, then its days and grants.
    .get('/api/v1/hub/state', push, async (c) => {
      const site = ownSite(c.get('holder'), (c.get('holder') as { site: string }).site);
      const s = await siteState(hub, site);
      return c.json({ site, days: s.days.map((d) => ({ day: iso(d.dayTs), hash: d.hash, completeTo: iso(d.completeToTs) })), grantsHash: s.grantsHash }, 200);
    })
    .post('/api/v1/hub/push', push, validate('json', pushBody), async (c) => {
      const body = c.req.valid('json');
      const site = ownSite(c.get('holder'), body.site);
      return c.json(await storeDays(hub, site, body.days, now()), 200);
    })
    .post('/api/v1/hub/grants', push, validate('json', grantsBody), async (c) => {
      const body = c.req.valid('json');
      await storeSiteGrants(hub, ownSite(c.get('holder'), body.site), body.grants, body.hash);
      return c.json({ grants: body.grants.length }, 200);
    })
    // Reading across sites.
    .get(
      '/api/v1/hub/usage',
      reader,
      validate('query', z.object({ from: z.string().optional(), to: z.string().optional(), groupBy: keys<HubUsageKey>(['site', 'project', 'partition'], ['site', 'project']) })),
      async (c) => {
        const q = c.req.valid('query');
        const w = window.parse({ from: q.from, to: q.to });
        const rows = await hubUsage(hub, { ...w, groupBy: q.groupBy, projects: visibleProjects(c.get('holder'), null) });
        return c.json({ from: iso(w.fromTs), to: iso(w.toTs), groupBy: q.groupBy, rows }, 200);
      },
    )
    .get('/api/v1/hub/facility', facilityReader, validate('query', z.object({ from: z.string().optional(), to: z.string().optional() })), async (c) => {
      const w = window.parse(c.req.valid('query'));
      return c.json({ from: iso(w.fromTs), to: iso(w.toTs), sites: await hubFacility(hub, w.fromTs, w.toTs) }, 200);
    })
    .get(
      '/api/v1/hub/waits',
      reader,
      validate('query', z.object({ from: z.string().optional(), to: z.string().optional(), groupBy: keys(['site', 'partition', 'project'] as const, ['site', 'partition']) })),
      async (c) => {
        const q = c.req.valid('query');
        const w = window.parse({ from: q.from, to: q.to });
        // Waits by site and partition are everyone's (as at a site); by project, only the caller's projects.
        const projects = q.groupBy.includes('project') ? visibleProjects(c.get('holder'), null) : null;
        return c.json({ from: iso(w.fromTs), to: iso(w.toTs), groupBy: q.groupBy, rows: await hubWaits(hub, { ...w, groupBy: q.groupBy, projects }) }, 200);
      },
    )
    .get('/api/v1/hub/grants', reader, async (c) => c.json({ grants: await hubGrants(hub, visibleProjects(c.get('holder'), null), now()) }, 200))
    .post(
      '/api/v1/hub/grants/national',
      admin,
      validate('json', z.object({ project: name, from: z.iso.date(), to: z.iso.date(), gpuHours: nonNegative })),
      async (c) => {
        const g = c.req.valid('json');
        const fromTs = Date.parse(g.from);
        const toTs = Date.parse(g.to);
        if (toTs <= fromTs) throw new DomainError('VALIDATION', 'to: must be after from');
        const h = c.get('holder');
        await setNationalGrant(hub, { project: g.project, fromTs, toTs, gpuHours: g.gpuHours, actor: `${h.kind}:${h.name}`, nowTs: now() });
        return c.json({ project: g.project, site: '*', from: g.from, to: g.to, gpuHours: g.gpuHours }, 201);
      },
    )
    .get('/api/v1/hub/projects/:project/review', reader, validate('query', z.object({ from: z.string().optional(), to: z.string().optional() })), async (c) => {
      const project = c.req.param('project');
      visibleProjects(c.get('holder'), project);
      const w = window.parse(c.req.valid('query'));
      const [byPartition, waits, grants] = await Promise.all([
        hubUsage(hub, { ...w, groupBy: ['site', 'partition'], projects: [project] }),
        hubWaits(hub, { ...w, groupBy: ['site'], projects: [project] }),
        hubGrants(hub, [project], now()),
      ]);
      const bySite = regroupUsage(byPartition, ['site']);
      if (bySite.length === 0 && grants.length === 0) throw new DomainError('NOT_FOUND', `no site has pushed anything of project ${project}`);
      return c.json({ project, from: iso(w.fromTs), to: iso(w.toTs), bySite, byPartition, waits, grants }, 200);
    })
    .get('/', (c) => c.html(hubPage()))
    .get('/hub.js', (c) => {
      c.header('content-type', 'text/javascript; charset=utf-8');
      return c.body(hubScript());
    });

  app.notFound((c) => c.json({ error: { code: 'NOT_FOUND', message: `no route for ${c.req.method} ${c.req.path}` } }, 404));
  app.onError((error, c) => {
    if (error instanceof z.ZodError) {
      const first = error.issues[0]!;
      return c.json({ error: { code: 'VALIDATION', message: `${first.path.join('.') || 'query'}: ${first.message}` } }, 400);
    }
    if (error instanceof DomainError) return c.json({ error: { code: error.code, message: error.message } }, statusByCode[error.code]);
    if (error instanceof HTTPException) return c.json({ error: { code: codeForStatus(error.status), message: error.message || 'bad request' } }, error.status);
    const pgCode = (error as { code?: unknown }).code;
    // The database is down or restarting: the site keeps its days and sends them again.
    if (typeof pgCode === 'string' && (pgCode === 'ECONNREFUSED' || pgCode.startsWith('57P') || pgCode.startsWith('08'))) {
      return c.json({ error: { code: 'UNAVAILABLE', message: `the hub's database is unavailable: ${(error as Error).message}` } }, 503);
    }
    console.error('hub: unexpected error', c.req.method, c.req.path, error);
    return c.json({ error: { code: 'INTERNAL', message: 'internal error' } }, 500);
  });
  return app;
}
