/**
 * Reuse of read answers for a short time (HEATLEDGER_READ_CACHE_MS, 1 s by default): many
 * dashboards open on the same window ask the same questions, and one answer serves them
 * all. The dashboard aligns its windows (web/src/lib/range.svelte.ts) so that viewers'
 * requests coincide.
 *
 * An answer is reused only for a caller who sees exactly what the first caller saw (same
 * kind of credential, scope or role, projects and username), asking for the same URL with
 * the same `Accept`, and only while it is young: measurements that arrive meanwhile show
 * at most that much later. An administrative change (any accepted write other than
 * ingest) drops every kept answer at once. Timed with the app's clock (tests pass a fixed one).
 */
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from './auth/middleware.ts';

interface Kept {
  expires: number;
  status: number;
  headers: Array<[string, string]>;
  body: ArrayBuffer;
}

/** At most this many answers are kept; the oldest go first. */
const MAX_ENTRIES = 500;

export function readCache(ttlMs: number, now: () => number = Date.now) {
  const kept = new Map<string, Kept>();
  return createMiddleware<AppEnv>(async (c, next) => {
    if (ttlMs <= 0) return next();
    // A HEAD changes nothing and is not kept.
    if (c.req.method === 'HEAD') return next();
    if (c.req.method !== 'GET') {
      await next();
      if (c.res.status < 400 && !c.req.path.startsWith('/api/v1/ingest/')) kept.clear();
      return;
    }
    const p = c.get('principal');
    if (!p || c.req.path.startsWith('/api/v1/auth/')) return next();
    const who = p.kind === 'token' ? `token:${p.scope}` : `user:${p.role}:${p.username}:${[...p.projects].sort().join(',')}`;
    // Everything an answer varies on: the caller, the URL with its whole query, and `Accept`
    // (the review pack answers CSV or JSON by it). JSON encoding keeps the parts apart.
    const key = JSON.stringify([who, c.req.header('accept') ?? '', c.req.url]);
    const at = now();
    const hit = kept.get(key);
    if (hit && hit.expires > at) return new Response(hit.body, { status: hit.status, headers: hit.headers });
    await next();
    if (c.res.status !== 200) return;
    const body = await c.res.clone().arrayBuffer();
    kept.delete(key);
    kept.set(key, { expires: at + ttlMs, status: 200, headers: [...c.res.headers], body });
    if (kept.size > MAX_ENTRIES) kept.delete(kept.keys().next().value!);
  });
}
