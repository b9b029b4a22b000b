/**
 * Fair share from Slurm (issue 19, point 3): `sshare -a -l -P` read each round and sent as
 * one fair-share batch per cluster (POST /api/v1/ingest/fairshare).
 *
 * What sshare prints, seen on the real Slurm 22.05.8 (test/fixtures/slurm-assoc/README.md):
 * - columns found by their header names, never by position (the column set changes with
 *   the version, `-l` and `-o`); `-p` ends every line with `|`, `-P` does not;
 * - the account is indented by its depth in the tree (leading spaces, even with -P): that
 *   indentation is the only place the parent account is written;
 * - an account's own row has an empty User; the users' rows follow it, one deeper;
 * - RawShares is `parent` for an association with Fairshare=parent (it competes with its
 *   parent's share) and empty on root;
 * - NormShares, FairShare and LevelFS are empty where Slurm has none (every NormShares
 *   with PriorityType=priority/basic; FairShare on account rows), LevelFS is `inf` with no
 *   usage;
 * - with `-M cluster` a first line `CLUSTER: name`.
 * Output of another shape (no header, `-n`, the fixed-width table without -P, a missing
 * column, a line with another number of columns, a figure that is not a number) is refused
 * whole with an error naming the input, the line and the column.
 */
import type { FairshareBatch } from '../shared/wire.ts';
import type { RunCommand } from './slurm-source.ts';
import { runCommand } from './slurm-source.ts';

/** One association's fair-share figures, as sshare prints them. */
export interface FairshareRow {
  account: string;
  /** null: the account's own row (the account among its sibling accounts). */
  user: string | null;
  /** The account one level up (from the indentation); null for root. */
  parent: string | null;
  /** RawShares; null when sshare prints none (root) or `parent`. */
  rawShares: number | null;
  /** RawShares `parent`: the association uses its parent account's share. */
  sharesFromParent: boolean;
  /** NormShares: the share among its siblings, 0–1; null where Slurm computes none. */
  normShares: number | null;
  rawUsage: number;
  /** EffectvUsage: the usage among its siblings, 0–1. */
  effectvUsage: number | null;
  /** FairShare: the fair-share factor, 0–1 (higher: placed earlier); null on account rows. */
  fairShare: number | null;
  /** LevelFS: NormShares ÷ EffectvUsage; null when printed empty or `inf` (no usage). */
  levelFs: number | null;
  grpTresMins: string | null;
  grpTresRaw: string | null;
}

/** What one sshare run printed: the cluster of `CLUSTER: name` (with -M) and the rows. */
export interface SshareOutput {
  cluster: string | null;
  rows: FairshareRow[];
}

/** sshare output HeatLedger cannot read, naming the input, the line and the column. */
export class SshareError extends Error {}

const REQUIRED = ['Account', 'User', 'RawShares', 'NormShares', 'RawUsage', 'EffectvUsage', 'FairShare'] as const;
const OPTIONAL = ['LevelFS', 'GrpTRESMins', 'GrpTRESRaw'] as const;
type Column = (typeof REQUIRED)[number] | (typeof OPTIONAL)[number];
const KNOWN = new Set<string>([...REQUIRED, ...OPTIONAL, 'NormUsage', 'TRESRunMins', 'Cluster', 'Partition'].map((c) => c.toLowerCase()));
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** The rows of `sshare -a -l -P` (or `-p`); `input` names the command in errors. */
export function parseSshare(text: string, input = 'sshare -a -l -P'): SshareOutput {
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  let at = lines.findIndex((l) => l.trim() !== '');
  if (at === -1) throw new SshareError(`${input}: empty output (run it without -n: the header names the columns)`);
  let cluster: string | null = null;
  const clusterLine = /^CLUSTER:\s*(\S+)\s*$/.exec(lines[at]!);
  if (clusterLine) {
    cluster = clusterLine[1]!;
    at = lines.findIndex((l, i) => i > at && l.trim() !== '');
    if (at === -1) throw new SshareError(`${input}: no header after 'CLUSTER: ${cluster}'`);
  }
  const headerLine = lines[at]!;
  if (!headerLine.includes('|')) {
    throw new SshareError(`${input}: line ${at + 1} is not parsable output (no | between columns, perhaps the table sshare prints without -P): run sshare -a -l -P`);
  }
  const trailing = headerLine.endsWith('|');
  const split = (l: string) => (trailing && l.endsWith('|') ? l.slice(0, -1) : l).split('|');
  const header = split(headerLine).map((h) => h.trim());
  if (!header.some((h) => KNOWN.has(h.toLowerCase()))) {
    throw new SshareError(`${input}: line ${at + 1} is not a header (${JSON.stringify(headerLine.slice(0, 80))} names no sshare column): run sshare without -n, so that the header names the columns`);
  }
  const col = {} as Record<Column, number>;
  for (const name of [...REQUIRED, ...OPTIONAL]) {
    col[name] = header.findIndex((h) => h.toLowerCase() === name.toLowerCase());
    if (col[name] === -1 && (REQUIRED as readonly string[]).includes(name)) {
      throw new SshareError(`${input}: no ${name} column in the header ${JSON.stringify(header.join('|'))} (another Slurm version or -o?): run sshare -a -l -P`);
    }
  }

  const rows: FairshareRow[] = [];
  // The account of each depth so far: the indentation is the tree.
  const path: string[] = [];
  for (let i = at + 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    const lineNo = i + 1;
    const cells = split(line);
    if (cells.length !== header.length) {
      throw new SshareError(`${input}: line ${lineNo} has ${cells.length} columns, the header ${header.length}: ${JSON.stringify(line.slice(0, 120))}`);
    }
    const raw = (c: Column) => (col[c] === -1 ? '' : cells[col[c]]!.trim());
    const number = (c: Column, { empty = false, inf = false } = {}): number | null => {
      const v = raw(c);
      if (v === '' && empty) return null;
      if (v === 'inf' && inf) return null;
      if (!NUMBER.test(v)) throw new SshareError(`${input}: line ${lineNo}, column ${c}: ${JSON.stringify(v)} is not a number`);
      return Number(v);
    };
    const accountCell = cells[col.Account]!;
    const account = accountCell.trim();
    if (account === '') throw new SshareError(`${input}: line ${lineNo} has no Account`);
    const user = raw('User') === '' ? null : raw('User');
    let parent: string | null = null;
    if (user === null) {
      const depth = accountCell.length - accountCell.trimStart().length;
      if (depth > path.length) throw new SshareError(`${input}: line ${lineNo}: account ${account} is indented ${depth} deep under an account ${path.length - 1} deep (sshare -a prints the tree in order)`);
      path.length = depth;
      parent = depth === 0 ? null : path[depth - 1]!;
      path.push(account);
    }
    const shares = raw('RawShares');
    rows.push({
      account,
      user,
      parent,
      rawShares: shares === 'parent' ? null : number('RawShares', { empty: true }),
      sharesFromParent: shares === 'parent',
      normShares: number('NormShares', { empty: true }),
      rawUsage: number('RawUsage')!,
      effectvUsage: number('EffectvUsage', { empty: true }),
      fairShare: number('FairShare', { empty: true }),
      levelFs: col.LevelFS === -1 ? null : number('LevelFS', { empty: true, inf: true }),
      grpTresMins: raw('GrpTRESMins') || null,
      grpTresRaw: raw('GrpTRESRaw') || null,
    });
  }
  return { cluster, rows };
}

const sum = (xs: Array<number | null>) => (xs.some((x) => x === null) ? null : xs.reduce((a: number, x) => a + x!, 0));
const lowest = (xs: Array<number | null>) => {
  const known = xs.filter((x): x is number => x !== null);
  return known.length === 0 ? null : Math.min(...known);
};

/**
 * Rows that name one (account, user) pair more than once — Slurm lists a user once per
 * partition association, and an account map may make two accounts one project — become
 * one: shares and usage add up (each association is its own share of the level; one that
 * takes its parent's share keeps that), the factor and LevelFS are the lowest (the
 * association whose jobs are placed last).
 */
function merge(rows: FairshareRow[]): FairshareRow {
  const first = rows[0]!;
  if (rows.length === 1) return first;
  const fromParent = rows.find((r) => r.sharesFromParent);
  return {
    ...first,
    rawShares: fromParent ? null : sum(rows.map((r) => r.rawShares)),
    sharesFromParent: fromParent !== undefined,
    normShares: fromParent ? fromParent.normShares : sum(rows.map((r) => r.normShares)),
    rawUsage: rows.reduce((a, r) => a + r.rawUsage, 0),
    effectvUsage: sum(rows.map((r) => r.effectvUsage)),
    fairShare: lowest(rows.map((r) => r.fairShare)),
    levelFs: lowest(rows.map((r) => r.levelFs)),
  };
}

/** The fair-share batch of `cluster`, taken at `takenAt`: accounts renamed by the account map as the jobs are. */
export function fairshareBatch(cluster: string, rows: FairshareRow[], takenAt: Date, accountMap: Record<string, string> = {}): FairshareBatch {
  const project = (a: string) => accountMap[a] ?? a;
  const byKey = new Map<string, FairshareRow[]>();
  for (const r of rows) {
    const renamed = { ...r, account: project(r.account), parent: r.parent === null ? null : project(r.parent) };
    const key = `${renamed.account}\u0000${renamed.user ?? ''}`;
    const same = byKey.get(key);
    if (same) same.push(renamed);
    else byKey.set(key, [renamed]);
  }
  return { schema: 1, cluster, takenAt: takenAt.toISOString(), rows: [...byKey.values()].map(merge) };
}

/** The command the collector runs each round; `-M` asks that cluster when --cluster names one. */
export const sshareArgs = (cluster: string | null) => ['-a', '-l', '-P', ...(cluster === null ? [] : ['-M', cluster])];

/**
 * Reads the fair share of `cluster` (null: the local cluster, which `CLUSTER:` then does not
 * name, so `localCluster` gives the name) as one batch.
 */
export async function readLocalFairshare(
  cluster: string | null,
  { run = runCommand, timeoutMs = 120_000, accountMap = {}, now = () => new Date(), localCluster }: { run?: RunCommand; timeoutMs?: number; accountMap?: Record<string, string>; now?: () => Date; localCluster: () => Promise<string> },
): Promise<FairshareBatch> {
  const takenAt = now();
  const args = sshareArgs(cluster);
  const out = parseSshare(await run('sshare', args, timeoutMs), `sshare ${args.join(' ')}`);
  if (cluster !== null && out.cluster !== null && out.cluster !== cluster) throw new SshareError(`sshare ${args.join(' ')}: answered for cluster ${out.cluster}, not ${cluster}`);
  return fairshareBatch(cluster ?? out.cluster ?? (await localCluster()), out.rows, takenAt, accountMap);
}
