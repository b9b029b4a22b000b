/**
 * A real OpenID provider for tests (panva's certified oidc-provider) on 127.0.0.1, a
 * HeatLedger app served on a real port with single sign-on configured, and a small
 * cookie-keeping HTTP client that walks the provider's sign-in pages as a browser would.
 */
import { createHash, createPrivateKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import Provider, { type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { openDatabase, type Db } from '../../db/client.ts';
import { createApp } from '../../server/app.ts';
import { loadConfig, type Config } from '../../server/config.ts';
import { createToken } from '../../server/services/auth.service.ts';

/** An account at the provider: the claims it releases. */
export interface Account {
  preferred_username?: string;
  groups?: string[] | string;
  email?: string;
  email_verified?: boolean;
}

/** A port that was free a moment ago (listened on, then closed). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

const close = (server: Server) =>
  new Promise<void>((r) => {
    server.closeAllConnections();
    server.close(() => r());
  });

/** A HeatLedger app listening on 127.0.0.1 with single sign-on at `issuer`. */
export interface HeatLedgerServer {
  url: string;
  db: Db;
  config: Config;
  ingestToken: string;
  stop(): Promise<void>;
}

/** A listening server that answers nothing yet: its address goes into the provider's client registration first. */
export interface Reserved {
  url: string;
  server: Server;
}

/** Listens on a free port of 127.0.0.1 (startHeatLedger serves the app on it). */
export async function reserve(): Promise<Reserved> {
  const server = createServer();
  return { url: `http://127.0.0.1:${await listen(server)}`, server };
}

/**
 * Serves HeatLedger on `reserved` with HEATLEDGER_OIDC_* set as given (the public URL is
 * its address). `clockOffsetMs` moves the app's clock against the system's.
 */
export async function startHeatLedger({ url, server }: Reserved, env: Record<string, string>, { clockOffsetMs = 0 }: { clockOffsetMs?: number } = {}): Promise<HeatLedgerServer> {
  const config = loadConfig({ HEATLEDGER_PUBLIC_URL: url, ...env }, { dbPath: ':memory:', readCacheMs: 0, webDir: env.HEATLEDGER_WEB_DIR ?? '/nonexistent' });
  const db = openDatabase(':memory:');
  const app = createApp({ db, config, now: () => Date.now() + clockOffsetMs });
  server.on('request', getRequestListener(app.fetch));
  return { url, db, config, ingestToken: createToken(db, 'test-ingest', 'ingest'), stop: () => close(server) };
}

/** What the test provider does to the token endpoint's answer (null: nothing). */
export type Tamper = ((body: { id_token?: string } & Record<string, unknown>) => Record<string, unknown>) | 'reset' | null;

export interface TestProvider {
  issuer: string;
  provider: Provider;
  /** Token requests answered so far. */
  tokenRequests(): number;
  /** How the last token request authenticated the client: an Authorization header (basic) or not (post). */
  tokenClientAuth(): 'basic' | 'post' | null;
  /** Discovery answers 503 while set (the provider is "down" for its metadata). */
  failDiscovery(on: boolean): void;
  setTamper(tamper: Tamper): void;
  /** Signs `payload` with the provider's own key, as the provider would. */
  signWithProviderKey(header: Record<string, unknown>, payload: Record<string, unknown>): string;
  /** Signs with a key the provider does not publish, under the provider key's kid. */
  signWithOtherKey(header: Record<string, unknown>, payload: Record<string, unknown>): string;
  stop(): Promise<void>;
}

const b64u = (b: Buffer | string) => Buffer.from(b).toString('base64url');

function signRs256(key: KeyObject, header: Record<string, unknown>, payload: Record<string, unknown>): string {
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(payload))}`;
  return `${input}.${b64u(sign('sha256', Buffer.from(input), key))}`;
}

/** The header and claims of a compact JWS (not verified: the test's own view of what the provider sent). */
export function decodeJwt(jwt: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [h, p] = jwt.split('.');
  return { header: JSON.parse(Buffer.from(h!, 'base64url').toString()) as Record<string, unknown>, payload: JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown> };
}

/**
 * Starts oidc-provider on a free port with the given accounts and clients. PKCE is required
 * for every client; profile, email and groups claims go into the ID token unless
 * `conformIdTokenClaims` (then only userinfo has them); ID tokens live `idTokenTtlS`.
 */
export async function startProvider({
  accounts,
  clients,
  conformIdTokenClaims = false,
  clientAuthMethods,
  idTokenTtlS = 60,
}: {
  accounts: Record<string, Account>;
  clients: Configuration['clients'];
  conformIdTokenClaims?: boolean;
  clientAuthMethods?: Configuration['clientAuthMethods'];
  idTokenTtlS?: number;
}): Promise<TestProvider> {
  const server = createServer();
  const port = await listen(server);
  const issuer = `http://127.0.0.1:${port}`;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key-1', use: 'sig', alg: 'RS256' };
  const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const provider = new Provider(issuer, {
    clients,
    jwks: { keys: [jwk] },
    findAccount: (_ctx, sub) => {
      const account = accounts[sub];
      return account ? { accountId: sub, claims: () => ({ sub, ...account }) } : undefined;
    },
    claims: { openid: ['sub'], profile: ['preferred_username'], email: ['email', 'email_verified'], groups: ['groups'] },
    scopes: ['openid', 'profile', 'email', 'groups'],
    conformIdTokenClaims,
    ...(clientAuthMethods ? { clientAuthMethods } : {}),
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
    ttl: { IdToken: idTokenTtlS, AccessToken: 600, Interaction: 600, Session: 3600, Grant: 3600 },
    cookies: { keys: [createHash('sha256').update(issuer).digest('hex')] },
  });
  let tokenRequests = 0;
  let tokenClientAuth: 'basic' | 'post' | null = null;
  let tamper: Tamper = null;
  let discoveryDown = false;
  provider.use(async (ctx: KoaContextWithOIDC, next: () => Promise<void>) => {
    if (ctx.path === '/.well-known/openid-configuration' && discoveryDown) {
      ctx.status = 503;
      ctx.body = 'down for maintenance';
      return;
    }
    if (ctx.path === '/token') {
      tokenRequests += 1;
      tokenClientAuth = /^basic /i.test(ctx.get('authorization')) ? 'basic' : 'post';
      if (tamper === 'reset') {
        ctx.req.socket.destroy();
        return;
      }
    }
    await next();
    if (ctx.path === '/token' && ctx.status === 200 && typeof tamper === 'function') ctx.body = tamper(ctx.body as { id_token?: string });
  });
  server.on('request', provider.callback());
  const providerKey = createPrivateKey({ key: jwk, format: 'jwk' });
  return {
    issuer,
    provider,
    tokenRequests: () => tokenRequests,
    tokenClientAuth: () => tokenClientAuth,
    failDiscovery: (on) => (discoveryDown = on),
    setTamper: (t) => (tamper = t),
    signWithProviderKey: (header, payload) => signRs256(providerKey, header, payload),
    signWithOtherKey: (header, payload) => signRs256(otherKey, header, payload),
    stop: () => close(server),
  };
}

/** Cookies by host, as a browser keeps them (ports share a host's cookies, as in browsers). */
export class CookieJar {
  private readonly cookies = new Map<string, Map<string, { value: string; path: string }>>();

  header(url: URL): string {
    const kept = this.cookies.get(url.hostname);
    if (!kept) return '';
    return [...kept]
      .filter(([, c]) => url.pathname.startsWith(c.path))
      .map(([name, c]) => `${name}=${c.value}`)
      .join('; ');
  }

  store(url: URL, res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      const attr = (n: string) => attrs.find((a) => a.toLowerCase().startsWith(`${n}=`))?.split('=').slice(1).join('=');
      const path = attr('path') ?? '/';
      const maxAge = attr('max-age');
      const expires = attr('expires');
      const gone = value === '' || (maxAge !== undefined && Number(maxAge) <= 0) || (expires !== undefined && Date.parse(expires) <= Date.now());
      let kept = this.cookies.get(url.hostname);
      if (!kept) this.cookies.set(url.hostname, (kept = new Map()));
      if (gone) kept.delete(name);
      else kept.set(name, { value, path });
    }
  }

  get(host: string, name: string): string | undefined {
    return this.cookies.get(host)?.get(name)?.value;
  }

  /** fetch with this jar and without following redirects. */
  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const u = new URL(url);
    const headers = new Headers(init.headers);
    const cookie = this.header(u);
    if (cookie) headers.set('cookie', cookie);
    const res = await fetch(u, { ...init, headers, redirect: 'manual' });
    this.store(u, res);
    return res;
  }
}

/** The form on one of the provider's interaction pages: its action and inputs. */
function formOf(html: string, base: string): { action: string; fields: Record<string, string> } {
  const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
  if (!action) throw new Error(`no form on the provider's page:\n${html.slice(0, 2000)}`);
  const fields: Record<string, string> = {};
  for (const m of html.matchAll(/<input([^>]*)>/g)) {
    const name = /name="([^"]+)"/.exec(m[1]!)?.[1];
    const value = /value="([^"]*)"/.exec(m[1]!)?.[1];
    if (name) fields[name] = value ?? '';
  }
  return { action: new URL(action.replace(/&amp;/g, '&'), base).href, fields };
}

export interface Authorized {
  jar: CookieJar;
  /** HeatLedger's redirect to the provider (GET /api/v1/auth/oidc/login). */
  loginResponse: Response;
  /** Where the provider sent the browser back: HeatLedger's callback with code and state, not yet visited. */
  callbackUrl: string;
}

/**
 * Walks a sign-in as a browser does, up to the provider's redirect back to HeatLedger:
 * HeatLedger's /login, the provider's login form (submitted as `username`), its consent
 * form, or its abort link when `abort` is set.
 */
export async function authorize(heatledgerUrl: string, username: string, { jar = new CookieJar(), abort = false }: { jar?: CookieJar; abort?: boolean } = {}): Promise<Authorized> {
  const loginResponse = await jar.fetch(`${heatledgerUrl}/api/v1/auth/oidc/login`);
  if (loginResponse.status !== 302) throw new Error(`login answered ${loginResponse.status}: ${await loginResponse.text()}`);
  let next: { url: string; init?: RequestInit } = { url: loginResponse.headers.get('location')! };
  for (let step = 0; step < 20; step++) {
    if (next.url.startsWith(`${heatledgerUrl}/`)) return { jar, loginResponse, callbackUrl: next.url };
    const res = await jar.fetch(next.url, next.init);
    if (res.status >= 300 && res.status < 400) {
      next = { url: new URL(res.headers.get('location')!, next.url).href };
      continue;
    }
    const html = await res.text();
    if (res.status !== 200) throw new Error(`provider answered ${res.status} at ${next.url}:\n${html.slice(0, 2000)}`);
    if (abort) {
      const abortUrl = /href="([^"]*\/abort)"/.exec(html)?.[1];
      if (!abortUrl) throw new Error(`no abort link on the provider's page:\n${html.slice(0, 2000)}`);
      next = { url: new URL(abortUrl, next.url).href };
      continue;
    }
    const form = formOf(html, next.url);
    const fields = 'login' in form.fields ? { ...form.fields, login: username, password: 'any password' } : form.fields;
    next = { url: form.action, init: { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() } };
  }
  throw new Error('the sign-in did not come back to HeatLedger in 20 steps');
}
