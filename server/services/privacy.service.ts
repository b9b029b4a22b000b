/**
 * Data-protection requests (GDPR arts. 15 and 17) for one person: export everything
 * HeatLedger holds about them, or forget them. Forgetting deletes the account, its
 * sessions and memberships, and replaces the username in job records (and audit-log
 * entries they made) with a random pseudonym, so every project and facility total stays
 * as it was while nothing links the records back to the person.
 */
import { randomBytes } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import { usageByKey, type UsageRow } from '../../db/queries/usage.ts';
import { DomainError } from '../errors.ts';
import { pseudonymisePerson } from '../../db/writers/people.ts';
import { recordAudit } from './audit.service.ts';

export interface PersonExport {
  exportedAt: string;
  account: { username: string; role: string; createdAt: string; canLogIn: boolean; email: string | null; lang: string | null } | null;
  /** `source`: Slurm's associations or an administrator. */
  memberships: Array<{ project: string; isPi: boolean; source: string }>;
  /** Slurm's associations and coordinator roles naming them, as the last batch of each cluster gave them. */
  slurmAssociations: Array<{ cluster: string; account: string; coordinator: boolean }>;
  /** Grant-alert emails addressed to them. */
  alertMails: Array<{ project: string; thresholdPct: number; address: string; sentAt: string | null }>;
  sessions: Array<{ createdAt: string; expiresAt: string }>;
  jobs: Array<Record<string, unknown>>;
  /** GPU-hours and measured energy of the person's jobs per project, over all stored time. */
  usage: UsageRow[];
  auditEntries: Array<{ ts: string; actor: string; action: string; target: string }>;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Everything stored about `username`; NOT_FOUND when nothing is. */
export function exportPerson(sqlite: Database, username: string, nowMs: number): PersonExport {
  const user = sqlite.prepare('SELECT id, username, role, password_hash AS hash, created_ts AS createdTs, email, lang FROM users WHERE username = ?').get(username) as
    | { id: number; username: string; role: string; hash: string | null; createdTs: number; email: string | null; lang: string | null }
    | undefined;
  const jobs = sqlite
    .prepare(
      `SELECT cluster, job_id AS jobId, array_job_id AS arrayJobId, name, user, account, partition, qos, state,
              submit_ts AS submitTs, eligible_ts AS eligibleTs, start_ts AS startTs, end_ts AS endTs,
              gpus, gpu_type AS gpuType, cpus, nodes, exit_code AS exitCode
       FROM jobs WHERE user = ? ORDER BY submit_ts, cluster, job_id`,
    )
    .all(username) as Array<Record<string, unknown> & { submitTs: number; eligibleTs: number | null; startTs: number | null; endTs: number | null; nodes: string }>;
  if (!user && jobs.length === 0 && !sqlite.prepare('SELECT 1 FROM slurm_associations WHERE user = ? UNION ALL SELECT 1 FROM slurm_coordinators WHERE user = ?').get(username, username)) throw new DomainError('NOT_FOUND', `nothing is stored about user ${username}`);
  const memberships = user
    ? (sqlite
        .prepare('SELECT p.name AS project, m.is_pi AS isPi, m.source FROM project_members m JOIN projects p ON p.id = m.project_id WHERE m.user_id = ? ORDER BY p.name')
        .all(user.id) as Array<{ project: string; isPi: number; source: string }>)
    : [];
  const slurm = sqlite
    .prepare(
      `SELECT cluster, account, MAX(coordinator) AS coordinator FROM (
         SELECT cluster, account, 0 AS coordinator FROM slurm_associations WHERE user = @u
         UNION ALL SELECT cluster, account, 1 FROM slurm_coordinators WHERE user = @u)
       GROUP BY cluster, account ORDER BY cluster, account`,
    )
    .all({ u: username }) as Array<{ cluster: string; account: string; coordinator: number }>;
  const mails = user
    ? (sqlite
        .prepare(
          `SELECT p.name AS project, a.threshold_pct AS thresholdPct, m.address, m.sent_ts AS sentTs FROM alert_mails m
           JOIN alerts a ON a.id = m.alert_id JOIN allocations al ON al.id = a.allocation_id JOIN projects p ON p.id = al.project_id
           WHERE m.user_id = ? ORDER BY m.alert_id`,
        )
        .all(user.id) as Array<{ project: string; thresholdPct: number; address: string; sentTs: number | null }>)
    : [];
  const sessions = user
    ? (sqlite.prepare('SELECT created_ts AS c, expires_ts AS e FROM sessions WHERE user_id = ? ORDER BY created_ts').all(user.id) as Array<{ c: number; e: number }>)
    : [];
  const audit = sqlite
    .prepare('SELECT ts, actor, action, target FROM audit_log WHERE actor = ? OR target = ? ORDER BY id')
    .all(username, `user:${username}`) as Array<{ ts: number; actor: string; action: string; target: string }>;
  return {
    exportedAt: new Date(nowMs).toISOString(),
    account: user ? { username: user.username, role: user.role, createdAt: iso(user.createdTs)!, canLogIn: user.hash !== null, email: user.email, lang: user.lang } : null,
    memberships: memberships.map((m) => ({ project: m.project, isPi: m.isPi === 1, source: m.source })),
    slurmAssociations: slurm.map((a) => ({ cluster: a.cluster, account: a.account, coordinator: a.coordinator === 1 })),
    alertMails: mails.map((m) => ({ project: m.project, thresholdPct: m.thresholdPct, address: m.address, sentAt: iso(m.sentTs) })),
    sessions: sessions.map((s) => ({ createdAt: iso(s.c)!, expiresAt: iso(s.e)! })),
    jobs: jobs.map(({ submitTs, eligibleTs, startTs, endTs, nodes, ...rest }) => ({
      ...rest,
      submitTime: iso(submitTs),
      eligibleTime: iso(eligibleTs),
      startTime: iso(startTs),
      endTime: iso(endTs),
      nodes: JSON.parse(nodes) as string[],
    })),
    usage: usageByKey(sqlite, { fromTs: 0, toTs: nowMs + 1, nowTs: nowMs, groupBy: 'project', accounts: null, users: [username] }),
    auditEntries: audit.map((a) => ({ ts: iso(a.ts)!, actor: a.actor, action: a.action, target: a.target })),
  };
}

export interface ForgetResult {
  pseudonym: string;
  jobs: number;
  sessions: number;
  memberships: number;
  account: boolean;
}

/** Forgets `username` in one transaction; NOT_FOUND when nothing is stored about them. */
export function forgetPerson(sqlite: Database, username: string, { nowMs, actor }: { nowMs: number; actor: string }): ForgetResult {
  // Random, not an HMAC of the name: a keyed hash could be re-linked by anyone holding the
  // key and a list of candidate usernames.
  const pseudonym = `forgotten-${randomBytes(6).toString('hex')}`;
  return sqlite.transaction((): ForgetResult => {
    const { account, jobs, sessions, memberships } = pseudonymisePerson(sqlite, username, pseudonym, nowMs);
    if (!account && jobs === 0) throw new DomainError('NOT_FOUND', `nothing is stored about user ${username}`);
    recordAudit(sqlite, { ts: nowMs, actor, action: 'user.forget', target: `user:${pseudonym}`, details: { jobs, sessions, memberships } });
    return { pseudonym, jobs, sessions, memberships, account };
  }).immediate();
}
