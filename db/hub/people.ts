/**
 * The hub's tokens and people. Tokens are 32 random bytes after a public prefix
 * (`hl_<scope>_<id>_`), stored only as SHA-256 hashes, as at a site; a push token names the
 * one site whose rows it may write.
 */
import { createHash, randomBytes } from 'node:crypto';
import { inTransaction, type HubStore } from './store.ts';

export type HubScope = 'push' | 'read' | 'admin';
export type HubRole = 'researcher' | 'pi' | 'committee' | 'facility' | 'admin';

export interface HubTokenInfo {
  name: string;
  scope: HubScope;
  site: string | null;
  prefix: string;
  createdTs: number;
  expiresTs: number | null;
  revokedTs: number | null;
}

const sha256 = (v: string) => createHash('sha256').update(v).digest('hex');

/** Site names as they appear in URLs, labels and tokens: short, lower case. */
export const SITE_NAME = /^[a-z][a-z0-9-]{0,31}$/;

/** Makes a token and returns it (the only time it is seen). A push token's site is registered with it. */
export async function createHubToken(hub: HubStore, t: { name: string; scope: HubScope; site: string | null; expiresTs: number | null; nowTs: number }): Promise<string> {
  if (t.scope === 'push' && (!t.site || !SITE_NAME.test(t.site))) throw new Error(`a site name is 1-32 characters a-z, 0-9 and '-', starting with a letter (got '${t.site ?? ''}')`);
  return inTransaction(hub, async (client) => {
    if (t.site) await client.query('INSERT INTO hub_sites (name, created_ts) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [t.site, t.nowTs]);
    const taken = await client.query('SELECT 1 FROM hub_tokens WHERE name = $1', [t.name]);
    if (taken.rowCount) throw new Error(`a token named ${t.name} exists already`);
    const secret = randomBytes(32).toString('base64url');
    // The id is known only after the insert: the hash is of the whole token, so it goes in with a placeholder first.
    const ins = await client.query(
      'INSERT INTO hub_tokens (name, token_hash, prefix, scope, site, created_ts, expires_ts) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id',
      [t.name, `pending-${secret}`, '', t.scope, t.site, t.nowTs, t.expiresTs],
    );
    const id = ins.rows[0].id as number;
    const prefix = `hl_${t.scope}_${id}_`;
    const token = `${prefix}${secret}`;
    await client.query('UPDATE hub_tokens SET token_hash = $2, prefix = $3 WHERE id = $1', [id, sha256(token), prefix]);
    await client.query('INSERT INTO hub_audit (ts, actor, action, target, details) VALUES ($1, $2, $3, $4, $5)', [
      t.nowTs,
      'cli',
      'token.create',
      `token:${t.name}`,
      JSON.stringify({ scope: t.scope, site: t.site }),
    ]);
    return token;
  });
}

/** Who holds `token`, while it is neither revoked nor expired. */
export async function authenticateHubToken(hub: HubStore, token: string, nowTs: number): Promise<{ name: string; scope: HubScope; site: string | null } | null> {
  const r = await hub.pool.query('SELECT name, scope, site FROM hub_tokens WHERE token_hash = $1 AND revoked_ts IS NULL AND (expires_ts IS NULL OR expires_ts > $2)', [
    sha256(token),
    nowTs,
  ]);
  return r.rows[0] ? { name: r.rows[0].name as string, scope: r.rows[0].scope as HubScope, site: (r.rows[0].site as string | null) ?? null } : null;
}

export async function listHubTokens(hub: HubStore): Promise<HubTokenInfo[]> {
  const r = await hub.pool.query(
    'SELECT name, scope, site, prefix, created_ts AS "createdTs", expires_ts AS "expiresTs", revoked_ts AS "revokedTs" FROM hub_tokens ORDER BY id',
  );
  return r.rows.map((x) => ({
    name: x.name,
    scope: x.scope,
    site: x.site ?? null,
    prefix: x.prefix,
    createdTs: Number(x.createdTs),
    expiresTs: x.expiresTs === null ? null : Number(x.expiresTs),
    revokedTs: x.revokedTs === null ? null : Number(x.revokedTs),
  }));
}

/** Revokes the one token with this name or prefix; returns its name (none revoked when several fit). */
export async function revokeHubToken(hub: HubStore, nameOrPrefix: string, nowTs: number): Promise<string> {
  const r = await hub.pool.query('SELECT id, name FROM hub_tokens WHERE revoked_ts IS NULL AND (name = $1 OR prefix = $1)', [nameOrPrefix]);
  if (r.rowCount !== 1) throw new Error(r.rowCount === 0 ? `no live token is named ${nameOrPrefix} or begins so` : `${r.rowCount} tokens fit ${nameOrPrefix}: name one`);
  await hub.pool.query('UPDATE hub_tokens SET revoked_ts = $2 WHERE id = $1', [r.rows[0].id, nowTs]);
  return r.rows[0].name as string;
}

/** Adds (or updates) a person at the hub with their role and the projects they see at every site. */
export async function putHubUser(hub: HubStore, u: { username: string; role: HubRole; passwordHash: string | null; projects: string[]; nowTs: number }): Promise<void> {
  await inTransaction(hub, async (client) => {
    await client.query(
      `INSERT INTO hub_users (username, role, password_hash, created_ts) VALUES ($1, $2, $3, $4)
       ON CONFLICT (username) DO UPDATE SET role = excluded.role, password_hash = COALESCE(excluded.password_hash, hub_users.password_hash)`,
      [u.username, u.role, u.passwordHash, u.nowTs],
    );
    for (const p of u.projects) await client.query('INSERT INTO hub_members (username, project) VALUES ($1, $2) ON CONFLICT DO NOTHING', [u.username, p]);
  });
}

/** A person's role and projects, or null. */
export async function hubUser(hub: HubStore, username: string): Promise<{ username: string; role: HubRole; passwordHash: string | null; projects: string[] } | null> {
  const r = await hub.pool.query('SELECT username, role, password_hash AS "passwordHash" FROM hub_users WHERE username = $1', [username]);
  if (!r.rows[0]) return null;
  const m = await hub.pool.query('SELECT project FROM hub_members WHERE username = $1 ORDER BY project', [username]);
  return { ...(r.rows[0] as { username: string; role: HubRole; passwordHash: string | null }), projects: m.rows.map((x) => x.project as string) };
}

/** Sets a national grant (site '*'): its use is every site's GPU-hours in the period. */
export async function setNationalGrant(hub: HubStore, g: { project: string; fromTs: number; toTs: number; gpuHours: number; actor: string; nowTs: number }): Promise<void> {
  await inTransaction(hub, async (client) => {
    const old = await client.query("SELECT gpu_hours FROM hub_grants WHERE site = '*' AND project = $1 AND from_ts = $2", [g.project, g.fromTs]);
    await client.query(
      `INSERT INTO hub_grants (site, project, from_ts, to_ts, gpu_hours) VALUES ('*', $1, $2, $3, $4)
       ON CONFLICT (site, project, from_ts) DO UPDATE SET to_ts = excluded.to_ts, gpu_hours = excluded.gpu_hours`,
      [g.project, g.fromTs, g.toTs, g.gpuHours],
    );
    await client.query('INSERT INTO hub_audit (ts, actor, action, target, details) VALUES ($1, $2, $3, $4, $5)', [
      g.nowTs,
      g.actor,
      'grant.national',
      `project:${g.project}`,
      JSON.stringify({ from: g.fromTs, to: g.toTs, gpuHours: g.gpuHours, old: old.rows[0]?.gpu_hours ?? null }),
    ]);
  });
}

/** A new browser session for `username` until `expiresTs`; returns its id (stored only as a hash). */
export async function createHubSession(hub: HubStore, username: string, expiresTs: number): Promise<string> {
  const id = randomBytes(32).toString('base64url');
  await hub.pool.query('INSERT INTO hub_sessions (id_hash, username, expires_ts) VALUES ($1, $2, $3)', [sha256(id), username, expiresTs]);
  return id;
}

/** The person a live session belongs to, or null. */
export async function hubSessionUser(hub: HubStore, id: string, nowTs: number) {
  const r = await hub.pool.query('SELECT username FROM hub_sessions WHERE id_hash = $1 AND expires_ts > $2', [sha256(id), nowTs]);
  return r.rows[0] ? hubUser(hub, r.rows[0].username as string) : null;
}

export async function endHubSession(hub: HubStore, id: string): Promise<void> {
  await hub.pool.query('DELETE FROM hub_sessions WHERE id_hash = $1', [sha256(id)]);
}

/**
 * Everything the hub holds under a person's name: their hub account (no password hash) and
 * sessions, and what sites pushed under that name (only sites that push real names,
 * `HEATLEDGER_HUB_REAL_NAMES=1`, do: others push pseudonyms). Reads the pushed tables by
 * scan (no index on user names: a rare request).
 */
export async function exportHubPerson(hub: HubStore, username: string) {
  const account = await hub.pool.query('SELECT username, role, created_ts AS "createdTs" FROM hub_users WHERE username = $1', [username]);
  const member = await hub.pool.query('SELECT project FROM hub_members WHERE username = $1 ORDER BY project', [username]);
  const sessions = await hub.pool.query('SELECT COUNT(*) AS n FROM hub_sessions WHERE username = $1', [username]);
  const jobs = await hub.pool.query(
    `SELECT site, cluster, job_id AS "jobId", project, partition, gpus, submit_ts AS "submitTs", start_ts AS "startTs", end_ts AS "endTs", state, energy_kwh AS "energyKWh"
     FROM hub_jobs WHERE user_name = $1 ORDER BY site, start_ts, job_id`,
    [username],
  );
  const usage = await hub.pool.query(
    `SELECT site, project, partition, SUM(gpu_s) / 3600 AS "gpuHours", SUM(energy_kwh) AS "energyKWh", MIN(hour_ts) AS "fromTs", MAX(hour_ts) + 3600000 AS "toTs"
     FROM hub_usage_hour WHERE user_name = $1 GROUP BY site, project, partition ORDER BY site, project, partition`,
    [username],
  );
  const audit = await hub.pool.query(
    "SELECT ts, action, target, details FROM hub_audit WHERE actor = 'user:' || $1 OR target = 'user:' || $1 ORDER BY id",
    [username],
  );
  const a = account.rows[0] as { username: string; role: HubRole; createdTs: string } | undefined;
  return {
    username,
    account: a ? { username: a.username, role: a.role, created: new Date(Number(a.createdTs)).toISOString(), projects: member.rows.map((r) => r.project as string) } : null,
    sessions: Number(sessions.rows[0].n),
    pushedJobs: jobs.rows.map((j) => ({ ...j, submitTs: Number(j.submitTs), startTs: Number(j.startTs), endTs: j.endTs === null ? null : Number(j.endTs) })),
    pushedUsage: usage.rows.map((u) => ({ ...u, fromTs: Number(u.fromTs), toTs: Number(u.toTs) })),
    audit: audit.rows.map((r) => ({ ts: new Date(Number(r.ts)).toISOString(), action: r.action as string, target: r.target as string, details: JSON.parse((r.details as string | null) ?? '{}') as unknown })),
  };
}

/**
 * Forgets a person at the hub in one transaction: deletes their hub account, memberships and
 * sessions, and moves what sites pushed under their name to a pseudonym (the figures stay, as
 * at a site). A site that pushes real names must forget the person too (`heatledger user
 * forget` there), or a later push of a changed day brings the name back: the answer names
 * those sites.
 */
export async function forgetHubPerson(hub: HubStore, username: string, o: { nowTs: number; actor: string }) {
  const pseudonym = `forgotten-${randomBytes(6).toString('hex')}`;
  return inTransaction(hub, async (client) => {
    const sessions = await client.query('DELETE FROM hub_sessions WHERE username = $1', [username]);
    const memberships = await client.query('DELETE FROM hub_members WHERE username = $1', [username]);
    const account = await client.query('DELETE FROM hub_users WHERE username = $1', [username]);
    const jobs = await client.query('UPDATE hub_jobs SET user_name = $2 WHERE user_name = $1 RETURNING site', [username, pseudonym]);
    const usage = await client.query('UPDATE hub_usage_hour SET user_name = $2 WHERE user_name = $1 RETURNING site', [username, pseudonym]);
    // What they did at the hub (a national grant set) keeps its record, under the pseudonym.
    await client.query("UPDATE hub_audit SET actor = 'user:' || $2 WHERE actor = 'user:' || $1", [username, pseudonym]);
    const sites = [...new Set([...jobs.rows, ...usage.rows].map((r) => r.site as string))].sort();
    const result = { account: (account.rowCount ?? 0) > 0, sessions: sessions.rowCount ?? 0, memberships: memberships.rowCount ?? 0, jobs: jobs.rowCount ?? 0, usageRows: usage.rowCount ?? 0, pseudonym, sites };
    await client.query('INSERT INTO hub_audit (ts, actor, action, target, details) VALUES ($1, $2, $3, $4, $5)', [o.nowTs, o.actor, 'user.forget', `user:${pseudonym}`, JSON.stringify({ ...result, pseudonym: undefined })]);
    return result;
  });
}
