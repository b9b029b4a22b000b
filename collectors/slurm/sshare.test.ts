/**
 * sshare output → fair-share batch. The project's own captures from real Slurm 22.05.8
 * (test/fixtures/slurm-assoc, README there: the CI cluster with priority/basic, and a private
 * one with priority/multifactor and usage) and the site captures in ../shared/fixtures; the
 * expected values are read off the files by eye and written here.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { missing } from '../../test/support/requirements.ts';
import { fairshareBatchSchema } from '../shared/wire.ts';
import { fairshareBatch, parseSshare, readLocalFairshare, SshareError, type FairshareRow } from './sshare.ts';

const own = resolve(import.meta.dirname, '../../test/fixtures/slurm-assoc');
const shared = resolve(import.meta.dirname, '../../../shared/fixtures/slurm-assoc');
const readOwn = (f: string) => readFileSync(join(own, f), 'utf8');
const MULTIFACTOR = 'sshare-22.05.8_a-l-P_multifactor.txt';
const find = (rows: FairshareRow[], account: string, user: string | null = null) => rows.find((r) => r.account === account && r.user === user)!;

describe('sshare -a -l -P of a Slurm with usage (priority/multifactor, recorded)', () => {
  const { cluster, rows } = parseSshare(readOwn(MULTIFACTOR));

  it('reads every line: the accounts with their parents from the indentation, and the users', () => {
    expect(cluster).toBeNull();
    expect(rows.map((r) => [r.account, r.user, r.parent])).toEqual([
      ['root', null, null],
      ['root', 'root', null],
      ['proj-b', null, 'root'],
      ['proj-b', 'bob', null],
      ['proj-parent', null, 'root'],
      ['proj-a', null, 'proj-parent'],
      ['proj-a', 'alice', null],
      ['proj-a', 'root', null],
      ['proj-c', null, 'proj-parent'],
      ['proj-c', 'alice', null],
    ]);
  });

  it('reads the figures by header name, empty ones and `inf` as null', () => {
    // Line 6: " proj-parent||40|0.396040|102|0.757343|0.757343||0.522933||…"
    expect(find(rows, 'proj-parent')).toEqual({
      account: 'proj-parent', user: null, parent: 'root', rawShares: 40, sharesFromParent: false, normShares: 0.39604, rawUsage: 102,
      effectvUsage: 0.757343, fairShare: null, levelFs: 0.522933, grpTresMins: null, grpTresRaw: null,
    });
    expect(find(rows, 'proj-a')).toMatchObject({ rawShares: 3, normShares: 0.75, effectvUsage: 1, levelFs: 0.75, grpTresMins: 'gres/gpu=6000' });
    expect(find(rows, 'proj-b', 'bob')).toMatchObject({ rawShares: 1, normShares: 1, rawUsage: 32, effectvUsage: 1, fairShare: 0.8, levelFs: 1 });
    // No usage: LevelFS `inf`.
    expect(find(rows, 'proj-c')).toMatchObject({ rawUsage: 0, effectvUsage: 0, levelFs: null });
    // Root: no RawShares at all.
    expect(find(rows, 'root')).toMatchObject({ rawShares: null, sharesFromParent: false, normShares: 0, rawUsage: 135 });
  });

  it('reads RawShares `parent` as no shares of its own, flagged', () => {
    expect(find(rows, 'proj-a', 'root')).toMatchObject({ rawShares: null, sharesFromParent: true, normShares: 0.75, fairShare: 0.4, levelFs: null });
  });

  it('gives figures that agree with each other: LevelFS = NormShares ÷ EffectvUsage where there is usage (fair tree)', () => {
    const used = rows.filter((r) => r.effectvUsage! > 0 && r.levelFs !== null && r.account !== 'root');
    expect(used.map((r) => r.account + (r.user ? `/${r.user}` : ''))).toEqual(['proj-b', 'proj-b/bob', 'proj-parent', 'proj-a', 'proj-a/alice']);
    // Each figure is printed to six decimals, so the quotient agrees to about 1e-5.
    for (const r of used) expect(r.levelFs).toBeCloseTo(r.normShares! / r.effectvUsage!, 4);
    // The shares of one level add up to 1: under root 1 + 60 + 40 raw shares.
    expect(find(rows, 'proj-b').normShares! + find(rows, 'proj-parent').normShares! + find(rows, 'root', 'root').normShares!).toBeCloseTo(1, 5);
    expect(find(rows, 'proj-b').normShares).toBeCloseTo(60 / 101, 6);
  });

  it('reads -p (a trailing |) and -M (a CLUSTER line) to the same rows, and a -o column set with GrpTRESRaw', () => {
    expect(parseSshare(readOwn('sshare-22.05.8_a-l-p_multifactor.txt')).rows).toEqual(rows);
    const m = parseSshare(readOwn('sshare-22.05.8_a-l-P-M-fs_multifactor.txt'));
    expect(m.cluster).toBe('fs');
    expect(m.rows).toEqual(rows);
    const o = parseSshare(readOwn('sshare-22.05.8_a-P-o-GrpTRESRaw_multifactor.txt'));
    expect(find(o.rows, 'proj-a').grpTresRaw).toBe('cpu=0,mem=0,energy=0,node=0,billing=0,fs/disk=0,vmem=0,pages=0,gres/gpu=0');
    expect(o.rows.map((r) => [r.account, r.user, r.normShares, r.effectvUsage])).toEqual(rows.map((r) => [r.account, r.user, r.normShares, r.effectvUsage]));
  });

  it('builds a batch the wire accepts, accounts and parents renamed by the account map', () => {
    const batch = fairshareBatch('fs', rows, new Date('2026-12-04T10:00:03Z'), { 'proj-a': 'bitten-a', 'proj-parent': 'bitten' });
    expect(fairshareBatchSchema.safeParse(batch).success).toBe(true);
    expect(batch.takenAt).toBe('2026-12-04T10:00:03.000Z');
    expect(batch.rows.filter((r) => r.account === 'bitten-a').map((r) => [r.user, r.parent])).toEqual([[null, 'bitten'], ['alice', null], ['root', null]]);
    expect(find(batch.rows as FairshareRow[], 'proj-c').parent).toBe('bitten');
  });
});

describe('sshare -a -l -P of the CI Slurm (priority/basic, recorded)', () => {
  const { rows } = parseSshare(readOwn('sshare-22.05.8_a-l-P_basic.txt'));

  it('reads empty NormShares as null and the tree as with usage', () => {
    expect(rows).toHaveLength(10);
    expect(rows.every((r) => r.normShares === null && r.rawUsage === 0)).toBe(true);
    expect(find(rows, 'proj-a')).toMatchObject({ parent: 'proj-parent', rawShares: 1, effectvUsage: 0, fairShare: null, levelFs: 0, grpTresMins: 'cpu=100000,gres/gpu=6000' });
  });

  it('makes one row of a user listed once per partition association: shares and usage added up', () => {
    expect(rows.filter((r) => r.user === 'carol')).toHaveLength(2);
    const batch = fairshareBatch('ci', rows, new Date('2026-12-04T10:00:03Z'));
    const carol = batch.rows.filter((r) => r.user === 'carol');
    expect(carol).toHaveLength(1);
    // Two associations of RawShares 1 each.
    expect(carol[0]).toMatchObject({ account: 'proj-a', rawShares: 2, normShares: null, rawUsage: 0, fairShare: 0 });
    expect(fairshareBatchSchema.safeParse(batch).success).toBe(true);
  });
});

describe('sshare output of another shape is refused whole, naming the input, the line and the column', () => {
  const text = readOwn(MULTIFACTOR);
  const lines = text.split('\n');

  it('a missing column (another version, or -o)', () => {
    const header = lines[0]!.split('|');
    const at = header.indexOf('EffectvUsage');
    const without = lines.map((l) => (l === '' ? l : l.split('|').filter((_, i) => i !== at).join('|'))).join('\n');
    expect(() => parseSshare(without)).toThrow(SshareError);
    expect(() => parseSshare(without)).toThrow(/^sshare -a -l -P: no EffectvUsage column in the header/);
  });

  it('a line with another number of columns', () => {
    const cut = [...lines];
    cut[5] = cut[5]!.split('|').slice(0, 9).join('|');
    expect(() => parseSshare(cut.join('\n'))).toThrow(/^sshare -a -l -P: line 6 has 9 columns, the header 11/);
  });

  it('a figure that is not a number', () => {
    const bad = [...lines];
    bad[3] = bad[3]!.replace('|0.594059|', '|n/a|');
    expect(() => parseSshare(bad.join('\n'), 'sshare -a -l -P -M fs')).toThrow('sshare -a -l -P -M fs: line 4, column NormShares: "n/a" is not a number');
    const inf = [...lines];
    inf[3] = inf[3]!.replace('|32|', '|inf|');
    expect(() => parseSshare(inf.join('\n'))).toThrow(/line 4, column RawUsage: "inf" is not a number/);
  });

  it('no output, and an account indented deeper than its parent', () => {
    expect(() => parseSshare('\n')).toThrow(/empty output/);
    const deep = [...lines];
    deep[3] = `   ${deep[3]}`;
    expect(() => parseSshare(deep.join('\n'))).toThrow(/line 4: account proj-b is indented 4 deep under an account 0 deep/);
  });

  it('asks sshare for --cluster with -M and refuses an answer for another cluster', async () => {
    const calls: string[][] = [];
    const run = async (cmd: string, args: string[]) => (calls.push([cmd, ...args]), readOwn('sshare-22.05.8_a-l-P-M-fs_multifactor.txt'));
    const batch = await readLocalFairshare('fs', { run, localCluster: async () => 'unused', now: () => new Date('2026-12-04T10:00:00Z') });
    expect(calls).toEqual([['sshare', '-a', '-l', '-P', '-M', 'fs']]);
    expect([batch.cluster, batch.rows.length]).toEqual(['fs', 10]);
    await expect(readLocalFairshare('ci', { run, localCluster: async () => 'unused' })).rejects.toThrow('sshare -a -l -P -M ci: answered for cluster fs, not ci');
    const local = await readLocalFairshare(null, { run: async () => text, localCluster: async () => 'here' });
    expect(local.cluster).toBe('here');
  });
});

describe.skipIf(missing('../shared/fixtures/slurm-assoc', existsSync(shared)))('site captures (../shared/fixtures/slurm-assoc)', () => {
  it('refuses headerless output (sshare -n, Slurm 24.11.7): run sshare without -n', () => {
    const f = 'sckyzo-slurm-exporter_sshare-a-P-n_slurm-24.11.7.txt';
    const text = readFileSync(join(shared, f), 'utf8');
    // The file: the account row of user5, then the user row; no header line.
    expect(text.split('\n')[0]).toBe('user5|||0.000000|0||');
    expect(() => parseSshare(text, f)).toThrow(`${f}: line 1 is not a header ("user5|||0.000000|0||" names no sshare column): run sshare without -n, so that the header names the columns`);
  });

  it('refuses the fixed-width table sshare prints without -P (2015)', () => {
    const f = 'schedmd-slurm-pr114_sshare-a_table_2015_EXCERPT.txt';
    const text = readFileSync(join(shared, f), 'utf8');
    expect(text).not.toContain('|');
    expect(() => parseSshare(text, f)).toThrow(`${f}: line 1 is not parsable output (no | between columns, perhaps the table sshare prints without -P): run sshare -a -l -P`);
  });
});
