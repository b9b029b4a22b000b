/**
 * API tokens, passwords and sessions. Tokens and session ids are 32 random bytes, stored
 * only as sha256 hashes; passwords as scrypt hashes with a per-user salt.
 */
import { createHash, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { and, eq, gt, isNull, or, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { HOUR_MS } from '../../db/rules/time.ts';
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

/** A token as `token list` shows it: never the token or its hash. */
export interface TokenInfo {
  id: number;
  name: string;
  scope: TokenScope;
  /** `hl_<scope>_<id>_`: how tokens made since this id was added begin; names the token in `token revoke`. */
  prefix: string;
  createdTs: number;
  expiresTs: number | null;
  revokedTs: number | null;
}

/**
 * The public start of a token. The row id is in it so that a holder can tell from the token
 * itself which row it is, without the server keeping anything but its hash.
 */
export function tokenPrefix(id: number, scope: TokenScope): string {
  return `hl_${scope}_${id}_`;
}

/** Creates an API token and returns it; only its hash is stored. `expiresTs`: refused from then on (null: never). */
export function createToken(db: Db, name: string, scope: TokenScope, nowMs = Date.now(), expiresTs: number | null = null): string {
  return db.transaction(
    (tx) => {
      // The id goes into the token, so the row comes first with a placeholder hash (unique, never a sha256).
      const { id } = tx
        .insert(apiTokens)
        .values({ name, scope, tokenHash: `pending:${randomBytes(16).toString('hex')}`, createdTs: nowMs, expiresTs })
        .returning({ id: apiTokens.id })
        .get();
      const token = `${tokenPrefix(id, scope)}${randomBytes(32).toString('base64url')}`;
      tx.update(apiTokens).set({ tokenHash: sha256(token) }).where(eq(apiTokens.id, id)).run();
      return token;
    },
    { behavior: 'immediate' },
  );
}

/** Revokes every live token with this name (the demo replaces its token at each start). */
export function revokeTokensNamed(db: Db, name: string, nowMs = Date.now()): void {
  db.update(apiTokens).set({ revokedTs: nowMs }).where(and(eq(apiTokens.name, name), isNull(apiTokens.revokedTs))).run();
}

/** Every token, oldest first. */
export function listTokens(db: Pick<Db, 'select'>): TokenInfo[] {
  return db
    .select({ id: apiTokens.id, name: apiTokens.name, scope: apiTokens.scope, createdTs: apiTokens.createdTs, expiresTs: apiTokens.expiresTs, revokedTs: apiTokens.revokedTs })
    .from(apiTokens)
    .orderBy(apiTokens.id)
    .all()
    .map((row) => ({ ...row, prefix: tokenPrefix(row.id, row.scope) }));
}

/**
 * Revokes the one unrevoked token that `ref` names: the whole token, its name, or the start
 * of its prefix (`hl_read_12`, at least up to a digit of the id). A name or prefix that fits several tokens revokes none
 * (CONFLICT, naming them), so a slip cannot cut off a whole fleet of collectors.
 */
export function revokeToken(db: Db, ref: string, nowMs = Date.now()): TokenInfo {
  return db.transaction(
    (tx) => {
      const live = listTokens(tx).filter((t) => t.revokedTs === null);
      const byHash = tx.select({ id: apiTokens.id }).from(apiTokens).where(and(eq(apiTokens.tokenHash, sha256(ref)), isNull(apiTokens.revokedTs))).get();
      let matches = byHash ? live.filter((t) => t.id === byHash.id) : [];
      let what = 'token';
      if (matches.length === 0) {
        matches = live.filter((t) => t.name === ref);
        what = `name '${ref}'`;
      }
      if (matches.length === 0 && /^hl_(ingest|read|admin)_\d/.test(ref)) {
        // Either a piece of the prefix (hl_read_1) or a token's start that runs past it;
        // at least the scope and a digit of the id, so that `hl_` alone names nothing.
        matches = live.filter((t) => t.prefix.startsWith(ref) || ref.startsWith(t.prefix));
        what = `prefix '${ref}'`;
      }
      if (matches.length === 0) throw new DomainError('NOT_FOUND', `no unrevoked token is named '${ref}' or begins with it (see: heatledger token list)`);
      if (matches.length > 1) {
        const names = matches.map((t) => `${t.prefix} (${t.name})`).join(', ');
        throw new DomainError('CONFLICT', `${what} fits ${matches.length} tokens: ${names}; nothing revoked; give the prefix of one`);
      }
      const token = matches[0]!;
      tx.update(apiTokens).set({ revokedTs: nowMs }).where(eq(apiTokens.id, token.id)).run();
      return { ...token, revokedTs: nowMs };
    },
    { behavior: 'immediate' },
  );
}

/**
 * The principal of a bearer token, or null when unknown, revoked or expired. It reads the
 * row at every call (the statement is prepared, not its answer), so a revocation by
 * another process holds from the next request on.
 */
export function principalForToken(db: Db, token: string, nowMs = Date.now()): Principal | null {
  const row = tokenLookup(db).get({ hash: sha256(token), now: nowMs });
  return row ? { kind: 'token', scope: row.scope, name: row.name } : null;
}

/** The token lookup, prepared once per database: every API request makes it. */
const tokenLookups = new WeakMap<Db, ReturnType<typeof prepareTokenLookup>>();
const prepareTokenLookup = (db: Db) =>
  db
    .select({ scope: apiTokens.scope, name: apiTokens.name })
    .from(apiTokens)
    .where(
      and(
        eq(apiTokens.tokenHash, sql.placeholder('hash')),
        isNull(apiTokens.revokedTs),
        or(isNull(apiTokens.expiresTs), gt(apiTokens.expiresTs, sql.placeholder('now'))),
      ),
    )
    .prepare();
function tokenLookup(db: Db) {
  let lookup = tokenLookups.get(db);
  if (!lookup) tokenLookups.set(db, (lookup = prepareTokenLookup(db)));
  return lookup;
}

/** Creates a person who can log in, optionally a member of projects (created if new). */
export function addUser(db: Db, input: { username: string; role: Role; password: string; projects?: string[]; email?: string | null; lang?: 'en' | 'da' | null }, nowMs = Date.now()): number {
  if (input.password.length < 8) throw new DomainError('VALIDATION', 'password: must be at least 8 characters');
  return db.transaction((tx) => {
    const existing = tx.select({ id: users.id, hash: users.passwordHash }).from(users).where(eq(users.username, input.username)).get();
    if (existing?.hash) throw new DomainError('CONFLICT', `user ${input.username} already exists`);
    const passwordHash = hashPassword(input.password);
    let userId: number;
    if (existing) {
      // A scheduler user seen in job records becomes a person who can log in.
      tx.update(users).set({ role: input.role, passwordHash, email: input.email ?? null, lang: input.lang ?? null }).where(eq(users.id, existing.id)).run();
      userId = existing.id;
    } else {
      userId = tx
        .insert(users)
        .values({ username: input.username, role: input.role, passwordHash, createdTs: nowMs, email: input.email ?? null, lang: input.lang ?? null })
        .returning({ id: users.id })
        .get().id;
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
  const memberships = db
    .select({ name: projects.name, isPi: projectMembers.isPi })
    .from(projectMembers)
    .innerJoin(projects, eq(projects.id, projectMembers.projectId))
    .where(eq(projectMembers.userId, userId))
    .all();
  // A researcher whom Slurm names coordinator of accounts is their PI: a PI's view (every
  // member's figures) of those accounts only. Their own jobs in accounts they merely belong
  // to are not in it: a PI's view of those would show colleagues' figures.
  if (user.role === 'researcher' && memberships.some((m) => m.isPi)) {
    return { kind: 'user', userId, username: user.username, role: 'pi', projects: memberships.filter((m) => m.isPi).map((m) => m.name) };
  }
  return { kind: 'user', userId, username: user.username, role: user.role, projects: memberships.map((m) => m.name) };
}

/** A hash of no one's password, made once per process (see login). */
let dummyPasswordHash: string | undefined;

/**
 * Whether `password` is the one `stored` hashes. An unknown name (or a scheduler user without
 * a password: `stored` null) is checked against a dummy hash: one scrypt on every path, so
 * the answer time does not reveal who exists. The dummy is made on the first login of any
 * kind, so that no one path pays for it.
 */
export function passwordMatches(password: string, stored: string | null | undefined): boolean {
  dummyPasswordHash ??= hashPassword(randomBytes(16).toString('base64'));
  const matches = verifyPassword(password, stored ?? dummyPasswordHash);
  return Boolean(stored) && matches;
}

/** Checks credentials and opens a session; returns the cookie value. */
export function login(db: Db, username: string, password: string, sessionHours: number, nowMs = Date.now()): { sessionId: string; principal: Principal } {
  const user = db.select().from(users).where(eq(users.username, username)).get();
  // One scrypt whether or not the name exists.
  const matches = passwordMatches(password, user?.passwordHash);
  if (!user || !matches) throw new DomainError('UNAUTHORIZED', 'wrong username or password');
  const sessionId = randomBytes(32).toString('base64url');
  db.insert(sessions).values({ idHash: sha256(sessionId), userId: user.id, createdTs: nowMs, expiresTs: nowMs + sessionHours * HOUR_MS }).run();
  return { sessionId, principal: userPrincipal(db, user.id)! };
}

/**
 * Opens a session for a person whom the OpenID Connect provider vouched for: creates them on
 * their first sign-in (without a password), and otherwise sets their role (and email, when
 * the provider sent one) to what the provider says now, so a group taken away at the
 * provider is taken away here at the next sign-in. A local administrator with a password
 * (the break-glass account) is left exactly as it is: the provider cannot demote or alter it.
 */
export function loginFromOidc(
  db: Db,
  identity: { username: string; role: Role; email: string | null },
  sessionHours: number,
  nowMs = Date.now(),
): { sessionId: string; principal: Principal } {
  const sessionId = randomBytes(32).toString('base64url');
  const userId = db.transaction(
    (tx) => {
      const existing = tx.select({ id: users.id, role: users.role, hash: users.passwordHash }).from(users).where(eq(users.username, identity.username)).get();
      const email = identity.email === null ? {} : { email: identity.email };
      let id: number;
      if (!existing) {
        id = tx.insert(users).values({ username: identity.username, role: identity.role, passwordHash: null, createdTs: nowMs, ...email }).returning({ id: users.id }).get().id;
      } else {
        id = existing.id;
        const breakGlass = existing.hash !== null && existing.role === 'admin';
        if (!breakGlass) tx.update(users).set({ role: identity.role, ...email }).where(eq(users.id, id)).run();
      }
      tx.insert(sessions).values({ idHash: sha256(sessionId), userId: id, createdTs: nowMs, expiresTs: nowMs + sessionHours * HOUR_MS }).run();
      return id;
    },
    { behavior: 'immediate' },
  );
  return { sessionId, principal: userPrincipal(db, userId)! };
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

/**
 * Ends a session. Returns whether it was a session of a person without a password, who can
 * only have signed in through the OpenID Connect provider (null: no such session).
 */
export function logout(db: Db, sessionId: string): { passwordless: boolean } | null {
  const ended = db.delete(sessions).where(eq(sessions.idHash, sha256(sessionId))).returning({ userId: sessions.userId }).get();
  if (!ended) return null;
  const user = db.select({ hash: users.passwordHash }).from(users).where(eq(users.id, ended.userId)).get();
  return { passwordless: !user?.hash };
}
