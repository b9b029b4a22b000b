/**
 * API tokens, passwords and sessions. Tokens and session ids are 32 random bytes, stored
 * only as sha256 hashes; passwords as scrypt hashes with a per-user salt.
 */
import { createHash, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { apiTokens, projectMembers, projects, sessions, users } from '../../db/schema.ts';
import { DomainError } from '../errors.ts';

export type TokenScope = 'ingest' | 'read' | 'admin';
export type Role = 'researcher' | 'pi' | 'committee' | 'facility' | 'admin';
export const roles: Role[] = ['researcher', 'pi', 'committee', 'facility', 'admin'];

/** Who is asking: a token holder or a logged-in person. */
export type Principal =
  | { kind: 'token'; scope: TokenScope; name: string }
  | { kind: 'user'; userId: number; username: string; role: Role; projects: string[] };

const SCRYPT = { N: 16384, r: 8, p: 1, keyLen: 32 };

function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** Hashes a password as `scrypt$N$r$p$salt$hash`. */
export function hashPassword(password: string): string {
  const salt = randomBytes(16);
  const hash = scryptSync(password, salt, SCRYPT.keyLen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p });
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64'), hash.toString('base64')].join('$');
}

/** Checks a password against a stored hash in constant time. */
export function verifyPassword(password: string, stored: string): boolean {
  const [alg, n, r, p, salt, hash] = stored.split('$');
  if (alg !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const actual = scryptSync(password, Buffer.from(salt, 'base64'), expected.length, { N: Number(n), r: Number(r), p: Number(p) });
  return timingSafeEqual(actual, expected);
}

/** Creates an API token and returns it; only its hash is stored. */
export function createToken(db: Db, name: string, scope: TokenScope, nowMs = Date.now()): string {
  const token = `hl_${scope}_${randomBytes(32).toString('base64url')}`;
  db.insert(apiTokens).values({ name, scope, tokenHash: sha256(token), createdTs: nowMs }).run();
  return token;
}

/** Revokes every live token with this name (the demo replaces its token at each start). */
export function revokeTokensNamed(db: Db, name: string, nowMs = Date.now()): void {
  db.update(apiTokens).set({ revokedTs: nowMs }).where(and(eq(apiTokens.name, name), isNull(apiTokens.revokedTs))).run();
}

/** The principal of a bearer token, or null when unknown or revoked. */
export function principalForToken(db: Db, token: string): Principal | null {
  const row = tokenLookup(db).get({ hash: sha256(token) });
  return row ? { kind: 'token', scope: row.scope, name: row.name } : null;
}

/** The token lookup, prepared once per database: every API request makes it. */
const tokenLookups = new WeakMap<Db, ReturnType<typeof prepareTokenLookup>>();
const prepareTokenLookup = (db: Db) =>
  db
    .select({ scope: apiTokens.scope, name: apiTokens.name })
    .from(apiTokens)
    .where(and(eq(apiTokens.tokenHash, sql.placeholder('hash')), isNull(apiTokens.revokedTs)))
    .prepare();
function tokenLookup(db: Db) {
  let lookup = tokenLookups.get(db);
  if (!lookup) tokenLookups.set(db, (lookup = prepareTokenLookup(db)));
  return lookup;
}

/** Creates a person who can log in, optionally a member of projects (created if new). */
export function addUser(db: Db, input: { username: string; role: Role; password: string; projects?: string[] }, nowMs = Date.now()): number {
  if (input.password.length < 8) throw new DomainError('VALIDATION', 'password: must be at least 8 characters');
  return db.transaction((tx) => {
    const existing = tx.select({ id: users.id, hash: users.passwordHash }).from(users).where(eq(users.username, input.username)).get();
    if (existing?.hash) throw new DomainError('CONFLICT', `user ${input.username} already exists`);
    const passwordHash = hashPassword(input.password);
    let userId: number;
    if (existing) {
      // A scheduler user seen in job records becomes a person who can log in.
      tx.update(users).set({ role: input.role, passwordHash }).where(eq(users.id, existing.id)).run();
      userId = existing.id;
    } else {
      userId = tx.insert(users).values({ username: input.username, role: input.role, passwordHash, createdTs: nowMs }).returning({ id: users.id }).get().id;
    }
    for (const name of input.projects ?? []) {
      tx.insert(projects).values({ name, createdTs: nowMs }).onConflictDoNothing().run();
      const project = tx.select({ id: projects.id }).from(projects).where(eq(projects.name, name)).get()!;
      tx.insert(projectMembers).values({ projectId: project.id, userId, isPi: input.role === 'pi' }).onConflictDoNothing().run();
    }
    return userId;
  }, { behavior: 'immediate' });
}

function userPrincipal(db: Db, userId: number): Principal | null {
  const user = db.select().from(users).where(eq(users.id, userId)).get();
  if (!user) return null;
  const memberOf = db
    .select({ name: projects.name })
    .from(projectMembers)
    .innerJoin(projects, eq(projects.id, projectMembers.projectId))
    .where(eq(projectMembers.userId, userId))
    .all()
    .map((r) => r.name);
  return { kind: 'user', userId, username: user.username, role: user.role, projects: memberOf };
}

/** A hash of no one's password, made once per process (see login). */
let dummyPasswordHash: string | undefined;

/** Checks credentials and opens a session; returns the cookie value. */
export function login(db: Db, username: string, password: string, sessionHours: number, nowMs = Date.now()): { sessionId: string; principal: Principal } {
  // An unknown name (or a scheduler user without a password) is checked against a dummy
  // hash: one scrypt on every path, so the answer time does not reveal who exists. The
  // dummy is made on the first login of any kind, so that no one path pays for it.
  dummyPasswordHash ??= hashPassword(randomBytes(16).toString('base64'));
  const user = db.select().from(users).where(eq(users.username, username)).get();
  const matches = verifyPassword(password, user?.passwordHash ?? dummyPasswordHash);
  if (!user?.passwordHash || !matches) throw new DomainError('UNAUTHORIZED', 'wrong username or password');
  const sessionId = randomBytes(32).toString('base64url');
  db.insert(sessions).values({ idHash: sha256(sessionId), userId: user.id, createdTs: nowMs, expiresTs: nowMs + sessionHours * 3_600_000 }).run();
  return { sessionId, principal: userPrincipal(db, user.id)! };
}

/** The principal of a live session cookie, or null. */
export function principalForSession(db: Db, sessionId: string, nowMs = Date.now()): Principal | null {
  const row = db
    .select({ userId: sessions.userId })
    .from(sessions)
    .where(and(eq(sessions.idHash, sha256(sessionId)), gt(sessions.expiresTs, nowMs)))
    .get();
  return row ? userPrincipal(db, row.userId) : null;
}

/** Ends a session. */
export function logout(db: Db, sessionId: string): void {
  db.delete(sessions).where(eq(sessions.idHash, sha256(sessionId))).run();
}
