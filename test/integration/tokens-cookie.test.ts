/**
 * Issue 15 §4 in-process: how `--expires` is read, which token a prefix names, expiry at the
 * lookup, and when the session cookie is `Secure` (HEATLEDGER_PUBLIC_URL, HEATLEDGER_TRUST_PROXY).
 */
import { describe, expect, it } from 'vitest';
import { parseExpiry } from '../../server/commands/token.command.ts';
import { ConfigError, loadConfig, type Config } from '../../server/config.ts';
import { DomainError } from '../../server/errors.ts';
import { createToken, listTokens, principalForToken, revokeToken } from '../../server/services/auth.service.ts';
import { makeApp } from '../support/factories.ts';

describe('token create --expires', () => {
  const now = Date.UTC(2026, 11, 3, 9, 30, 0); // 2026-12-03T09:30:00Z

  it.each([
    ['90d', now + 90 * 24 * 3600 * 1000],
    ['12h', now + 12 * 3600 * 1000],
    ['30m', now + 30 * 60 * 1000],
    ['2w', now + 14 * 24 * 3600 * 1000],
    ['2027-01-31', Date.UTC(2027, 0, 31)],
    ['2028-02-29', Date.UTC(2028, 1, 29)],
    ['2027-01-31T18:00:00+01:00', Date.UTC(2027, 0, 31, 17, 0, 0)],
    ['2026-12-03T09:30:01Z', now + 1000],
    ['2026-12-03T10:00Z', now + 30 * 60 * 1000],
  ])('%s', (value, expected) => {
    expect(parseExpiry(value, now)).toBe(expected);
  });

  it.each([
    ['0d', 'a duration must be longer than zero'],
    ['tomorrow', 'give a duration (90d, 12h, 30m) or an ISO date or date-time'],
    ['2027-02-30', 'there is no such day'],
    ['2027-02-29', 'there is no such day'],
    ['2027-01-31T18:00:00', 'give the time zone (Z or +01:00)'],
    ['2027-01-31T25:00:00Z', 'not a valid time of day'],
    ['2026-12-03', 'that is not in the future'],
    ['2026-12-03T09:30:00Z', 'that is not in the future'],
  ])('refuses %s', (value, reason) => {
    expect(() => parseExpiry(value, now)).toThrow(`token create: --expires ${value}: ${reason}`);
  });
});

describe('tokens: expiry and revocation by prefix', () => {
  const t = makeApp();

  it('refuses a token from its expiry instant on, at the lookup and through the API', async () => {
    const expiresTs = Date.now() + 60_000;
    const token = createToken(t.db, 'expiring', 'read', Date.now(), expiresTs);
    expect(principalForToken(t.db, token, expiresTs - 1)).toEqual({ kind: 'token', scope: 'read', name: 'expiring' });
    expect(principalForToken(t.db, token, expiresTs)).toBeNull();
    expect((await t.app.request('/api/v1/allocations', t.auth(token))).status).toBe(200);

    const expired = createToken(t.db, 'expired', 'read', Date.now() - 60_000, Date.now() - 1);
    const res = await t.app.request('/api/v1/allocations', t.auth(expired));
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: { code: 'UNAUTHORIZED', message: 'unknown, revoked or expired token' } });
  });

  it('refuses a prefix that fits several tokens and revokes nothing; a longer one revokes exactly one', () => {
    // makeApp made tokens 1-3 and the test above 4-5; these are 6-13.
    const made = Array.from({ length: 8 }, (_, i) => createToken(t.db, `reader-${i}`, 'read'));
    expect(made.map((tok) => tok.slice(0, tok.indexOf('_', 8) + 1))).toEqual(['hl_read_6_', 'hl_read_7_', 'hl_read_8_', 'hl_read_9_', 'hl_read_10_', 'hl_read_11_', 'hl_read_12_', 'hl_read_13_']);
    const live = () => listTokens(t.db).filter((tok) => tok.revokedTs === null).length;
    const before = live();

    let refusal: unknown;
    try {
      revokeToken(t.db, 'hl_read_1');
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(DomainError);
    expect((refusal as DomainError).code).toBe('CONFLICT');
    expect((refusal as DomainError).message).toBe(
      "prefix 'hl_read_1' fits 4 tokens: hl_read_10_ (reader-4), hl_read_11_ (reader-5), hl_read_12_ (reader-6), hl_read_13_ (reader-7); nothing revoked; give the prefix of one",
    );
    expect(live()).toBe(before);

    expect(revokeToken(t.db, 'hl_read_12', 5000)).toMatchObject({ prefix: 'hl_read_12_', name: 'reader-6', revokedTs: 5000 });
    // A whole token names itself.
    expect(revokeToken(t.db, made[0]!)).toMatchObject({ prefix: 'hl_read_6_', name: 'reader-0' });
    expect(live()).toBe(before - 2);
    expect(principalForToken(t.db, made[6]!)).toBeNull();
    expect(principalForToken(t.db, made[0]!)).toBeNull();
    expect(principalForToken(t.db, made[7]!)).not.toBeNull();

    // `hl_` alone, or a scope alone, names nothing.
    expect(() => revokeToken(t.db, 'hl_')).toThrow("no unrevoked token is named 'hl_' or begins with it");
    expect(() => revokeToken(t.db, 'hl_read_')).toThrow("no unrevoked token is named 'hl_read_' or begins with it");
    expect(live()).toBe(before - 2);
  });
});

describe('session cookie Secure', () => {
  async function cookieOf(config: Partial<Config>, headers: Record<string, string> = {}) {
    const t = makeApp({ config });
    t.addPerson('rita', 'researcher', ['proj-a']);
    const res = await t.app.request('http://heatledger.example/api/v1/auth/login', {
      method: 'POST',
      body: JSON.stringify({ username: 'rita', password: 'correct horse' }),
      headers: { 'content-type': 'application/json', ...headers },
    });
    expect(res.status).toBe(200);
    const cookie = res.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^hl_session=[A-Za-z0-9_-]{43}; /);
    return cookie.split('; ').slice(1);
  }

  it('is not Secure on plain http without a public https URL', async () => {
    expect(await cookieOf({})).not.toContain('Secure');
    expect(await cookieOf({ publicUrl: 'http://heatledger.example' })).not.toContain('Secure');
  });

  it('is Secure when HEATLEDGER_PUBLIC_URL is https', async () => {
    const attributes = await cookieOf({ publicUrl: loadConfig({ HEATLEDGER_PUBLIC_URL: 'https://heatledger.example.org/' }).publicUrl });
    expect(attributes).toContain('Secure');
    expect(attributes).toContain('HttpOnly');
    expect(attributes).toContain('SameSite=Strict');
  });

  it('is Secure when a trusted proxy says the client used https, and only then', async () => {
    expect(await cookieOf({ trustProxy: true }, { 'x-forwarded-proto': 'https' })).toContain('Secure');
    expect(await cookieOf({ trustProxy: true }, { 'x-forwarded-proto': 'http' })).not.toContain('Secure');
    expect(await cookieOf({ trustProxy: false }, { 'x-forwarded-proto': 'https' })).not.toContain('Secure');
  });

  it('reads both variables in server/config.ts and names a bad one', () => {
    expect(loadConfig({})).toMatchObject({ publicUrl: null, trustProxy: false });
    expect(loadConfig({ HEATLEDGER_PUBLIC_URL: 'https://hl.example/', HEATLEDGER_TRUST_PROXY: '1' })).toMatchObject({ publicUrl: 'https://hl.example/', trustProxy: true });
    expect(() => loadConfig({ HEATLEDGER_PUBLIC_URL: 'ftp://hl.example' })).toThrow(ConfigError);
    expect(() => loadConfig({ HEATLEDGER_PUBLIC_URL: 'ftp://hl.example' })).toThrow(/HEATLEDGER_PUBLIC_URL/);
    expect(() => loadConfig({ HEATLEDGER_TRUST_PROXY: 'yes' })).toThrow(/HEATLEDGER_TRUST_PROXY/);
  });
});
