/**
 * Issue 16 point 1: single sign-on by OpenID Connect, end to end against a real provider
 * (oidc-provider, certified) started here, through real HTTP redirects: the sign-in of each
 * kind of person, every way the answer can be wrong (audience, expiry, nonce, signature,
 * replayed state, the provider's refusal) and the provider being down.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { AssociationsBatch } from '../../collectors/shared/wire.ts';
import { addUser } from '../../server/services/auth.service.ts';
import { job, iso, T0 } from '../support/factories.ts';
import {
  authorize,
  CookieJar,
  decodeJwt,
  freePort,
  reserve,
  startHeatLedger,
  startProvider,
  type Account,
  type HeatLedgerServer,
  type Reserved,
  type TestProvider,
} from '../support/oidc-provider.ts';

const SECRET = 'heatledger-client-secret';
const callbackOf = (r: Reserved) => `${r.url}/api/v1/auth/oidc/callback`;
const oidcEnv = (issuer: string, over: Record<string, string> = {}) => ({
  HEATLEDGER_OIDC_ISSUER: issuer,
  HEATLEDGER_OIDC_CLIENT_ID: 'heatledger',
  HEATLEDGER_OIDC_CLIENT_SECRET: SECRET,
  HEATLEDGER_OIDC_NAME: 'DeiC Login',
  HEATLEDGER_OIDC_SCOPES: 'openid profile email groups',
  HEATLEDGER_OIDC_ROLE_MAP: 'hpc-committee=committee,hpc-facility=facility,hpc-admin=admin',
  ...over,
});

const accounts: Record<string, Account> = {
  rita: { preferred_username: 'rita', email: 'rita@example.org', email_verified: true },
  cora: { preferred_username: 'cora', groups: ['staff', 'hpc-committee'], email: 'cora@example.org' },
  ada: { preferred_username: 'ada', groups: ['hpc-committee', 'hpc-admin', 'hpc-facility'] },
  fred: { preferred_username: 'fred', groups: 'hpc-facility' },
  vera: { preferred_username: 'vera', email: 'vera@example.org', email_verified: false },
  root: { preferred_username: 'root', groups: [], email: 'intruder@example.org' },
  eve: { preferred_username: 'eve', groups: ['hpc-admin'] },
  anon: {},
};

/** The failure page's message. */
const failure = async (res: Response) => /<p data-testid="sign-in-failure">([^<]*)<\/p>/.exec(await res.text())?.[1]?.replace(/&#39;/g, "'") ?? '(no failure message)';
const me = async (jar: CookieJar, hl: HeatLedgerServer) => ((await (await jar.fetch(`${hl.url}/api/v1/auth/me`)).json()) as { me: { username: string; role: string; projects: string[] } | null; oidc: { name: string; loginUrl: string } | null });
const count = (hl: HeatLedgerServer, sql: string, ...args: unknown[]) => (hl.db.$client.prepare(sql).get(...args) as { n: number }).n;
const userRow = (hl: HeatLedgerServer, username: string) =>
  hl.db.$client.prepare('SELECT role, password_hash AS passwordHash, email FROM users WHERE username = ?').get(username) as { role: string; passwordHash: string | null; email: string | null } | undefined;

/** Signs `username` in on `hl` all the way: the callback's answer and the browser's jar. */
async function signIn(hl: HeatLedgerServer, username: string) {
  const { jar, callbackUrl, loginResponse } = await authorize(hl.url, username);
  const callback = await jar.fetch(callbackUrl);
  return { jar, callback, callbackUrl, loginResponse };
}

/** A copy of the ID token in a token answer, changed and signed again with the provider's own key. */
const resigned = (p: TestProvider, change: Record<string, unknown>) => (body: { id_token?: string }) => {
  const { header, payload } = decodeJwt(body.id_token!);
  return { ...body, id_token: p.signWithProviderKey(header, { ...payload, ...change }) };
};

describe('single sign-on through a real OpenID provider', () => {
  let provider: TestProvider;
  let main: HeatLedgerServer;
  let late: HeatLedgerServer;
  let early: HeatLedgerServer;
  let fresh: HeatLedgerServer;
  let wrongSecret: HeatLedgerServer;
  const servers: HeatLedgerServer[] = [];
  const warn = vi.spyOn(console, 'warn');

  beforeAll(async () => {
    const spots = { main: await reserve(), late: await reserve(), early: await reserve(), fresh: await reserve(), wrongSecret: await reserve() };
    provider = await startProvider({
      accounts,
      clients: [
        {
          client_id: 'heatledger',
          client_secret: SECRET,
          redirect_uris: Object.values(spots).map(callbackOf),
          post_logout_redirect_uris: [`${spots.main.url}/`],
          token_endpoint_auth_method: 'client_secret_basic',
        },
      ],
      idTokenTtlS: 60,
    });
    main = await startHeatLedger(spots.main, oidcEnv(provider.issuer));
    // The app's clock 120 s ahead of the provider's: a 60 s ID token is 60 s past its exp, beyond the 30 s tolerance.
    late = await startHeatLedger(spots.late, oidcEnv(provider.issuer), { clockOffsetMs: 120_000 });
    // 80 s ahead: 20 s past exp, within the 30 s tolerance.
    early = await startHeatLedger(spots.early, oidcEnv(provider.issuer), { clockOffsetMs: 80_000 });
    fresh = await startHeatLedger(spots.fresh, oidcEnv(provider.issuer));
    wrongSecret = await startHeatLedger(spots.wrongSecret, oidcEnv(provider.issuer, { HEATLEDGER_OIDC_CLIENT_SECRET: 'not-the-secret' }));
    servers.push(main, late, early, fresh, wrongSecret);
    // rita is in proj-a and bob in proj-b by Slurm's associations; each ran one job.
    const post = (path: string, body: unknown) =>
      fetch(`${main.url}/api/v1/ingest/${path}`, { method: 'POST', headers: { authorization: `Bearer ${main.ingestToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const associations: AssociationsBatch = {
      schema: 1,
      cluster: 'c',
      associations: [
        { account: 'proj-a', user: null, parent: 'root' },
        { account: 'proj-a', user: 'rita' },
        { account: 'proj-b', user: null, parent: 'root' },
        { account: 'proj-b', user: 'bob' },
      ],
      coordinators: [],
    };
    expect((await post('associations', associations)).status).toBe(202);
    const jobs = [job({ jobId: '1', account: 'proj-a', user: 'rita' }), job({ jobId: '2', account: 'proj-b', user: 'bob' })];
    expect((await post('jobs', { schema: 1, cluster: 'c', jobs })).status).toBe(202);
  });

  afterEach(() => {
    provider.setTamper(null);
    provider.failDiscovery(false);
  });

  afterAll(async () => {
    for (const s of servers) await s.stop();
    await provider?.stop();
    warn.mockRestore();
  });

  it('sends the browser to the provider with PKCE (S256), state and nonce, in a short-lived Lax cookie', async () => {
    const res = await new CookieJar().fetch(`${main.url}/api/v1/auth/oidc/login`);
    expect(res.status).toBe(302);
    const to = new URL(res.headers.get('location')!);
    expect(`${to.origin}${to.pathname}`).toBe(`${provider.issuer}/auth`);
    const q = Object.fromEntries(to.searchParams);
    expect(q).toMatchObject({ client_id: 'heatledger', response_type: 'code', code_challenge_method: 'S256', scope: 'openid profile email groups', redirect_uri: `${main.url}/api/v1/auth/oidc/callback` });
    // base64url of a SHA-256 is 43 characters; state and nonce are 32 random bytes (43 characters).
    expect(q.code_challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.state).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.state).not.toBe(q.nonce);
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('hl_oidc='))!;
    expect(cookie.split('; ').slice(1).sort()).toEqual(['HttpOnly', 'Max-Age=600', 'Path=/api/v1/auth/oidc', 'SameSite=Lax']);
    // The cookie is an opaque binding: neither the state, the nonce nor the verifier.
    const value = cookie.split(';')[0]!.slice('hl_oidc='.length);
    expect([q.state, q.nonce]).not.toContain(value);
  });

  it('signs a researcher in: session cookie, /me with their Slurm projects, a user without a password, the verified email kept', async () => {
    const sessionsBefore = count(main, 'SELECT COUNT(*) AS n FROM sessions');
    const { jar, callback } = await signIn(main, 'rita');
    expect(callback.status).toBe(302);
    expect(callback.headers.get('location')).toBe('/');
    const session = callback.headers.getSetCookie().find((c) => c.startsWith('hl_session='))!;
    expect(session.split('; ').slice(1).sort()).toEqual(['HttpOnly', 'Max-Age=43200', 'Path=/', 'SameSite=Strict']);
    // The sign-in cookie is spent.
    expect(callback.headers.getSetCookie()).toContain('hl_oidc=; Max-Age=0; Path=/api/v1/auth/oidc');
    expect(jar.get('127.0.0.1', 'hl_oidc')).toBeUndefined();
    expect(await me(jar, main)).toEqual({ me: { username: 'rita', role: 'researcher', projects: ['proj-a'] }, oidc: { name: 'DeiC Login', loginUrl: '/api/v1/auth/oidc/login' } });
    expect(userRow(main, 'rita')).toEqual({ role: 'researcher', passwordHash: null, email: 'rita@example.org' });
    expect(count(main, 'SELECT COUNT(*) AS n FROM sessions')).toBe(sessionsBefore + 1);
    expect(provider.tokenClientAuth()).toBe('basic');
  });

  it('makes a member of the committee group a committee member, who may read the energy KPIs a researcher may not', async () => {
    const cora = await signIn(main, 'cora');
    expect(cora.callback.status).toBe(302);
    expect((await me(cora.jar, main)).me).toEqual({ username: 'cora', role: 'committee', projects: [] });
    const rita = await signIn(main, 'rita');
    const kpis = `${main.url}/api/v1/energy/kpis?from=${iso(T0)}&to=${iso(T0 + 3_600_000)}`;
    expect((await cora.jar.fetch(kpis)).status).toBe(200);
    const refused = await rita.jar.fetch(kpis);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('FORBIDDEN');
  });

  it('gives the most privileged mapped role when several groups map, and takes a group given as a string', async () => {
    const ada = await signIn(main, 'ada');
    expect((await me(ada.jar, main)).me).toEqual({ username: 'ada', role: 'admin', projects: [] });
    const fred = await signIn(main, 'fred');
    expect((await me(fred.jar, main)).me).toEqual({ username: 'fred', role: 'facility', projects: [] });
    // The admin may read the audit log, the facility person may not.
    expect((await ada.jar.fetch(`${main.url}/api/v1/allocations/audit`)).status).toBe(200);
    expect((await fred.jar.fetch(`${main.url}/api/v1/allocations/audit`)).status).toBe(403);
  });

  it('sets the role to what the provider says at every sign-in, for sessions already open too', async () => {
    accounts.eve = { preferred_username: 'eve', groups: ['hpc-admin'] };
    const first = await signIn(main, 'eve');
    expect((await me(first.jar, main)).me?.role).toBe('admin');
    accounts.eve = { preferred_username: 'eve', groups: ['hpc-committee'] };
    const second = await signIn(main, 'eve');
    expect((await me(second.jar, main)).me?.role).toBe('committee');
    // The earlier session is the same person: no longer an admin either.
    expect((await me(first.jar, main)).me?.role).toBe('committee');
    expect(userRow(main, 'eve')?.role).toBe('committee');
  });

  it('does not store an email the provider marks unverified', async () => {
    const vera = await signIn(main, 'vera');
    expect(vera.callback.status).toBe(302);
    expect(userRow(main, 'vera')).toEqual({ role: 'researcher', passwordHash: null, email: null });
  });

  it('leaves a local break-glass administrator with a password as it is', async () => {
    addUser(main.db, { username: 'root', role: 'admin', password: 'break-glass-password' });
    const before = userRow(main, 'root')!;
    const root = await signIn(main, 'root');
    expect(root.callback.status).toBe(302);
    // The provider says no group (a researcher) and another email: neither is taken.
    expect((await me(root.jar, main)).me?.role).toBe('admin');
    expect(userRow(main, 'root')).toEqual(before);
    expect(before.email).toBeNull();
    const local = await fetch(`${main.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'root', password: 'break-glass-password' }) });
    expect(local.status).toBe(200);
    expect(await local.json()).toEqual({ username: 'root', role: 'admin', projects: [] });
  });

  it('gives a researcher made by single sign-on what a researcher gets: their own project and jobs, 403 elsewhere', async () => {
    const { jar } = await signIn(main, 'rita');
    const w = `from=${iso(T0 - 3_600_000)}&to=${iso(T0 + 3 * 3_600_000)}`;
    const get = async (path: string) => {
      const res = await jar.fetch(`${main.url}${path}`);
      return { status: res.status, body: (await res.json()) as { rows?: Array<{ key?: string; user?: string; jobId?: string }> } };
    };
    // The researcher column of test/integration/roles.test.ts.
    const statuses: Record<string, number> = {};
    for (const path of [
      `/api/v1/usage?${w}&groupBy=project`,
      `/api/v1/usage?${w}&groupBy=user`,
      `/api/v1/energy/kpis?${w}`,
      `/api/v1/energy/cooling?${w}`,
      '/api/v1/reports/eed?year=2026',
      `/api/v1/jobs?${w}`,
      '/api/v1/allocations/audit',
      `/api/v1/projects/proj-a/review?${w}`,
      `/api/v1/projects/proj-b/review?${w}`,
    ]) {
      statuses[path.split('?')[0]! + (path.includes('groupBy=') ? `?${/groupBy=\w+/.exec(path)![0]}` : '')] = (await get(path)).status;
    }
    expect(statuses).toEqual({
      '/api/v1/usage?groupBy=project': 200,
      '/api/v1/usage?groupBy=user': 200,
      '/api/v1/energy/kpis': 403,
      '/api/v1/energy/cooling': 403,
      '/api/v1/reports/eed': 403,
      '/api/v1/jobs': 200,
      '/api/v1/allocations/audit': 403,
      '/api/v1/projects/proj-a/review': 200,
      '/api/v1/projects/proj-b/review': 403,
    });
    expect((await get(`/api/v1/usage?${w}&groupBy=project`)).body.rows!.map((r) => r.key)).toEqual(['proj-a']);
    expect((await get(`/api/v1/usage?${w}&groupBy=user`)).body.rows!.map((r) => r.key)).toEqual(['rita']);
    expect((await get(`/api/v1/jobs?${w}`)).body.rows!.map((r) => [r.jobId, r.user])).toEqual([['1', 'rita']]);
    const ingest = await jar.fetch(`${main.url}/api/v1/ingest/jobs`, { method: 'POST', headers: { 'content-type': 'application/json', origin: main.url }, body: JSON.stringify({ schema: 1, cluster: 'c', jobs: [] }) });
    expect(ingest.status).toBe(403);
  });

  it('refuses an ID token issued for another client (signed by the provider), opening no session', async () => {
    const sessionsBefore = count(main, 'SELECT COUNT(*) AS n FROM sessions');
    provider.setTamper(resigned(provider, { aud: 'another-client' }));
    const { jar, callback } = await signIn(main, 'eve');
    expect(callback.status).toBe(401);
    expect(callback.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await failure(callback)).toBe('The sign-in could not be verified: the ID token was issued for another client.');
    expect(callback.headers.getSetCookie().some((c) => c.startsWith('hl_session='))).toBe(false);
    expect((await me(jar, main)).me).toBeNull();
    expect(count(main, 'SELECT COUNT(*) AS n FROM sessions')).toBe(sessionsBefore);
  });

  it('refuses an ID token naming another issuer (signed by the provider)', async () => {
    provider.setTamper(resigned(provider, { iss: 'https://idp.elsewhere.example' }));
    const { jar, callback } = await signIn(main, 'cora');
    expect(callback.status).toBe(401);
    expect(await failure(callback)).toBe('The sign-in could not be verified: the ID token was issued by another provider.');
    expect((await me(jar, main)).me).toBeNull();
  });

  it('refuses an ID token with another nonce (signed by the provider)', async () => {
    provider.setTamper(resigned(provider, { nonce: 'the-nonce-of-another-sign-in' }));
    const { jar, callback } = await signIn(main, 'cora');
    expect(callback.status).toBe(401);
    expect(await failure(callback)).toBe('The sign-in could not be verified: the ID token belongs to another sign-in (its nonce does not match).');
    expect((await me(jar, main)).me).toBeNull();
  });

  it('refuses an ID token whose signature was altered in flight, or made with a key the provider does not publish', async () => {
    provider.setTamper((body) => {
      const [h, p, s] = body.id_token!.split('.') as [string, string, string];
      const i = Math.floor(s.length / 2);
      return { ...body, id_token: `${h}.${p}.${s.slice(0, i)}${s[i] === 'A' ? 'B' : 'A'}${s.slice(i + 1)}` };
    });
    const flipped = await signIn(main, 'cora');
    expect(flipped.callback.status).toBe(401);
    expect(await failure(flipped.callback)).toBe("The sign-in could not be verified: the ID token's signature is not valid.");
    expect((await me(flipped.jar, main)).me).toBeNull();

    provider.setTamper((body) => {
      const { header, payload } = decodeJwt(body.id_token!);
      return { ...body, id_token: provider.signWithOtherKey(header, payload) };
    });
    const forged = await signIn(main, 'ada');
    expect(forged.callback.status).toBe(401);
    expect(await failure(forged.callback)).toBe("The sign-in could not be verified: the ID token's signature is not valid.");
    expect((await me(forged.jar, main)).me).toBeNull();
  });

  it('refuses an expired ID token: 60 s past its exp with a 30 s tolerance; accepts one 20 s past', async () => {
    let seen: Record<string, unknown> = {};
    provider.setTamper((body) => {
      seen = decodeJwt(body.id_token!).payload;
      return body;
    });
    const expired = await signIn(late, 'cora');
    // The provider issued it for 60 s (ttl.IdToken), so the app's clock, 120 s ahead, is past it.
    expect((seen.exp as number) - (seen.iat as number)).toBe(60);
    expect(expired.callback.status).toBe(401);
    expect(await failure(expired.callback)).toBe('The sign-in could not be verified: the ID token has expired (or the clocks of HeatLedger and the provider disagree).');
    expect((await me(expired.jar, late)).me).toBeNull();
    expect(userRow(late, 'cora')).toBeUndefined();

    const tolerated = await signIn(early, 'cora');
    expect(tolerated.callback.status).toBe(302);
    expect((await me(tolerated.jar, early)).me).toEqual({ username: 'cora', role: 'committee', projects: [] });
  });

  it('takes a state once: the same callback again is refused and never reaches the provider', async () => {
    const { jar, callback, callbackUrl } = await signIn(main, 'fred');
    expect(callback.status).toBe(302);
    const tokenRequests = provider.tokenRequests();
    const again = await jar.fetch(callbackUrl);
    expect(again.status).toBe(400);
    expect(await failure(again)).toBe('The sign-in could not be completed: it is unknown, was already used, or took longer than 10 minutes (state). Start again from the sign-in page.');
    expect(again.headers.getSetCookie().some((c) => c.startsWith('hl_session='))).toBe(false);
    // Someone else replaying the same address gets no further.
    const stolen = await new CookieJar().fetch(callbackUrl);
    expect(stolen.status).toBe(400);
    expect(provider.tokenRequests()).toBe(tokenRequests);
  });

  it('refuses a callback in a browser that did not start the sign-in (login CSRF), and the state is spent', async () => {
    const { jar, callbackUrl } = await authorize(main.url, 'ada');
    const other = new CookieJar();
    const res = await other.fetch(callbackUrl);
    expect(res.status).toBe(400);
    expect(await failure(res)).toBe('The sign-in could not be completed: it was started in another browser (its sign-in cookie is missing). Start again from the sign-in page.');
    expect((await me(other, main)).me).toBeNull();
    expect((await jar.fetch(callbackUrl)).status).toBe(400);
  });

  it("shows the provider's refusal (?error=access_denied) as a page, not an error", async () => {
    const { jar, callbackUrl } = await authorize(main.url, 'rita', { abort: true });
    expect(Object.fromEntries(new URL(callbackUrl).searchParams)).toMatchObject({ error: 'access_denied', error_description: 'End-User aborted interaction' });
    const res = await jar.fetch(callbackUrl);
    expect(res.status).toBe(401);
    expect(await failure(res)).toBe('The sign-in service DeiC Login did not sign you in (access_denied: End-User aborted interaction).');
    expect((await me(jar, main)).me).toBeNull();
  });

  it("shows the provider's refusal of the code (a wrong client secret) as a page", async () => {
    const { callback } = await signIn(wrongSecret, 'rita');
    expect(callback.status).toBe(401);
    expect(await failure(callback)).toMatch(/^The sign-in service DeiC Login refused to complete the sign-in \(invalid_client: .+\)\. Start again from the sign-in page\.$/);
  });

  it('refuses a sign-in without the user name claim', async () => {
    const { callback } = await signIn(main, 'anon');
    expect(callback.status).toBe(401);
    expect(await failure(callback)).toBe('The sign-in could not be completed: the provider sent no preferred_username claim (the user name).');
    expect(count(main, "SELECT COUNT(*) AS n FROM users WHERE username = 'anon'")).toBe(0);
  });

  it('answers 503 with a page when the provider cannot be reached, and keeps answering the API', async () => {
    const port = await freePort();
    const spot = await reserve();
    const down = await startHeatLedger(spot, oidcEnv(`http://127.0.0.1:${port}`, { HEATLEDGER_OIDC_NAME: 'UCloud' }));
    servers.push(down);
    warn.mockClear();
    for (let attempt = 0; attempt < 2; attempt++) {
      const res = await new CookieJar().fetch(`${down.url}/api/v1/auth/oidc/login`);
      expect(res.status).toBe(503);
      expect(await failure(res)).toBe('The sign-in service UCloud cannot be reached; try again later, or sign in with a local account.');
      expect(res.headers.getSetCookie()).toEqual([]);
    }
    // Both attempts tried the provider (a failed discovery is not kept), and the log says why.
    expect(warn.mock.calls.filter((c) => String(c[0]).includes('cannot be reached'))).toHaveLength(2);
    expect(String(warn.mock.calls[0]![1])).toContain('ECONNREFUSED');
    expect(await me(new CookieJar(), down)).toEqual({ me: null, oidc: { name: 'UCloud', loginUrl: '/api/v1/auth/oidc/login' } });
  });

  it('discovers the provider at the first sign-in, tries again after a failed discovery, and keeps what it found', async () => {
    provider.failDiscovery(true);
    expect((await new CookieJar().fetch(`${fresh.url}/api/v1/auth/oidc/login`)).status).toBe(503);
    provider.failDiscovery(false);
    expect((await new CookieJar().fetch(`${fresh.url}/api/v1/auth/oidc/login`)).status).toBe(302);
    provider.failDiscovery(true);
    const { callback, jar } = await signIn(fresh, 'rita');
    expect(callback.status).toBe(302);
    expect((await me(jar, fresh)).me?.username).toBe('rita');
  });

  it('answers 503 with a page when the token endpoint drops the connection', async () => {
    const { jar, callbackUrl } = await authorize(main.url, 'rita');
    provider.setTamper('reset');
    const res = await jar.fetch(callbackUrl);
    expect(res.status).toBe(503);
    expect(await failure(res)).toBe('The sign-in service DeiC Login cannot be reached; try again later, or sign in with a local account.');
    expect((await me(jar, main)).me).toBeNull();
  });

  it("ends the session at logout and sends the person to the provider's logout, which comes back to HeatLedger", async () => {
    const { jar } = await signIn(main, 'cora');
    const sessionsBefore = count(main, 'SELECT COUNT(*) AS n FROM sessions');
    const res = await jar.fetch(`${main.url}/api/v1/auth/logout`, { method: 'POST', headers: { origin: main.url } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { ok: boolean; redirect: string };
    expect(body.ok).toBe(true);
    const to = new URL(body.redirect);
    expect(`${to.origin}${to.pathname}`).toBe(`${provider.issuer}/session/end`);
    expect(Object.fromEntries(to.searchParams)).toEqual({ client_id: 'heatledger', post_logout_redirect_uri: `${main.url}/` });
    expect(count(main, 'SELECT COUNT(*) AS n FROM sessions')).toBe(sessionsBefore - 1);
    expect((await me(jar, main)).me).toBeNull();
    // At the provider: its confirmation form, then back to HeatLedger's address.
    const confirm = await jar.fetch(body.redirect);
    const html = await confirm.text();
    const action = /<form[^>]*action="([^"]+)"/.exec(html)![1]!;
    const fields = Object.fromEntries([...html.matchAll(/<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    const done = await jar.fetch(new URL(action, body.redirect).href, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ ...fields, logout: 'yes' }).toString() });
    expect(done.status).toBe(303);
    let next = new URL(done.headers.get('location')!, body.redirect).href;
    for (let i = 0; i < 5 && !next.startsWith(main.url); i++) {
      const step = await jar.fetch(next);
      next = new URL(step.headers.get('location')!, next).href;
    }
    expect(next).toBe(`${main.url}/`);
  });

  it('answers a local account\'s logout with { ok: true } alone', async () => {
    addUser(main.db, { username: 'lena', role: 'facility', password: 'a long password' });
    const login = await fetch(`${main.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'lena', password: 'a long password' }) });
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const res = await fetch(`${main.url}/api/v1/auth/logout`, { method: 'POST', headers: { cookie, origin: main.url } });
    expect(await res.json()).toEqual({ ok: true });
  });
});

describe('a provider that keeps profile claims out of the ID token and takes client_secret_post only', () => {
  let provider: TestProvider;
  let hl: HeatLedgerServer;

  beforeAll(async () => {
    const spot = await reserve();
    provider = await startProvider({
      accounts: { cora: { preferred_username: 'cora', groups: ['hpc-committee'], email: 'cora@example.org' } },
      clients: [{ client_id: 'heatledger', client_secret: SECRET, redirect_uris: [callbackOf(spot)], token_endpoint_auth_method: 'client_secret_post' }],
      conformIdTokenClaims: true,
      clientAuthMethods: ['client_secret_post'],
    });
    hl = await startHeatLedger(spot, oidcEnv(provider.issuer));
  });

  afterAll(async () => {
    await hl?.stop();
    await provider?.stop();
  });

  it('authenticates with client_secret_post and takes the user name and groups from userinfo', async () => {
    let idToken: Record<string, unknown> = {};
    provider.setTamper((body) => {
      idToken = decodeJwt(body.id_token!).payload;
      return body;
    });
    const { jar, callback } = await signIn(hl, 'cora');
    expect(callback.status).toBe(302);
    expect(provider.tokenClientAuth()).toBe('post');
    expect(idToken.sub).toBe('cora');
    expect(idToken.preferred_username).toBeUndefined();
    expect(idToken.groups).toBeUndefined();
    expect((await me(jar, hl)).me).toEqual({ username: 'cora', role: 'committee', projects: [] });
    expect(userRow(hl, 'cora')).toEqual({ role: 'committee', passwordHash: null, email: 'cora@example.org' });
  });
});
