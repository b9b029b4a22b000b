/**
 * Project membership and grants from Slurm's associations (issue 16): `sacctmgr show
 * associations -P` (who may charge which account, each account's parent and its
 * GrpTRESMins) and `sacctmgr show account withcoord -P` (each account's coordinators, its
 * PIs), sent as one associations batch per cluster (CONTRACTS: POST /api/v1/ingest/associations).
 *
 * Columns are found by their header names, never by position: the column set changes with
 * the Slurm version (a Priority column since 2021) and with `format=`. `-p` (a trailing `|`
 * on every line) and `-P` both parse.
 */
import type { AssociationsBatch } from '../shared/wire.ts';
import type { RunCommand } from './slurm-source.ts';
import { runCommand } from './slurm-source.ts';

export interface AssociationRow {
  cluster: string;
  account: string;
  /** null for the account's own association (its limits and parent). */
  user: string | null;
  partition: string | null;
  parent: string | null;
  /** GrpTRESMins as Slurm prints it (`cpu=100000,gres/gpu=6000`), null when unset. */
  grpTresMins: string | null;
}

/** sacctmgr output HeatLedger cannot read, naming the input and the line. */
export class AssociationsError extends Error {}

/** The header's columns (a trailing empty one from `-p` dropped) and the data lines. */
function table(text: string, input: string): { header: string[]; rows: string[][] } {
  const lines = text.split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => l.trim() !== '');
  if (lines.length === 0) throw new AssociationsError(`${input}: empty output (run it without -n: the header names the columns)`);
  const trailing = lines[0]!.endsWith('|');
  const split = (l: string) => (trailing && l.endsWith('|') ? l.slice(0, -1) : l).split('|');
  const header = split(lines[0]!).map((h) => h.trim());
  const rows: string[][] = [];
  for (let i = 1; i < lines.length; i++) {
    const cells = split(lines[i]!);
    if (cells.length !== header.length) {
      throw new AssociationsError(`${input}: line ${i + 1} has ${cells.length} columns, the header ${header.length}: ${JSON.stringify(lines[i]!.slice(0, 120))}`);
    }
    rows.push(cells.map((c) => c.trim()));
  }
  return { header, rows };
}

function column(header: string[], input: string, ...names: string[]): number {
  const at = header.findIndex((h) => names.some((n) => h.toLowerCase() === n.toLowerCase()));
  if (at === -1) throw new AssociationsError(`${input}: no ${names[0]} column in the header ${JSON.stringify(header.join('|'))}`);
  return at;
}

const optional = (header: string[], name: string) => header.findIndex((h) => h.toLowerCase() === name.toLowerCase());
const orNull = (v: string | undefined) => (v === undefined || v === '' ? null : v);

/** The rows of `sacctmgr show associations -P|-p` (Cluster, Account and User columns required). */
export function parseAssociations(text: string, input = 'sacctmgr show associations'): AssociationRow[] {
  const { header, rows } = table(text, input);
  const c = column(header, input, 'Cluster');
  const a = column(header, input, 'Account');
  const u = column(header, input, 'User');
  const p = optional(header, 'Partition');
  const parent = optional(header, 'ParentName');
  const mins = optional(header, 'GrpTRESMins');
  return rows.map((r, i) => {
    if (r[a] === '') throw new AssociationsError(`${input}: line ${i + 2} has no account`);
    return {
      cluster: r[c]!,
      account: r[a]!,
      user: orNull(r[u]),
      partition: p === -1 ? null : orNull(r[p]),
      parent: parent === -1 ? null : orNull(r[parent]),
      grpTresMins: mins === -1 ? null : orNull(r[mins]),
    };
  });
}

/**
 * Each account's coordinators from `sacctmgr show account withcoord -P`: the column is
 * headed `Coord Accounts` (Slurm 22.05) or `Coordinators`, a comma-separated list of users.
 */
export function parseCoordinators(text: string, input = 'sacctmgr show account withcoord'): Array<{ account: string; user: string }> {
  const { header, rows } = table(text, input);
  const a = column(header, input, 'Account');
  const coord = column(header, input, 'Coord Accounts', 'Coordinators', 'Coord Name', 'Coord');
  const out: Array<{ account: string; user: string }> = [];
  for (const r of rows) {
    for (const user of r[coord]!.split(',')) if (user.trim() !== '') out.push({ account: r[a]!, user: user.trim() });
  }
  return out;
}

/**
 * GPU-minutes of a GrpTRESMins value: the untyped `gres/gpu=N` entry (a typed one such as
 * `gres/gpu:h100=N` limits that type only, not the grant), null when there is none.
 */
export function gpuMinutes(grpTresMins: string | null): number | null {
  if (!grpTresMins) return null;
  for (const part of grpTresMins.split(',')) {
    const m = /^gres\/gpu=(\d+)$/.exec(part.trim());
    if (m) return Number(m[1]);
  }
  return null;
}

/**
 * The associations batch of `cluster`: rows of other clusters are left out (a batch speaks
 * for its own cluster only), accounts renamed by the account map as the jobs are.
 */
export function associationsBatch(cluster: string, rows: AssociationRow[], coordinators: Array<{ account: string; user: string }>, accountMap: Record<string, string> = {}): AssociationsBatch {
  const project = (a: string) => accountMap[a] ?? a;
  const seen = new Set<string>();
  const associations: AssociationsBatch['associations'] = [];
  for (const r of rows) {
    if (r.cluster !== cluster) continue;
    // Per-partition associations of one user and account are one membership.
    const key = `${r.account}\u0000${r.user ?? ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    associations.push({ account: project(r.account), user: r.user, parent: r.parent === null ? null : project(r.parent), gpuMinutes: r.user === null ? gpuMinutes(r.grpTresMins) : null });
  }
  return { schema: 1, cluster, associations, coordinators: coordinators.map((c) => ({ account: project(c.account), user: c.user })) };
}

/** The commands the collector runs each round (README: "Slurm commands and permissions"). */
export const ASSOCIATION_COMMANDS = {
  associations: (cluster: string) => ['show', 'associations', '-P', `cluster=${cluster}`, 'format=Cluster,Account,User,Partition,ParentName,GrpTRESMins'],
  coordinators: ['show', 'account', 'withcoord', '-P'],
};

/** The local cluster's name (`scontrol show config`'s ClusterName). */
export async function localClusterName(run: RunCommand, timeoutMs: number): Promise<string> {
  const out = await run('scontrol', ['show', 'config'], timeoutMs);
  const m = /^ClusterName\s*=\s*(\S+)/m.exec(out);
  if (!m) throw new AssociationsError('scontrol show config names no ClusterName: give --cluster');
  return m[1]!;
}

/**
 * Reads the local Slurm's associations and coordinators of `cluster` (null: the local
 * cluster, as scontrol names it) as one batch.
 */
export async function readLocalAssociations(clusterOrLocal: string | null, { run = runCommand, timeoutMs = 120_000, accountMap = {} }: { run?: RunCommand; timeoutMs?: number; accountMap?: Record<string, string> } = {}): Promise<AssociationsBatch> {
  const cluster = clusterOrLocal ?? (await localClusterName(run, timeoutMs));
  const [assoc, coord] = await Promise.all([run('sacctmgr', ASSOCIATION_COMMANDS.associations(cluster), timeoutMs), run('sacctmgr', ASSOCIATION_COMMANDS.coordinators, timeoutMs)]);
  return associationsBatch(cluster, parseAssociations(assoc), parseCoordinators(coord), accountMap);
}
