import { describe, expect, it } from 'vitest';
import { fairshareStanding, formatRatio, type StandingInput } from './fairshare-standing.ts';

const project = (name: string, normShares: number | null, effectvUsage: number | null, rawUsage = 100): StandingInput => ({ name, within: null, normShares, effectvUsage, rawUsage, sharesFromParent: false, parent: 'root' });

describe('fair-share standing in one sentence', () => {
  it('over its share: 0.63 of the usage on 0.30 of the shares is 2.1×, its jobs start later', () => {
    const s = fairshareStanding(project('proj-a', 0.3, 0.63));
    expect(s.standing).toBe('over');
    expect(s.ratio).toBeCloseTo(2.1, 10);
    expect(s.explanation).toBe('proj-a used 2.1× its share this period; its jobs start after projects below their share');
  });

  it('under its share: 0.242657 of the usage on 0.594059 of the shares is 0.41× (the recorded proj-b)', () => {
    const s = fairshareStanding(project('proj-b', 0.594059, 0.242657));
    expect(s.standing).toBe('under');
    expect(s.ratio).toBeCloseTo(0.242657 / 0.594059, 12);
    expect(s.explanation).toBe('proj-b used 0.4× its share this period; its jobs are placed ahead of projects above their share');
  });

  it('about its share within ±5 %, and small ratios with two decimals', () => {
    expect(fairshareStanding(project('p', 0.3, 0.31)).standing).toBe('even');
    expect(fairshareStanding(project('p', 0.3, 0.31)).explanation).toBe('p used about its share this period (1.0×); fair share neither speeds up nor holds back its jobs');
    expect(fairshareStanding(project('p', 0.5, 0.02)).explanation).toBe('p used 0.04× its share this period; its jobs are placed ahead of projects above their share');
    expect([formatRatio(0.04), formatRatio(1.949), formatRatio(250.4)]).toEqual(['0.04', '1.9', '250']);
  });

  it('no usage, no share, a share drawn from the parent, and no share computed at all', () => {
    expect(fairshareStanding(project('proj-c', 0.25, 0, 0))).toEqual({ standing: 'no-usage', ratio: 0, explanation: 'proj-c has no usage yet: its jobs get the highest fair-share priority' });
    expect(fairshareStanding(project('p', 0, 0.2))).toMatchObject({ standing: 'no-share', ratio: null, explanation: 'p has no share: its jobs start after those of projects with a share' });
    expect(fairshareStanding({ ...project('p', 0.75, 0), sharesFromParent: true, parent: 'proj-parent' })).toMatchObject({ standing: 'parent', explanation: "p draws on its parent account's share: its jobs are placed as proj-parent's are" });
    // priority/basic: Slurm prints no NormShares.
    expect(fairshareStanding(project('p', null, 0, 0))).toMatchObject({ standing: 'unknown', ratio: null, explanation: 'Slurm reports no share for p (fair share is not computed on this cluster)' });
  });

  it('words a user within a project', () => {
    const user = { name: 'alice', within: 'proj-a', normShares: 0.5, effectvUsage: 0.8, rawUsage: 10, sharesFromParent: false, parent: 'proj-a' };
    expect(fairshareStanding(user).explanation).toBe('alice used 1.6× their share of proj-a this period; their jobs start after members below their share');
    expect(fairshareStanding({ ...user, sharesFromParent: true }).explanation).toBe("alice draws on proj-a's share: their jobs are placed as proj-a's are");
  });
});
