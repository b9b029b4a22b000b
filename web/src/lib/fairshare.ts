/**
 * The fair-share sentence in the reader's language, from the figures GET /api/v1/fairshare
 * gives (`standing`, `ratio`); the server's `explanation` is the English one
 * (server/services/fairshare-standing.ts), and the English messages here say the same.
 */
import type { MessageKey } from './messages-en.ts';

export interface SentenceInput {
  /** The project, or the user. */
  name: string;
  /** For a user: their project; null for a project. */
  project: string | null;
  /** A project's parent account. */
  parent: string | null;
  standing: string;
  ratio: number | null;
}

type Translate = (key: MessageKey, values?: Record<string, string | number>) => string;
type FormatNumber = (value: number, digits: number) => string;

/** Decimals of a ratio: two below 0.1, none from 100 (or for 0), else one (as the server prints it). */
export const ratioDigits = (ratio: number) => (ratio === 0 || ratio >= 100 ? 0 : ratio < 0.1 ? 2 : 1);

/** One plain sentence on where the project (or user) stands and what it does to its jobs. */
export function fairshareSentence(t: Translate, num: FormatNumber, f: SentenceInput): string {
  const standing = ['over', 'under', 'even', 'no-usage', 'no-share', 'parent'].includes(f.standing) ? f.standing : 'unknown';
  const ratio = f.ratio === null ? '–' : num(f.ratio, ratioDigits(f.ratio));
  const values = { name: f.name, ratio, project: f.project ?? '', parent: f.parent ?? '' };
  if (standing === 'unknown') return t('fairshare.unknown', values);
  return t(`fairshare.${f.project === null ? 'project' : 'user'}.${standing}` as MessageKey, values);
}
