/**
 * Single sign-on by OpenID Connect: the authorization code flow with PKCE, through the
 * certified `openid-client`. The provider's metadata is discovered on the first sign-in and
 * kept (a failed discovery is tried again at the next one). A sign-in in progress is kept
 * here for ten minutes under its `state`, with its nonce and PKCE verifier and a random
 * binding that the browser holds in a cookie; the callback takes it out, so a state works once.
 *
 * Every failure becomes a DomainError whose message says in plain words what failed:
 * UNAUTHORIZED when the answer could not be verified or was refused, VALIDATION when the
 * callback does not belong to a sign-in in progress, UNAVAILABLE when the provider cannot
 * be reached.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import * as client from 'openid-client';
import type { OidcConfig } from '../config.ts';
import { DomainError } from '../errors.ts';
import { emailFromClaims, roleFromClaim, claimAt, usernameFromClaims } from '../auth/oidc-claims.ts';
import type { Role } from './auth.service.ts';

/** How long a started sign-in may take at the provider. */
export const OIDC_ATTEMPT_MS = 10 * 60_000;
/** Most sign-ins in progress kept at once; beyond it the oldest are dropped. */
const MAX_ATTEMPTS = 10_000;
/** How long discovered metadata is used before it is fetched again. */
const METADATA_MS = 24 * 3_600_000;
/** Seconds of clock difference tolerated in the ID token's exp, nbf and iat. */
const CLOCK_TOLERANCE_S = 30;
/** Seconds one request to the provider may take. */
const REQUEST_TIMEOUT_S = 10;

export interface OidcIdentity {
  username: string;
  role: Role;
  email: string | null;
}

export interface OidcService {
  /** The provider's display name. */
  readonly name: string;
  /** Starts a sign-in: where to send the browser, and the binding for its short-lived cookie. */
  begin(): Promise<{ url: string; binding: string }>;
  /** Finishes one: checks the callback's query against the sign-in `binding` started, and the ID token. */
  finish(query: URLSearchParams, binding: string | undefined): Promise<OidcIdentity>;
  /** The provider's logout address (RP-initiated logout), or null when it has none or cannot be reached. */
  endSessionUrl(): Promise<string | null>;
}

interface Attempt {
  binding: string;
  nonce: string;
  codeVerifier: string;
  expiresTs: number;
}

/**
 * The service for one provider. `now` is the app's clock: the ID token's times are checked
 * against it (openid-client's clock skew is its difference from the system clock).
 */
export function createOidcService(config: OidcConfig, { now = Date.now, log = console.warn }: { now?: () => number; log?: (...line: unknown[]) => void } = {}): OidcService {
  const issuer = new URL(config.issuer);
  // Plain http only to a provider on this machine (a test or a development provider).
  const insecure = issuer.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(issuer.hostname);
  let metadata: { server: client.ServerMetadata; fetchedTs: number } | null = null;
  let discovering: Promise<client.ServerMetadata> | null = null;
  let jwks: ReturnType<typeof client.getJwksCache>;
  const attempts = new Map<string, Attempt>();

  const unreachable = (why: unknown) => {
    log(`OpenID Connect provider ${config.issuer} cannot be reached:`, describe(why));
    return new DomainError('UNAVAILABLE', `The sign-in service ${config.name} cannot be reached; try again later, or sign in with a local account.`);
  };

  /** The provider's metadata, discovered once (and again a day later, or after a failure). */
  function discover(): Promise<client.ServerMetadata> {
    if (metadata && now() - metadata.fetchedTs < METADATA_MS) return Promise.resolve(metadata.server);
    discovering ??= client
      .discovery(issuer, config.clientId, undefined, undefined, { execute: insecure ? [client.allowInsecureRequests] : [], timeout: REQUEST_TIMEOUT_S })
      .then((found) => {
        const server = found.serverMetadata();
        metadata = { server, fetchedTs: now() };
        return server;
      })
      .catch((error: unknown) => {
        throw unreachable(error);
      })
      .finally(() => (discovering = null));
    return discovering;
  }

  /**
   * A client over the discovered metadata, made for each use so that the clock skew is the
   * app clock's now. It authenticates as the provider's discovery offers: client_secret_basic
   * unless only client_secret_post is listed (basic is the specification's default).
   */
  function configuration(server: client.ServerMetadata): client.Configuration {
    const methods = server.token_endpoint_auth_methods_supported ?? ['client_secret_basic'];
    const secret = config.clientSecret;
    const auth = secret === null ? client.None() : methods.includes('client_secret_basic') || !methods.includes('client_secret_post') ? client.ClientSecretBasic(secret) : client.ClientSecretPost(secret);
    const metadataOfClient: Partial<client.ClientMetadata> = {
      [client.clockSkew]: Math.round((now() - Date.now()) / 1000),
      [client.clockTolerance]: CLOCK_TOLERANCE_S,
    };
    const cfg = new client.Configuration(server, config.clientId, metadataOfClient, auth);
    cfg.timeout = REQUEST_TIMEOUT_S;
    // Marked deprecated by openid-client only as a warning sign; used for a loopback provider alone.
    if (insecure) client.allowInsecureRequests(cfg);
    // openid-client trusts an ID token from the token endpoint by TLS alone (OIDC Core
    // 3.1.3.7 allows it); the signature is checked here too, against the provider's JWKS,
    // so that a token altered on its way (a TLS-terminating proxy, a plain-http provider) is refused.
    client.enableNonRepudiationChecks(cfg);
    if (jwks) client.setJwksCache(cfg, jwks);
    return cfg;
  }

  function keep(state: string, attempt: Attempt) {
    const t = now();
    for (const [key, a] of attempts) {
      // Oldest first: stop at the first one still live unless the map is full.
      if (a.expiresTs > t && attempts.size < MAX_ATTEMPTS) break;
      attempts.delete(key);
    }
    attempts.set(state, attempt);
  }

  return {
    name: config.name,

    async begin() {
      const server = await discover();
      const state = client.randomState();
      const nonce = client.randomNonce();
      const codeVerifier = client.randomPKCECodeVerifier();
      const binding = randomBytes(32).toString('base64url');
      let url: URL;
      try {
        url = client.buildAuthorizationUrl(configuration(server), {
          redirect_uri: config.redirectUri,
          scope: config.scopes.join(' '),
          state,
          nonce,
          code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
          code_challenge_method: 'S256',
        });
      } catch (error) {
        // Metadata without an authorization endpoint: the provider is not usable as it is.
        throw unreachable(error);
      }
      keep(state, { binding, nonce, codeVerifier, expiresTs: now() + OIDC_ATTEMPT_MS });
      return { url: url.href, binding };
    },

    async finish(query, binding) {
      const state = query.get('state');
      const attempt = state === null ? undefined : attempts.get(state);
      // Taken out before anything else is checked: whatever happens next, this state is spent.
      if (state !== null) attempts.delete(state);
      if (!attempt || attempt.expiresTs <= now()) {
        throw new DomainError('VALIDATION', 'The sign-in could not be completed: it is unknown, was already used, or took longer than 10 minutes (state). Start again from the sign-in page.');
      }
      if (!binding || !sameText(binding, attempt.binding)) {
        throw new DomainError('VALIDATION', 'The sign-in could not be completed: it was started in another browser (its sign-in cookie is missing). Start again from the sign-in page.');
      }
      const error = query.get('error');
      if (error !== null) {
        const description = query.get('error_description');
        const said = `${error.slice(0, 100)}${description ? `: ${description.slice(0, 300)}` : ''}`;
        throw new DomainError(error === 'access_denied' ? 'UNAUTHORIZED' : 'VALIDATION', `The sign-in service ${config.name} did not sign you in (${said}).`);
      }
      const cfg = configuration(await discover());
      // The address the provider was told to come back to, with the query it came back with
      // (behind a reverse proxy the request's own URL is not that address).
      const currentUrl = new URL(config.redirectUri);
      currentUrl.search = query.toString();
      let claims: Record<string, unknown>;
      try {
        const tokens = await client.authorizationCodeGrant(cfg, currentUrl, {
          pkceCodeVerifier: attempt.codeVerifier,
          expectedState: state!,
          expectedNonce: attempt.nonce,
          idTokenExpected: true,
        });
        claims = { ...tokens.claims()! };
        // A provider may keep profile claims out of the ID token (oidc-provider's default);
        // then they are in its userinfo answer, checked to be about the same subject.
        const missing = claimAt(claims, config.usernameClaim) === undefined || claimAt(claims, config.roleClaim) === undefined;
        if (missing && cfg.serverMetadata().userinfo_endpoint) {
          claims = { ...(await client.fetchUserInfo(cfg, tokens.access_token, claims.sub as string)), ...claims };
        }
      } catch (failure) {
        throw explain(failure, config.name, unreachable, log);
      } finally {
        jwks = client.getJwksCache(cfg);
      }
      const named = usernameFromClaims(claims, config.usernameClaim);
      if ('problem' in named) throw new DomainError('UNAUTHORIZED', `The sign-in could not be completed: ${named.problem}.`);
      return { username: named.username, role: roleFromClaim(claimAt(claims, config.roleClaim), config.roleMap), email: emailFromClaims(claims) };
    },

    async endSessionUrl() {
      let server: client.ServerMetadata;
      try {
        server = await discover();
      } catch {
        return null;
      }
      if (!server.end_session_endpoint) return null;
      return client.buildEndSessionUrl(configuration(server), { post_logout_redirect_uri: config.postLogoutRedirectUri }).href;
    },
  };
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The chain of causes of an error, outermost first. */
function causes(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = error; e !== undefined && e !== null && chain.length < 8; e = (e as { cause?: unknown }).cause) chain.push(e);
  return chain;
}

/** The messages along an error's chain, for the server's log. */
function describe(error: unknown): string {
  return causes(error)
    .map((e) => (e instanceof Error ? e.message : e instanceof Response ? `HTTP ${e.status}` : typeof e === 'object' ? JSON.stringify(e)?.slice(0, 200) : String(e)))
    .join(' <- ');
}

/**
 * A failure of the code exchange or of the ID token's checks, in plain words. openid-client
 * wraps oauth4webapi's errors: the claim that failed a comparison or a time check is in the
 * cause of the cause.
 */
function explain(error: unknown, name: string, unreachable: (why: unknown) => DomainError, log: (...line: unknown[]) => void): DomainError {
  if (error instanceof DomainError) return error;
  const chain = causes(error);
  const code = (error as { code?: unknown }).code;
  // No answer at all (refused, reset, timed out), or a gateway's 5xx in front of the provider.
  const down =
    (error instanceof TypeError && /fetch failed/.test(error.message)) ||
    code === 'OAUTH_TIMEOUT' ||
    code === 'OAUTH_ABORT' ||
    chain.some((e) => e instanceof Response && e.status >= 500);
  if (down) return unreachable(error);
  // The token endpoint's refusal: an OAuth error in its body, or (a client that failed to
  // authenticate) in a WWW-Authenticate challenge.
  const refusal =
    error instanceof client.ResponseBodyError
      ? { code: error.error, description: error.error_description }
      : error instanceof client.WWWAuthenticateChallengeError
        ? { code: error.cause[0]?.parameters.error ?? `HTTP ${error.status}`, description: error.cause[0]?.parameters.error_description }
        : null;
  if (refusal) {
    log(`OpenID Connect provider ${name} refused the code:`, refusal.code, refusal.description ?? '');
    return new DomainError('UNAUTHORIZED', `The sign-in service ${name} refused to complete the sign-in (${refusal.code}${refusal.description ? `: ${refusal.description.slice(0, 300)}` : ''}). Start again from the sign-in page.`);
  }
  const claim = chain.map((e) => (e as { cause?: { claim?: unknown } }).cause?.claim).find((c) => typeof c === 'string');
  const messages = chain.map((e) => (e instanceof Error ? e.message : ''));
  let why: string;
  if (code === 'OAUTH_JWT_CLAIM_COMPARISON_FAILED' && (claim === 'aud' || claim === 'azp')) why = 'the ID token was issued for another client';
  else if (code === 'OAUTH_JWT_CLAIM_COMPARISON_FAILED' && claim === 'iss') why = 'the ID token was issued by another provider';
  else if (code === 'OAUTH_JWT_CLAIM_COMPARISON_FAILED' && claim === 'nonce') why = 'the ID token belongs to another sign-in (its nonce does not match)';
  else if (code === 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED' && claim === 'exp') why = 'the ID token has expired (or the clocks of HeatLedger and the provider disagree)';
  else if (code === 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED' && claim === 'nbf') why = 'the ID token is not valid yet (or the clocks of HeatLedger and the provider disagree)';
  else if (code === 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED' && claim === 'iat') why = 'the ID token was issued too long ago (or the clocks of HeatLedger and the provider disagree)';
  else if (messages.some((m) => /signature verification failed/.test(m))) why = "the ID token's signature is not valid";
  else if (code === 'OAUTH_KEY_SELECTION_FAILED' || messages.some((m) => /no applicable key found/i.test(m))) why = "the ID token is signed with a key the provider does not publish";
  else if (messages.some((m) => /"iss" .*parameter/.test(m))) why = 'the answer came from another provider (iss)';
  else {
    why = `the provider's answer was not accepted (${messages[1] || messages[0] || 'unknown error'})`;
    log(`OpenID Connect sign-in at ${name} refused:`, describe(error));
  }
  return new DomainError('UNAUTHORIZED', `The sign-in could not be verified: ${why}.`);
}
