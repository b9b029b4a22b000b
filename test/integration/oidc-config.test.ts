/**
 * Issue 16 point 1: single sign-on's configuration (HEATLEDGER_OIDC_*), parsed once at start
 * with a message naming the variable, and the app without it: no provider, no routes.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../server/config.ts';
import { makeApp } from '../support/factories.ts';

const base = { HEATLEDGER_OIDC_ISSUER: 'https://login.example.org/realms/hpc', HEATLEDGER_OIDC_CLIENT_ID: 'heatledger', HEATLEDGER_PUBLIC_URL: 'https://heatledger.example.org/' };
const refusal = (env: Record<string, string>) => {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('accepted');
};

describe('HEATLEDGER_OIDC_* configuration', () => {
  it('is off without an issuer and a client id', () => {
    expect(loadConfig({}).oidc).toBeNull();
  });

  it('builds the redirect URIs from the public URL and applies the defaults', () => {
    expect(loadConfig({ ...base, HEATLEDGER_OIDC_CLIENT_SECRET: 's3cret' }).oidc).toEqual({
      issuer: 'https://login.example.org/realms/hpc',
      clientId: 'heatledger',
      clientSecret: 's3cret',
      name: 'login.example.org',
      scopes: ['openid', 'profile', 'email'],
      redirectUri: 'https://heatledger.example.org/api/v1/auth/oidc/callback',
      postLogoutRedirectUri: 'https://heatledger.example.org/',
      usernameClaim: 'preferred_username',
      roleClaim: 'groups',
      roleMap: {},
    });
  });

  it('parses the role map, names, scopes and claims', () => {
    const oidc = loadConfig({
      ...base,
      HEATLEDGER_OIDC_NAME: 'DeiC Login',
      HEATLEDGER_OIDC_SCOPES: 'openid  profile email groups',
      HEATLEDGER_OIDC_USERNAME_CLAIM: 'uid',
      HEATLEDGER_OIDC_ROLE_CLAIM: 'realm_access.roles',
      HEATLEDGER_OIDC_ROLE_MAP: 'hpc-committee=committee, hpc-facility=facility,hpc-admin=admin,,',
    }).oidc!;
    expect([oidc.name, oidc.scopes, oidc.usernameClaim, oidc.roleClaim]).toEqual(['DeiC Login', ['openid', 'profile', 'email', 'groups'], 'uid', 'realm_access.roles']);
    expect(oidc.roleMap).toEqual({ 'hpc-committee': 'committee', 'hpc-facility': 'facility', 'hpc-admin': 'admin' });
  });

  it('stops start-up naming the variable that is wrong or missing', () => {
    expect(refusal({ HEATLEDGER_OIDC_ISSUER: base.HEATLEDGER_OIDC_ISSUER })).toBe('invalid configuration: HEATLEDGER_OIDC_CLIENT_ID: required when HEATLEDGER_OIDC_ISSUER is set');
    expect(refusal({ HEATLEDGER_OIDC_CLIENT_ID: 'heatledger' })).toBe('invalid configuration: HEATLEDGER_OIDC_ISSUER: required when HEATLEDGER_OIDC_CLIENT_ID is set');
    expect(refusal({ HEATLEDGER_OIDC_ISSUER: base.HEATLEDGER_OIDC_ISSUER, HEATLEDGER_OIDC_CLIENT_ID: 'heatledger' })).toBe(
      'invalid configuration: HEATLEDGER_PUBLIC_URL: required when HEATLEDGER_OIDC_ISSUER is set (the redirect URI is built from it)',
    );
    expect(refusal({ ...base, HEATLEDGER_OIDC_ISSUER: 'login.example.org' })).toMatch(/^invalid configuration: HEATLEDGER_OIDC_ISSUER: /);
    expect(refusal({ ...base, HEATLEDGER_OIDC_ISSUER: 'http://login.example.org/realms/hpc' })).toBe('invalid configuration: HEATLEDGER_OIDC_ISSUER: must be https (plain http only on localhost)');
    expect(loadConfig({ ...base, HEATLEDGER_OIDC_ISSUER: 'http://127.0.0.1:9000' }).oidc?.issuer).toBe('http://127.0.0.1:9000');
    expect(refusal({ ...base, HEATLEDGER_OIDC_ROLE_MAP: 'hpc-admin=root' })).toBe(
      "invalid configuration: HEATLEDGER_OIDC_ROLE_MAP: 'hpc-admin=root' is not GROUP=ROLE with ROLE one of researcher, pi, committee, facility, admin",
    );
    expect(refusal({ ...base, HEATLEDGER_OIDC_ROLE_MAP: 'admin' })).toMatch(/^invalid configuration: HEATLEDGER_OIDC_ROLE_MAP: 'admin' is not GROUP=ROLE/);
    expect(refusal({ ...base, HEATLEDGER_OIDC_SCOPES: 'profile email' })).toBe('invalid configuration: HEATLEDGER_OIDC_SCOPES: must include openid');
  });
});

describe('without single sign-on', () => {
  it('offers no provider and has no sign-in routes', async () => {
    const t = makeApp();
    expect(await (await t.app.request('/api/v1/auth/me')).json()).toEqual({ me: null, oidc: null });
    for (const path of ['/api/v1/auth/oidc/login', '/api/v1/auth/oidc/callback?code=x&state=y']) {
      const res = await t.app.request(path);
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'single sign-on is not configured (HEATLEDGER_OIDC_ISSUER)' } });
    }
  });
});
