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
import { authenticateHubToken, setNationalGrant, type HubScope } from '../../db/hub/people.ts';
import { hubFacility, hubGrants, hubUsage, hubWaits, siteState, storeDays, storeSiteGrants, type HubStore, type HubUsageKey } from '../../db/hub/store.ts';
import { DAY_MS, HOUR_MS } from '../../db/rules/time.ts';
import { DomainError, codeForStatus, statusByCode } from '../errors.ts';
import { requestBodyLimit, securityHeaders } from '../security.ts';
import { validate } from '../validation.ts';
import { hubPage, hubScript } from './page.ts';

type HubEnv = { Variables: { holder: { name: string; scope: HubScope; site: string | null } } };

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

/** Requires a live token of one of `scopes`. */
function requireScope(hub: HubStore, now: () => number, scopes: HubScope[]): MiddlewareHandler<HubEnv> {
  return async (c, next) => {
    const token = bearer(c);
    if (!token) throw new DomainError('UNAUTHORIZED', 'send a hub token (Authorization: Bearer)');
    const holder = await authenticateHubToken(hub, token, now());
    if (!holder) throw new DomainError('UNAUTHORIZED', 'unknown, revoked or expired hub token');
    if (!scopes.includes(holder.scope)) throw new DomainError('FORBIDDEN', `this needs a ${scopes.join(' or ')} token; yours is ${holder.scope}`);
    c.set('holder', holder);
    await next();
  };
}

/** The site a push token may write: its own, never another's. */
function ownSite(c: Context<HubEnv>, site: string): string {
  const holder = c.get('holder');
  if (holder.site !== site) throw new DomainError('FORBIDDEN', `this token pushes for site ${holder.site ?? '(none)'}, not ${site}`);
  return site;
}

export function createHubApp({ hub, now = Date.now, maxBodyBytes = 256 * 1024 * 1024 }: { hub: HubStore; now?: () => number; maxBodyBytes?: number }) {
  const push = requireScope(hub, now, ['push']);
  const reader = requireScope(hub, now, ['read', 'admin']);
  const admin = requireScope(hub, now, ['admin']);
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
    .get('/api/health', async (c) => {
      await hub.pool.query('SELECT 1');
      return c.json({ status: 'ok' as const, role: 'hub' as const }, 200);
    })
    // A site: what the hub holds of it, then its days and grants.
    .get('/api/v1/hub/state', push, async (c) => {
      const site = c.get('holder').site!;
      const s = await siteState(hub, site);
      return c.json({ site, days: s.days.map((d) => ({ day: iso(d.dayTs), hash: d.hash, completeTo: iso(d.completeToTs) })), grantsHash: s.grantsHash }, 200);
    })
    .post('/api/v1/hub/push', push, validate('json', pushBody), async (c) => {
      const body = c.req.valid('json');
      const site = ownSite(c, body.site);
      return c.json(await storeDays(hub, site, body.days, now()), 200);
    })
    .post('/api/v1/hub/grants', push, validate('json', grantsBody), async (c) => {
      const body = c.req.valid('json');
      await storeSiteGrants(hub, ownSite(c, body.site), body.grants, body.hash);
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
        const rows = await hubUsage(hub, { ...w, groupBy: q.groupBy, projects: null });
        return c.json({ from: iso(w.fromTs), to: iso(w.toTs), groupBy: q.groupBy, rows }, 200);
      },
    )
    .get('/api/v1/hub/facility', reader, validate('query', z.object({ from: z.string().optional(), to: z.string().optional() })), async (c) => {
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
        return c.json({ from: iso(w.fromTs), to: iso(w.toTs), groupBy: q.groupBy, rows: await hubWaits(hub, { ...w, groupBy: q.groupBy, projects: null }) }, 200);
      },
    )
    .get('/api/v1/hub/grants', reader, async (c) => c.json({ grants: await hubGrants(hub, null, now()) }, 200))
    .post(
      '/api/v1/hub/grants/national',
      admin,
      validate('json', z.object({ project: name, from: z.iso.date(), to: z.iso.date(), gpuHours: nonNegative })),
      async (c) => {
        const g = c.req.valid('json');
        const fromTs = Date.parse(g.from);
        const toTs = Date.parse(g.to);
        if (toTs <= fromTs) throw new DomainError('VALIDATION', 'to: must be after from');
        await setNationalGrant(hub, { project: g.project, fromTs, toTs, gpuHours: g.gpuHours, actor: `token:${c.get('holder').name}`, nowTs: now() });
        return c.json({ project: g.project, site: '*', from: g.from, to: g.to, gpuHours: g.gpuHours }, 201);
      },
    )
    .get('/api/v1/hub/projects/:project/review', reader, validate('query', z.object({ from: z.string().optional(), to: z.string().optional() })), async (c) => {
      const project = c.req.param('project');
      const w = window.parse(c.req.valid('query'));
      const [bySite, byPartition, waits, grants] = await Promise.all([
        hubUsage(hub, { ...w, groupBy: ['site'], projects: [project] }),
        hubUsage(hub, { ...w, groupBy: ['site', 'partition'], projects: [project] }),
        hubWaits(hub, { ...w, groupBy: ['site'], projects: [project] }),
        hubGrants(hub, [project], now()),
      ]);
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
