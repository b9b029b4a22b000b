/** Resolves who is asking (bearer token or session cookie) and guards routes by scope and role. */
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { createMiddleware } from 'hono/factory';
import type { Db } from '../../db/client.ts';
import { DomainError } from '../errors.ts';
import { principalForSession, principalForToken, type Principal, type Role } from '../services/auth.service.ts';

export const SESSION_COOKIE = 'hl_session';

export interface AppEnv {
  Variables: { principal: Principal | null };
}

/**
 * The key under which a caller in this process (the server's warm-up, server/warm-up.ts)
 * passes its principal in `app.request`'s environment. A request from the network cannot
 * carry it: @hono/node-server's environment holds only its request and response objects,
 * and a symbol is not something a header or a body can name.
 */
export const IN_PROCESS_PRINCIPAL = Symbol('in-process principal');

/** Looks up the caller once per request; never refuses by itself. */
export function identify(db: Db): MiddlewareHandler<AppEnv> {
  return createMiddleware<AppEnv>(async (c, next) => {
    const inProcess = (c.env as Partial<Record<typeof IN_PROCESS_PRINCIPAL, Principal>> | undefined)?.[IN_PROCESS_PRINCIPAL];
    if (inProcess) {
      c.set('principal', inProcess);
      return next();
    }
    const header = c.req.header('authorization');
    let principal: Principal | null = null;
    if (header) {
      const match = /^Bearer\s+(\S+)$/i.exec(header);
      if (!match) throw new DomainError('UNAUTHORIZED', 'Authorization header must be "Bearer <token>"');
      principal = principalForToken(db, match[1]!);
      if (!principal) throw new DomainError('UNAUTHORIZED', 'unknown, revoked or expired token');
    } else {
      const session = getCookie(c, SESSION_COOKIE);
      if (session) principal = principalForSession(db, session);
    }
    c.set('principal', principal);
    await next();
  });
}

/** Requires an ingest (or admin) token. */
export const requireIngest = createMiddleware<AppEnv>(async (c, next) => {
  const p = c.get('principal');
  if (!p) throw new DomainError('UNAUTHORIZED', 'an ingest token is required');
  if (p.kind !== 'token' || (p.scope !== 'ingest' && p.scope !== 'admin')) {
    throw new DomainError('FORBIDDEN', 'this credential may not ingest');
  }
  await next();
});

/** Requires a read or admin token, or a logged-in person. */
export const requireReader = createMiddleware<AppEnv>(async (c, next) => {
  const p = c.get('principal');
  if (!p) throw new DomainError('UNAUTHORIZED', 'log in or send a read token');
  if (p.kind === 'token' && p.scope === 'ingest') throw new DomainError('FORBIDDEN', 'an ingest token cannot read');
  await next();
});

/** What the caller may see of project-level data. */
export interface Visibility {
  /** Accounts the caller may see, null for all. */
  accounts: string[] | null;
  /** Users whose rows the caller may see, null for all. */
  users: string[] | null;
  /** Whether per-user breakdowns are allowed (personal data, DESIGN.md). */
  perUser: boolean;
  role: Role | 'token';
}

/** Visibility of the current caller (requireReader must have run). */
export function visibility(c: Context<AppEnv>): Visibility {
  const p = c.get('principal')!;
  if (p.kind === 'token') return { accounts: null, users: null, perUser: true, role: 'token' };
  switch (p.role) {
    case 'admin':
      return { accounts: null, users: null, perUser: true, role: p.role };
    case 'committee':
    case 'facility':
      return { accounts: null, users: null, perUser: false, role: p.role };
    case 'pi':
      return { accounts: p.projects, users: null, perUser: true, role: p.role };
    case 'researcher':
      return { accounts: p.projects, users: [p.username], perUser: true, role: p.role };
  }
}

/** Requires an admin token or a person with the admin role. */
export const requireAdmin = createMiddleware<AppEnv>(async (c, next) => {
  const p = c.get('principal');
  if (!p) throw new DomainError('UNAUTHORIZED', 'log in or send an admin token');
  const admin = p.kind === 'token' ? p.scope === 'admin' : p.role === 'admin';
  if (!admin) throw new DomainError('FORBIDDEN', 'only admins may change this');
  await next();
});

/** A name for the audit log: the person's username or the token's name. */
export function actorName(c: Context<AppEnv>): string {
  const p = c.get('principal');
  if (!p) return 'anonymous';
  return p.kind === 'token' ? `token:${p.name}` : p.username;
}
