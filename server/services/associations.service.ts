/**
 * Project membership and grants from Slurm's associations (issue 16): one associations
 * batch per cluster replaces what is stored for that cluster, then, in the same
 * transaction,
 * - memberships from Slurm (`project_members.source = 'slurm'`) become exactly the
 *   (account, user) pairs of every cluster's associations, coordinators being the account's
 *   PIs: a user removed from an account in Slurm loses access with the batch that no longer
 *   lists them. Memberships an administrator made are never touched (they are shown apart);
 * - an account's `GrpTRESMins=gres/gpu=N` is a grant of N/60 GPU-hours over the configured
 *   grant period (HEATLEDGER_GRANT_PERIOD) or the period of the project's latest grant; a
 *   changed N changes the grant through the allocation service (checked as any change, and
 *   audited with the old and new value). A parent account's limit is the parent grant.
 *   Grants of projects Slurm does not limit are left as they are.
 * A person forgotten by `heatledger user forget` is left out: Slurm still naming them does
 * not bring their name back.
 */
import type { Database } from 'better-sqlite3';
import type { AssociationsBatchParsed } from './ingest-types.ts';
import { keyedHash } from '../../db/rules/keyed-hash.ts';
import { DomainError } from '../errors.ts';
import { createAllocation, updateAllocation } from './allocation.service.ts';

export interface AssociationsResult {
  accepted: number;
  duplicates: number;
  memberships: { added: number; removed: number; changed: number };
  grants: { created: number; changed: number };
  /** What could not be applied (a grant the allocation rules refuse, no grant period), each naming the account. */
  warnings: string[];
}

interface GrantPeriod {
  start: string;
  end: string;
}

/** Stores one cluster's associations and brings memberships and grants in line; all or nothing. */
export function applyAssociations(sqlite: Database, batch: AssociationsBatchParsed, opts: { nowTs: number; grantPeriod: GrantPeriod | null }): AssociationsResult {
  return sqlite.transaction(() => {
    const forgotten = forgottenCheck(sqlite);
    const rows = batch.associations.filter((a) => a.user === null || !forgotten(a.user));
    const coordinators = batch.coordinators.filter((c) => !forgotten(c.user));
    const unchanged = sameAsStored(sqlite, batch.cluster, rows, coordinators);
    if (!unchanged) {
      sqlite.prepare('DELETE FROM slurm_associations WHERE cluster = ?').run(batch.cluster);
      sqlite.prepare('DELETE FROM slurm_coordinators WHERE cluster = ?').run(batch.cluster);
      const insA = sqlite.prepare('INSERT OR REPLACE INTO slurm_associations (cluster, account, user, parent, gpu_minutes) VALUES (?, ?, ?, ?, ?)');
      for (const a of rows) insA.run(batch.cluster, a.account, a.user ?? '', a.parent, a.gpuMinutes);
      const insC = sqlite.prepare('INSERT OR IGNORE INTO slurm_coordinators (cluster, account, user) VALUES (?, ?, ?)');
      for (const c of coordinators) insC.run(batch.cluster, c.account, c.user);
    }
    // Memberships and grants are brought in line even when the associations did not change:
    // an administrator may have changed a grant or a person may have been forgotten meanwhile.
    const warnings: string[] = [];
    const memberships = syncMemberships(sqlite, opts.nowTs, warnings);
    const grants = syncGrants(sqlite, batch.cluster, opts, warnings);
    const n = rows.length + coordinators.length;
    return { accepted: unchanged ? 0 : n, duplicates: unchanged ? n : 0, memberships, grants, warnings };
  }).immediate();
}

/** Whether a user was forgotten (`user forget`): Slurm still naming them must not bring their name back. */
export function forgottenCheck(sqlite: Database): (user: string) => boolean {
  const any = sqlite.prepare('SELECT 1 FROM forgotten_users LIMIT 1').get();
  if (!any) return () => false;
  const hash = keyedHash(sqlite);
  const seen = sqlite.prepare('SELECT 1 FROM forgotten_users WHERE name_hash = ?');
  return (user) => seen.get(hash(user)) !== undefined;
}

function sameAsStored(sqlite: Database, cluster: string, rows: AssociationsBatchParsed['associations'], coordinators: AssociationsBatchParsed['coordinators']): boolean {
  const key = (a: { account: string; user: string | null; parent: string | null; gpuMinutes: number | null }) => JSON.stringify([a.account, a.user ?? '', a.parent, a.gpuMinutes]);
  const stored = sqlite.prepare("SELECT account, user, parent, gpu_minutes AS gpuMinutes FROM slurm_associations WHERE cluster = ?").all(cluster) as Array<{ account: string; user: string; parent: string | null; gpuMinutes: number | null }>;
  const storedC = sqlite.prepare('SELECT account, user FROM slurm_coordinators WHERE cluster = ?').all(cluster) as Array<{ account: string; user: string }>;
  const a = new Set(rows.map(key));
  const c = new Set(coordinators.map((x) => `${x.account}\u0000${x.user}`));
  return (
    stored.length === a.size && stored.every((s) => a.has(key(s))) && storedC.length === c.size && storedC.every((s) => c.has(`${s.account}\u0000${s.user}`))
  );
}

/**
 * Memberships from Slurm = the (account, user) pairs of all clusters' associations and
 * coordinators, except where another cluster has an account of the same name that does not
 * associate the user: a project is the account name across clusters, so membership through
 * one cluster would show the other cluster's jobs of that name (named in `warnings`).
 */
function syncMemberships(sqlite: Database, nowTs: number, warnings: string[]): AssociationsResult['memberships'] {
  const pairs = `SELECT cluster, account, user FROM slurm_associations WHERE user <> '' UNION SELECT cluster, account, user FROM slurm_coordinators`;
  const candidates = sqlite
    .prepare(
      `WITH p AS (${pairs})
       SELECT p.account, p.user, MAX(EXISTS (SELECT 1 FROM slurm_coordinators c WHERE c.account = p.account AND c.user = p.user)) AS pi,
         (SELECT group_concat(DISTINCT o.cluster) FROM slurm_associations o WHERE o.account = p.account
            AND NOT EXISTS (SELECT 1 FROM p q WHERE q.cluster = o.cluster AND q.account = p.account AND q.user = p.user)) AS elsewhere
       FROM p GROUP BY p.account, p.user ORDER BY p.account, p.user`,
    )
    .all() as Array<{ account: string; user: string; pi: number; elsewhere: string | null }>;
  const wanted = candidates.filter((c) => {
    if (c.elsewhere === null) return true;
    warnings.push(`${c.account}: ${c.user} is not associated with it on ${c.elsewhere}, which has an account of that name: no access from Slurm (rename one with --account-map)`);
    return false;
  });
  const projectIns = sqlite.prepare('INSERT OR IGNORE INTO projects (name, created_ts) VALUES (?, ?)');
  const projectGet = sqlite.prepare('SELECT id FROM projects WHERE name = ?');
  // A Slurm user who never signed in: a researcher without a password (OIDC or an administrator lets them in).
  const userIns = sqlite.prepare("INSERT OR IGNORE INTO users (username, role, created_ts) VALUES (?, 'researcher', ?)");
  const userGet = sqlite.prepare('SELECT id FROM users WHERE username = ?');
  const memberGet = sqlite.prepare('SELECT source, is_pi AS isPi FROM project_members WHERE project_id = ? AND user_id = ?');
  const memberIns = sqlite.prepare("INSERT INTO project_members (project_id, user_id, is_pi, source) VALUES (?, ?, ?, 'slurm')");
  const memberPi = sqlite.prepare("UPDATE project_members SET is_pi = ? WHERE project_id = ? AND user_id = ? AND source = 'slurm'");
  const out = { added: 0, removed: 0, changed: 0 };
  const keep = new Set<string>();
  for (const w of wanted) {
    projectIns.run(w.account, nowTs);
    userIns.run(w.user, nowTs);
    const projectId = (projectGet.get(w.account) as { id: number }).id;
    const userId = (userGet.get(w.user) as { id: number }).id;
    keep.add(`${projectId}:${userId}`);
    const m = memberGet.get(projectId, userId) as { source: string; isPi: number } | undefined;
    if (!m) {
      memberIns.run(projectId, userId, w.pi);
      out.added++;
    } else if (m.source === 'slurm' && m.isPi !== w.pi) {
      memberPi.run(w.pi, projectId, userId);
      out.changed++;
    }
  }
  const slurmMembers = sqlite.prepare("SELECT project_id AS projectId, user_id AS userId FROM project_members WHERE source = 'slurm'").all() as Array<{ projectId: number; userId: number }>;
  const del = sqlite.prepare("DELETE FROM project_members WHERE project_id = ? AND user_id = ? AND source = 'slurm'");
  for (const m of slurmMembers) {
    if (keep.has(`${m.projectId}:${m.userId}`)) continue;
    del.run(m.projectId, m.userId);
    out.removed++;
  }
  return out;
}

interface AccountLimit {
  account: string;
  parent: string | null;
  gpuMinutes: number;
}

/** The cluster's account limits as grants: parents before children, so a child can name its parent's grant. */
function syncGrants(sqlite: Database, cluster: string, opts: { nowTs: number; grantPeriod: GrantPeriod | null }, warnings: string[]): AssociationsResult['grants'] {
  const limits = sqlite
    .prepare("SELECT account, parent, gpu_minutes AS gpuMinutes FROM slurm_associations WHERE cluster = ? AND user = '' AND gpu_minutes IS NOT NULL")
    .all(cluster) as AccountLimit[];
  const byAccount = new Map(limits.map((l) => [l.account, l]));
  const depth = (l: AccountLimit): number => {
    let d = 0;
    for (let p = l.parent; p !== null && byAccount.has(p) && d < 64; p = byAccount.get(p)!.parent) d++;
    return d;
  };
  const ordered = limits.toSorted((a, b) => depth(a) - depth(b) || a.account.localeCompare(b.account));
  const actor = `slurm:${cluster}`;
  const out = { created: 0, changed: 0 };
  const latest = sqlite.prepare(
    `SELECT a.id, a.amount, a.parent_id AS parentId, a.period_start_ts AS startTs, a.period_end_ts AS endTs, a.source
     FROM allocations a JOIN projects p ON p.id = a.project_id WHERE p.name = ? ORDER BY a.period_end_ts DESC, a.id DESC LIMIT 1`,
  );
  const samePeriod = sqlite.prepare(
    `SELECT a.id, a.amount, a.source FROM allocations a JOIN projects p ON p.id = a.project_id
     WHERE p.name = ? AND a.period_start_ts = ? AND a.period_end_ts = ? ORDER BY a.id DESC LIMIT 1`,
  );
  const markSlurm = sqlite.prepare("UPDATE allocations SET source = 'slurm' WHERE id = ?");
  /** Each account's grant id for this round's period, for its children. */
  const grantOf = new Map<string, number>();
  for (const l of ordered) {
    const hours = l.gpuMinutes / 60;
    const prior = latest.get(l.account) as { id: number; startTs: number; endTs: number } | undefined;
    const period = opts.grantPeriod ?? (prior ? { start: new Date(prior.startTs).toISOString(), end: new Date(prior.endTs).toISOString() } : null);
    if (!period) {
      warnings.push(`${l.account}: GrpTRESMins gres/gpu=${l.gpuMinutes} but no grant period (set HEATLEDGER_GRANT_PERIOD or give the project a grant)`);
      continue;
    }
    const existing = samePeriod.get(l.account, Date.parse(period.start), Date.parse(period.end)) as { id: number; amount: number; source: string } | undefined;
    try {
      if (!existing) {
        const parentId = l.parent !== null ? (grantOf.get(l.parent) ?? null) : null;
        const id = createAllocation(sqlite, { project: l.account, parentId, grantedGpuHours: hours, periodStart: period.start, periodEnd: period.end }, actor, opts.nowTs);
        markSlurm.run(id);
        grantOf.set(l.account, id);
        out.created++;
      } else {
        grantOf.set(l.account, existing.id);
        if (Math.abs(existing.amount - hours) > 1e-9) {
          updateAllocation(sqlite, existing.id, { grantedGpuHours: hours }, actor, opts.nowTs);
          out.changed++;
        }
        if (existing.source !== 'slurm') markSlurm.run(existing.id);
      }
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      warnings.push(`${l.account}: GrpTRESMins gres/gpu=${l.gpuMinutes} (${hours} GPU-hours) not applied: ${error.message}`);
    }
  }
  return out;
}
