/**
 * Who an OpenID Connect sign-in makes: the Slurm user name from the configured claim and
 * the role from the groups in the role claim, through HEATLEDGER_OIDC_ROLE_MAP.
 */
import { roles, type Role } from '../services/auth.service.ts';

/**
 * The value of claim `name`: the top-level claim of that name, else (for a name with dots
 * and no such claim) the nested one, as Keycloak's `realm_access.roles`. Namespaced claims
 * such as `https://example.org/groups` are top-level names with dots, so those come first.
 */
export function claimAt(claims: Record<string, unknown>, name: string): unknown {
  if (name in claims) return claims[name];
  let at: unknown = claims;
  for (const part of name.split('.')) {
    if (at === null || typeof at !== 'object' || !(part in at)) return undefined;
    at = (at as Record<string, unknown>)[part];
  }
  return at;
}

/**
 * The role a role claim grants: the most privileged of the roles its groups map to
 * (`roles` is ordered least to most), researcher when none maps. The claim may be one
 * group as a string, a list of them, or absent.
 */
export function roleFromClaim(value: unknown, roleMap: Record<string, Role>): Role {
  const groups = typeof value === 'string' ? [value] : Array.isArray(value) ? value.filter((g): g is string => typeof g === 'string') : [];
  let best: Role = 'researcher';
  for (const group of groups) {
    const role = Object.hasOwn(roleMap, group) ? roleMap[group] : undefined;
    if (role && roles.indexOf(role) > roles.indexOf(best)) best = role;
  }
  return best;
}

/** Longest user name accepted from a provider (the password login takes as many). */
const MAX_USERNAME = 200;

/**
 * The user name in claim `name`, or why there is none: it must be a non-empty string
 * without control characters, since it is compared with Slurm's user names as it is.
 */
export function usernameFromClaims(claims: Record<string, unknown>, name: string): { username: string } | { problem: string } {
  const value = claimAt(claims, name);
  if (value === undefined || value === null) return { problem: `the provider sent no ${name} claim (the user name)` };
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (typeof value !== 'string' || value === '' || value.length > MAX_USERNAME || /[\u0000-\u001f\u007f]/.test(value)) {
    return { problem: `the provider's ${name} claim is not a user name` };
  }
  return { username: value };
}

/** The `email` claim, unless absent, not a string, or marked unverified by the provider. */
export function emailFromClaims(claims: Record<string, unknown>): string | null {
  const email = claims.email;
  if (typeof email !== 'string' || !/^[^\s@]+@[^\s@]+$/.test(email) || email.length > 320) return null;
  return claims.email_verified === false ? null : email;
}
