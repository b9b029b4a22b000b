/**
 * sacctmgr output → associations batch. The project's own captures from the real Slurm
 * 22.05.8 of the CI recipe (test/fixtures/slurm-assoc, README there) and the real site
 * captures in ../shared/fixtures/slurm-assoc; expected values are read off the files.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { missing } from '../../test/support/requirements.ts';
import { AssociationsError, associationsBatch, gpuMinutes, parseAssociations, parseCoordinators } from './associations.ts';

const own = resolve(import.meta.dirname, '../../test/fixtures/slurm-assoc');
const shared = resolve(import.meta.dirname, '../../../shared/fixtures/slurm-assoc');
const readOwn = (f: string) => readFileSync(join(own, f), 'utf8');

describe('sacctmgr associations and coordinators (recorded from Slurm 22.05.8)', () => {
  it('reads accounts, users, parents and GrpTRESMins by header name', () => {
    const rows = parseAssociations(readOwn('sacctmgr-22.05.8_show-associations-P_format.txt'));
    expect(rows).toHaveLength(10);
    expect(rows.find((r) => r.account === 'proj-a' && r.user === null)).toEqual({ cluster: 'ci', account: 'proj-a', user: null, partition: null, parent: 'proj-parent', grpTresMins: 'cpu=100000,gres/gpu=6000' });
    expect(rows.find((r) => r.account === 'proj-parent' && r.user === null)!.grpTresMins).toBe('gres/gpu=60000');
    expect(rows.filter((r) => r.account === 'proj-a' && r.user === 'carol').map((r) => r.partition)).toEqual(['debug', null]);
  });

  it('reads the default column set too (no ParentName, a Priority column, "Def QOS")', () => {
    const rows = parseAssociations(readOwn('sacctmgr-22.05.8_show-associations-P_default.txt'));
    expect(rows.find((r) => r.account === 'proj-a' && r.user === null)).toMatchObject({ parent: null, grpTresMins: 'cpu=100000,gres/gpu=6000' });
  });

  it('reads the coordinators from the "Coord Accounts" column, comma-separated', () => {
    expect(parseCoordinators(readOwn('sacctmgr-22.05.8_show-account-withcoord-P.txt'))).toEqual([
      { account: 'proj-a', user: 'alice' },
      { account: 'proj-a', user: 'carol' },
    ]);
  });

  it('builds one batch for its cluster: a user once per account, the gres/gpu limit in minutes, accounts renamed by the map', () => {
    const rows = parseAssociations(readOwn('sacctmgr-22.05.8_show-associations-P_format.txt'));
    const batch = associationsBatch('ci', [...rows, { cluster: 'other', account: 'proj-z', user: 'mallory', partition: null, parent: null, grpTresMins: null }], [{ account: 'proj-a', user: 'alice' }], { 'proj-b': 'bitten-b' });
    expect(batch.cluster).toBe('ci');
    expect(batch.associations.filter((a) => a.user === 'carol')).toHaveLength(1);
    expect(batch.associations.some((a) => a.user === 'mallory')).toBe(false);
    expect(batch.associations.find((a) => a.account === 'proj-a' && a.user === null)!.gpuMinutes).toBe(6000);
    expect(batch.associations.find((a) => a.account === 'proj-parent' && a.user === null)!.gpuMinutes).toBe(60000);
    expect(batch.associations.find((a) => a.user === 'bob')!.account).toBe('bitten-b');
  });

  it('takes only the untyped gres/gpu entry of GrpTRESMins', () => {
    expect(gpuMinutes('cpu=100000,gres/gpu=6000')).toBe(6000);
    expect(gpuMinutes('gres/gpu:h100=500')).toBeNull();
    expect(gpuMinutes('gres/gpu:h100=500,gres/gpu=720')).toBe(720);
    expect(gpuMinutes(null)).toBeNull();
  });

  it('refuses output it cannot read, naming the input and the line', () => {
    expect(() => parseAssociations('')).toThrow(AssociationsError);
    expect(() => parseAssociations('Account|User\nproj-a|alice\n')).toThrow(/no Cluster column/);
    expect(() => parseAssociations('Cluster|Account|User\nci|proj-a\n')).toThrow(/line 2 has 2 columns, the header 3/);
    expect(() => parseCoordinators('Account|Descr\nproj-a|x\n')).toThrow(/sacctmgr show account withcoord: no Coord Accounts column/);
  });
});

describe.skipIf(missing('../shared/fixtures/slurm-assoc', existsSync(shared)))('real site captures (../shared/fixtures/slurm-assoc)', () => {
  it('reads -p output with its trailing | and a header with a space (Savio, 2020 and 2024 column sets)', () => {
    for (const f of ['savio_sacctmgr-p-show-associations_slurm-training-2020.txt', 'savio_sacctmgr-p-show-associations_2024_priority-col.txt']) {
      const text = readFileSync(join(shared, f), 'utf8');
      const rows = parseAssociations(text, f);
      const lines = text.trim().split('\n').slice(1);
      expect(rows).toHaveLength(lines.length);
      expect(new Set(rows.map((r) => r.user))).toEqual(new Set(['paciorek']));
      expect(rows.every((r) => r.cluster === 'brc' && r.grpTresMins === null)).toBe(true);
      // Per-partition rows of one account are one membership.
      const accounts = new Set(lines.map((l) => l.split('|')[1]));
      expect(associationsBatch('brc', rows, []).associations.map((a) => a.account).sort()).toEqual([...accounts].sort());
    }
  });
});
