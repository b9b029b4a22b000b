import { describe, expect, it } from 'vitest';
import { claimAt, emailFromClaims, roleFromClaim, usernameFromClaims } from './oidc-claims.ts';

const map = { 'hpc-committee': 'committee', 'hpc-facility': 'facility', 'hpc-admin': 'admin', 'hpc-pi': 'pi' } as const;

describe('roleFromClaim', () => {
  it('takes the most privileged mapped role, whatever the order of the groups', () => {
    expect(roleFromClaim(['hpc-admin', 'hpc-committee'], map)).toBe('admin');
    expect(roleFromClaim(['hpc-committee', 'hpc-facility', 'hpc-pi'], map)).toBe('facility');
    expect(roleFromClaim(['staff', 'hpc-pi'], map)).toBe('pi');
  });

  it('takes one group given as a string', () => {
    expect(roleFromClaim('hpc-committee', map)).toBe('committee');
  });

  it('makes anyone else a researcher: no claim, unmapped groups, non-strings, inherited names', () => {
    expect(roleFromClaim(undefined, map)).toBe('researcher');
    expect(roleFromClaim([], map)).toBe('researcher');
    expect(roleFromClaim(['staff', 'HPC-ADMIN'], map)).toBe('researcher');
    expect(roleFromClaim([42, { admin: true }, null], map)).toBe('researcher');
    expect(roleFromClaim({ 'hpc-admin': true }, map)).toBe('researcher');
    expect(roleFromClaim(['constructor', 'toString', '__proto__'], map)).toBe('researcher');
  });
});

describe('claimAt', () => {
  it('prefers a top-level claim whose name has dots, else walks the dotted path', () => {
    expect(claimAt({ 'https://example.org/groups': ['a'] }, 'https://example.org/groups')).toEqual(['a']);
    expect(claimAt({ realm_access: { roles: ['hpc-admin'] } }, 'realm_access.roles')).toEqual(['hpc-admin']);
    expect(claimAt({ realm_access: null }, 'realm_access.roles')).toBeUndefined();
    expect(claimAt({}, 'groups')).toBeUndefined();
  });
});

describe('usernameFromClaims', () => {
  it('takes a plain string and refuses what cannot be a Slurm user name', () => {
    expect(usernameFromClaims({ preferred_username: 'rita' }, 'preferred_username')).toEqual({ username: 'rita' });
    expect(usernameFromClaims({}, 'preferred_username')).toEqual({ problem: 'the provider sent no preferred_username claim (the user name)' });
    for (const bad of ['', 'a\nb', ['rita'], 7, 'x'.repeat(201)]) {
      expect(usernameFromClaims({ uid: bad }, 'uid')).toEqual({ problem: "the provider's uid claim is not a user name" });
    }
  });
});

describe('emailFromClaims', () => {
  it('keeps an address unless the provider says it is unverified', () => {
    expect(emailFromClaims({ email: 'rita@example.org' })).toBe('rita@example.org');
    expect(emailFromClaims({ email: 'rita@example.org', email_verified: true })).toBe('rita@example.org');
    expect(emailFromClaims({ email: 'rita@example.org', email_verified: false })).toBeNull();
    expect(emailFromClaims({ email: 'not an address' })).toBeNull();
    expect(emailFromClaims({})).toBeNull();
  });
});
