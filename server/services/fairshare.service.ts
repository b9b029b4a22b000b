/**
 * Fair share from Slurm (issue 19, point 3): one fair-share batch per cluster (the
 * collector's `sshare -a -l -P`) replaces what is stored for that cluster, all or nothing;
 * readers get each project's share, its usage against the share and what that does to its
 * jobs' priority, in a sentence (fairshare-standing.ts).
 *
 * Who sees what follows the usage matrix: projects as `visibility` allows (researchers and
 * PIs their own projects); a user's row (personal data) only for roles with per-user access,
 * and for a researcher only their own.
 */
import type { Database } from 'better-sqlite3';
import type { Visibility } from '../auth/middleware.ts';
import { DomainError } from '../errors.ts';
import { forgottenCheck } from './associations.service.ts';
import { fairshareStanding, type Standing } from './fairshare-standing.ts';
import type { FairshareBatchParsed } from './ingest-types.ts';

export interface FairshareIngestResult {
  accepted: number;
  duplicates: number;
}

/**
 * Replaces the batch's cluster's fair share in one transaction. A batch taken no later than
 * the stored one (a spooled batch sent again, or overtaken) changes nothing and counts as
 * duplicates. Rows of forgotten users are left out.
 */
export function applyFairshare(sqlite: Database, batch: FairshareBatchParsed): FairshareIngestResult {
  const takenTs = Date.parse(batch.takenAt);
  return sqlite.transaction(() => {
    const stored = sqlite.prepare('SELECT MAX(taken_ts) FROM fairshare WHERE cluster = ?').pluck().get(batch.cluster) as number | null;
    if (stored !== null && stored >= takenTs) return { accepted: 0, duplicates: batch.rows.length };
    const forgotten = forgottenCheck(sqlite);
    const rows = batch.rows.filter((r) => r.user === null || !forgotten(r.user));
    sqlite.prepare('DELETE FROM fairshare WHERE cluster = ?').run(batch.cluster);
    const ins = sqlite.prepare(
      `INSERT INTO fairshare (cluster, account, user, parent, raw_shares, shares_from_parent, norm_shares, raw_usage, effectv_usage, fair_share, level_fs, grp_tres_mins, grp_tres_raw, taken_ts)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    for (const r of rows) {
      ins.run(batch.cluster, r.account, r.user ?? '', r.user === null ? r.parent : null, r.rawShares, r.sharesFromParent ? 1 : 0, r.normShares, r.rawUsage, r.effectvUsage, r.fairShare, r.levelFs, r.grpTresMins, r.grpTresRaw, takenTs);
    }
    return { accepted: rows.length, duplicates: batch.rows.length - rows.length };
  }).immediate();
}

/** One row's figures as the API gives them. */
export interface FairshareFigures {
  rawShares: number | null;
  sharesFromParent: boolean;
  /** NormShares: the share of its level (0–1). */
  shares: number | null;
  /** EffectvUsage: the usage of its level (0–1). */
  usage: number | null;
  /** usage ÷ shares. */
  ratio: number | null;
  /** FairShare: Slurm's fair-share factor (0–1, higher is placed earlier); null on project rows. */
  fairShare: number | null;
  levelFs: number | null;
  rawUsage: number;
  standing: Standing;
  /** One English sentence; the dashboard words its own from `standing` and `ratio`. */
  explanation: string;
}

export interface FairshareProject extends FairshareFigures {
  cluster: string;
  project: string;
  /** The account one level up in Slurm's tree, whose share the project's is a part of. */
  parent: string | null;
  grpTresMins: string | null;
  grpTresRaw: string | null;
  /** The project's users; empty for roles without per-user access, only the caller's own for a researcher. */
  users: Array<FairshareFigures & { user: string }>;
}

export interface FairshareAnswer {
  clusters: Array<{ cluster: string; takenAt: string }>;
  projects: FairshareProject[];
}

interface Row {
  cluster: string;
  account: string;
  user: string;
  parent: string | null;
  rawShares: number | null;
  sharesFromParent: number;
  normShares: number | null;
  rawUsage: number;
  effectvUsage: number | null;
  fairShare: number | null;
  levelFs: number | null;
  grpTresMins: string | null;
  grpTresRaw: string | null;
}

function figures(r: Row, name: string, within: string | null): FairshareFigures {
  const s = fairshareStanding({ name, within, normShares: r.normShares, effectvUsage: r.effectvUsage, rawUsage: r.rawUsage, sharesFromParent: r.sharesFromParent === 1, parent: within ?? r.parent });
  return {
    rawShares: r.rawShares,
    sharesFromParent: r.sharesFromParent === 1,
    shares: r.normShares,
    usage: r.effectvUsage,
    ratio: s.ratio,
    fairShare: r.fairShare,
    levelFs: r.levelFs,
    rawUsage: r.rawUsage,
    standing: s.standing,
    explanation: s.explanation,
  };
}

/**
 * Each visible project's fair share (Slurm's root account, the top of the tree, is no
 * project), by cluster and name; `project` narrows to one (FORBIDDEN when the caller may
 * not see it).
 */
export function getFairshare(sqlite: Database, vis: Visibility, filter: { project?: string; cluster?: string } = {}): FairshareAnswer {
  if (filter.project !== undefined && vis.accounts !== null && !vis.accounts.includes(filter.project)) {
    throw new DomainError('FORBIDDEN', `you are not a member of project ${filter.project}`);
  }
  const clusters = sqlite.prepare('SELECT cluster, MAX(taken_ts) AS ts FROM fairshare GROUP BY cluster ORDER BY cluster').all() as Array<{ cluster: string; ts: number }>;
  const rows = sqlite
    .prepare(
      `SELECT cluster, account, user, parent, raw_shares AS rawShares, shares_from_parent AS sharesFromParent, norm_shares AS normShares,
              raw_usage AS rawUsage, effectv_usage AS effectvUsage, fair_share AS fairShare, level_fs AS levelFs,
              grp_tres_mins AS grpTresMins, grp_tres_raw AS grpTresRaw
       FROM fairshare WHERE (@cluster IS NULL OR cluster = @cluster) AND (@project IS NULL OR account = @project)
       ORDER BY cluster, account, user`,
    )
    .all({ cluster: filter.cluster ?? null, project: filter.project ?? null }) as Row[];
  const seesAccount = (a: string) => vis.accounts === null || vis.accounts.includes(a);
  const seesUser = (u: string) => vis.perUser && (vis.users === null || vis.users.includes(u));
  const projects = new Map<string, FairshareProject>();
  for (const r of rows) {
    if (r.user !== '' || r.parent === null || !seesAccount(r.account)) continue;
    projects.set(`${r.cluster}\u0000${r.account}`, { cluster: r.cluster, project: r.account, parent: r.parent, grpTresMins: r.grpTresMins, grpTresRaw: r.grpTresRaw, ...figures(r, r.account, null), users: [] });
  }
  for (const r of rows) {
    if (r.user === '' || !seesUser(r.user)) continue;
    projects.get(`${r.cluster}\u0000${r.account}`)?.users.push({ user: r.user, ...figures(r, r.user, r.account) });
  }
  return { clusters: clusters.map((c) => ({ cluster: c.cluster, takenAt: new Date(c.ts).toISOString() })), projects: [...projects.values()] };
}
