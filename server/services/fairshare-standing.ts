/**
 * Where a project (or a user within a project) stands in Slurm's fair share, in one plain
 * sentence (issue 19, point 3). Pure: the figures are sshare's for one row.
 *
 * Usage against share is EffectvUsage ÷ NormShares, both fractions of the row's level in
 * Slurm's tree (the accounts under the same parent, or the users of one account): above 1
 * the row used more than its share and its jobs get a lower fair-share factor than rows
 * below their share; with fair tree (Slurm's default) it is 1 ÷ LevelFS. Usage decays with
 * PriorityDecayHalfLife, so "this period" is the recent past Slurm still counts.
 * The dashboard words the sentence in the reader's language from `standing` and `ratio`.
 */

export type Standing = 'over' | 'under' | 'even' | 'no-usage' | 'no-share' | 'parent' | 'unknown';

export interface StandingInput {
  /** The project, or the user. */
  name: string;
  /** For a user: the project whose share they draw on; null for a project. */
  within: string | null;
  normShares: number | null;
  effectvUsage: number | null;
  rawUsage: number;
  sharesFromParent: boolean;
  /** The account one level up (a project's parent account; a user's project). */
  parent: string | null;
}

export interface StandingResult {
  standing: Standing;
  /** EffectvUsage ÷ NormShares; null where either is missing or there is no share. */
  ratio: number | null;
  explanation: string;
}

/** Within this much of 1 the usage counts as "about its share" (it prints as 1.0×). */
export const EVEN_BAND = 0.05;

/** The ratio as the sentence prints it: two decimals below 0.1, none from 100, else one. */
export function formatRatio(ratio: number): string {
  return ratio < 0.1 ? ratio.toFixed(2) : ratio >= 100 ? ratio.toFixed(0) : ratio.toFixed(1);
}

/** The standing of one row, its ratio and the English sentence. */
export function fairshareStanding(f: StandingInput): StandingResult {
  const user = f.within !== null;
  const its = user ? 'their' : 'its';
  const share = user ? `their share of ${f.within}` : 'its share';
  if (f.sharesFromParent) {
    const from = f.parent ?? 'its parent account';
    return { standing: 'parent', ratio: null, explanation: user ? `${f.name} draws on ${from}'s share: ${its} jobs are placed as ${from}'s are` : `${f.name} draws on its parent account's share: its jobs are placed as ${from}'s are` };
  }
  if (f.normShares === null) return { standing: 'unknown', ratio: null, explanation: `Slurm reports no share for ${f.name} (fair share is not computed on this cluster)` };
  if (f.rawUsage === 0 || f.effectvUsage === 0) {
    return { standing: 'no-usage', ratio: f.normShares > 0 ? 0 : null, explanation: `${f.name} has no usage yet: ${its} jobs get the highest fair-share priority` };
  }
  if (f.effectvUsage === null) return { standing: 'unknown', ratio: null, explanation: `Slurm reports no usage share for ${f.name}` };
  if (f.normShares === 0) {
    return { standing: 'no-share', ratio: null, explanation: user ? `${f.name} has no share of ${f.within}: ${its} jobs start after those of members with a share` : `${f.name} has no share: its jobs start after those of projects with a share` };
  }
  const ratio = f.effectvUsage / f.normShares;
  const r = formatRatio(ratio);
  const peers = user ? 'members' : 'projects';
  if (Math.abs(ratio - 1) < EVEN_BAND) {
    return { standing: 'even', ratio, explanation: `${f.name} used about ${share} this period (${r}×); fair share neither speeds up nor holds back ${its} jobs` };
  }
  if (ratio > 1) return { standing: 'over', ratio, explanation: `${f.name} used ${r}× ${share} this period; ${its} jobs start after ${peers} below their share` };
  return { standing: 'under', ratio, explanation: `${f.name} used ${r}× ${share} this period; ${its} jobs are placed ahead of ${peers} above their share` };
}
