/**
 * Access (issue 9 §3): token scopes, the Origin check on cookie-authenticated writes,
 * login rate limiting and security headers, all through the app in-process.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { H, T0, iso, job, makeApp, series } from '../support/factories.ts';

const w = `from=${iso(T0 - H)}&to=${iso(T0 + 3 * H)}`;
const readPaths = [
  `/api/v1/usage?${w}&groupBy=project`,
  `/api/v1/energy/kpis?${w}`,
  `/api/v1/energy/projects?${w}`,
  `/api/v1/energy/jobs?${w}`,
  `/api/v1/waits?${w}&groupBy=partition`,
  '/api/v1/waits/estimate?partition=gpu&gpus=1',
  '/api/v1/queue',
  '/api/v1/allocations',
  `/api/v1/projects/proj-a/review?${w}`,
  `/api/v1/jobs?${w}`,
];
const gpuBatch = { schema: 1, cluster: 'c', node: 'n1', samples: series(T0, T0 + 600_000, 60, { gpuUuid: 'G1', jobIds: ['1'] }) };
const ingestBodies: Record<string, unknown> = {
  '/api/v1/ingest/gpu': gpuBatch,
  '/api/v1/ingest/jobs': { schema: 1, cluster: 'c', jobs: [job({ jobId: '1' })] },
  '/api/v1/ingest/facility': { schema: 1, site: 's', readings: [{ ts: iso(T0), meter: 'm', quantity: 'itPowerW', value: 1000 }] },
};
const rawTables = ['gpu_samples', 'jobs', 'facility_readings', 'job_hour', 'gpu_hour'];

async function errorOf(res: Response): Promise<{ code: string; message: string }> {
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(typeof body.error.message).toBe('string');
  expect(body.error.message.length).toBeGreaterThan(5);
  return body.error;
}

describe('token scopes', () => {
  const t = makeApp();
  beforeAll(async () => {
    for (const [path, body] of Object.entries(ingestBodies)) {
      const res = await t.app.request(path, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', authorization: `Bearer ${t.tokens.ingest}` } });
      expect(res.status).toBe(202);
    }
  });

  it.each(readPaths)('an ingest token cannot read %s (403), a read token can (200)', async (path) => {
    const refused = await t.app.request(path, t.auth(t.tokens.ingest));
    expect(refused.status).toBe(403);
    expect((await errorOf(refused)).code).toBe('FORBIDDEN');
    const allowed = await t.app.request(path, t.auth(t.tokens.read));
    expect(allowed.status).toBe(200);
  });

  it.each(Object.keys(ingestBodies))('a read token cannot ingest into %s and stores nothing', async (path) => {
    const before = rawTables.map((table) => t.count(table));
    // A new batch (shifted a day) so that a wrongly accepted one would add rows.
    const body = JSON.stringify(ingestBodies[path]).replaceAll('2026-11-20', '2026-11-21');
    for (const token of [t.tokens.read, 'hl_ingest_forged']) {
      const res = await t.app.request(path, { method: 'POST', body, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } });
      expect(res.status).toBe(token === t.tokens.read ? 403 : 401);
      await errorOf(res);
    }
    expect(rawTables.map((table) => t.count(table))).toEqual(before);
  });
});

describe('cookie sessions: Origin check on state-changing requests', () => {
  const t = makeApp();
  let cookie = '';
  const allocation = { project: 'proj-x', grantedGpuHours: 100, periodStart: iso(T0), periodEnd: iso(T0 + 24 * 30 * H) };
  const post = (headers: Record<string, string>) =>
    t.app.request('http://heatledger.example/api/v1/allocations', { method: 'POST', body: JSON.stringify(allocation), headers: { 'content-type': 'application/json', ...headers } });

  beforeAll(async () => {
    t.addPerson('ada', 'admin');
    const res = await t.app.request('http://heatledger.example/api/v1/auth/login', {
      method: 'POST',
      body: JSON.stringify({ username: 'ada', password: 'correct horse' }),
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(200);
    const setCookie = res.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Strict/i);
    cookie = setCookie.split(';')[0]!;
  });

  it('refuses a cross-origin POST made with the cookie (403) and changes nothing', async () => {
    const res = await post({ cookie, origin: 'https://evil.example' });
    expect(res.status).toBe(403);
    const error = await errorOf(res);
    expect(error.code).toBe('FORBIDDEN');
    expect(error.message).toMatch(/cross-origin/);
    expect(t.count('allocations')).toBe(0);
  });

  it('refuses a cookie POST with no Origin or Referer, and one from a sibling subdomain', async () => {
    expect((await post({ cookie })).status).toBe(403);
    expect((await post({ cookie, origin: 'null' })).status).toBe(403);
    expect((await post({ cookie, origin: 'http://sub.heatledger.example' })).status).toBe(403);
    expect((await post({ cookie, referer: 'https://evil.example/page' })).status).toBe(403);
    expect(t.count('allocations')).toBe(0);
  });

  it('refuses a cross-origin logout with the cookie, so the session stays', async () => {
    const res = await t.app.request('http://heatledger.example/api/v1/auth/logout', { method: 'POST', headers: { cookie, origin: 'https://evil.example' } });
    expect(res.status).toBe(403);
    expect(t.count('sessions')).toBe(1);
  });

  it('accepts the same-origin POST, by Origin or by Referer', async () => {
    expect((await post({ cookie, origin: 'http://heatledger.example' })).status).toBe(201);
    expect((await post({ cookie, referer: 'http://heatledger.example/allocations' })).status).toBe(201);
    expect(t.count('allocations')).toBe(2);
  });

  it('exempts bearer-token requests, which carry no ambient credential', async () => {
    expect((await post({ authorization: `Bearer ${t.tokens.admin}`, origin: 'https://evil.example' })).status).toBe(201);
    expect(t.count('allocations')).toBe(3);
  });

  it('lets cross-origin GETs through to the role checks (reads change nothing)', async () => {
    const res = await t.app.request('http://heatledger.example/api/v1/allocations', { headers: { cookie, origin: 'https://evil.example' } });
    expect(res.status).toBe(200);
  });
});

describe('login rate limiting', () => {
  const t = makeApp();
  const login = (username: string, password: string) =>
    t.app.request('/api/v1/auth/login', { method: 'POST', body: JSON.stringify({ username, password }), headers: { 'content-type': 'application/json' } });

  beforeAll(() => {
    t.addPerson('rita', 'researcher', ['proj-a']);
  });

  it('answers 429 with Retry-After after 10 failures in 15 minutes, even for the right password', async () => {
    const start = T0 + 48 * H;
    t.setNow(start);
    for (let i = 0; i < 10; i++) {
      t.setNow(start + i * 1000);
      expect((await login('rita', `wrong-${i}`)).status).toBe(401);
    }
    t.setNow(start + 60_000);
    const limited = await login('rita', 'correct horse');
    expect(limited.status).toBe(429);
    // The first failure leaves the 15-minute window 900 s after it, i.e. 840 s from now.
    expect(limited.headers.get('retry-after')).toBe('840');
    const error = await errorOf(limited);
    expect(error.code).toBe('RATE_LIMITED');
    expect(error.message).toMatch(/840 s/);
    expect(t.count('sessions')).toBe(0);

    // Another username is not affected.
    expect((await login('mallory', 'whatever-pw')).status).toBe(401);

    // One second after the first failure ages out, one attempt is allowed again and succeeds.
    t.setNow(start + 900_001);
    expect((await login('rita', 'correct horse')).status).toBe(200);
    // Success clears the count: ten more failures are needed before the next 429.
    for (let i = 0; i < 10; i++) expect((await login('rita', 'nope-nope')).status).toBe(401);
    expect((await login('rita', 'nope-nope')).status).toBe(429);
  });
});

describe('security headers', () => {
  const webDir = mkdtempSync(join(tmpdir(), 'hl-web-'));
  mkdirSync(join(webDir, 'assets'));
  writeFileSync(join(webDir, 'index.html'), '<!doctype html><script type="module" src="/assets/app.js"></script><div id="app"></div>');
  writeFileSync(join(webDir, 'assets', 'app.js'), 'console.log(1)');
  const t = makeApp({ config: { webDir } });

  it.each(['/', '/usage', '/assets/app.js', '/api/health', '/api/v1/usage', '/api/v1/nothing'])('%s carries CSP and friends', async (path) => {
    const res = await t.app.request(path);
    const csp = res.headers.get('content-security-policy') ?? '';
    const directives = new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k, v.join(' ')]));
    expect(directives.get('script-src')).toBe("'self'");
    expect(directives.get('default-src')).toBe("'self'");
    expect(directives.get('frame-ancestors')).toBe("'none'");
    expect(directives.get('object-src')).toBe("'none'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('referrer-policy')).toBe('same-origin');
  });
});
