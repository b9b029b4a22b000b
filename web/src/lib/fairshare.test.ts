import { describe, expect, it } from 'vitest';
import { fairshareStanding, type StandingInput } from '../../../server/services/fairshare-standing.ts';
import { da } from './messages-da.ts';
import { en, type MessageKey } from './messages-en.ts';
import { fairshareSentence } from './fairshare.ts';

const translator = (dict: Record<MessageKey, string>) => (key: MessageKey, values: Record<string, string | number> = {}) => dict[key].replace(/\{(\w+)\}/g, (_, n: string) => String(values[n]));
const numberIn = (tag: string) => (v: number, digits: number) => new Intl.NumberFormat(tag, { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(v);

const cases: StandingInput[] = [
  { name: 'proj-a', within: null, normShares: 0.3, effectvUsage: 0.63, rawUsage: 9, sharesFromParent: false, parent: 'root' },
  { name: 'proj-b', within: null, normShares: 0.594059, effectvUsage: 0.242657, rawUsage: 32, sharesFromParent: false, parent: 'root' },
  { name: 'proj-e', within: null, normShares: 0.3, effectvUsage: 0.31, rawUsage: 1, sharesFromParent: false, parent: 'root' },
  { name: 'proj-s', within: null, normShares: 0.5, effectvUsage: 0.02, rawUsage: 1, sharesFromParent: false, parent: 'root' },
  { name: 'proj-c', within: null, normShares: 0.25, effectvUsage: 0, rawUsage: 0, sharesFromParent: false, parent: 'proj-parent' },
  { name: 'proj-z', within: null, normShares: 0, effectvUsage: 0.1, rawUsage: 5, sharesFromParent: false, parent: 'root' },
  { name: 'proj-p', within: null, normShares: 0.75, effectvUsage: 0, rawUsage: 0, sharesFromParent: true, parent: 'proj-parent' },
  { name: 'proj-x', within: null, normShares: null, effectvUsage: 0, rawUsage: 0, sharesFromParent: false, parent: 'root' },
  { name: 'alice', within: 'proj-a', normShares: 0.5, effectvUsage: 0.8, rawUsage: 10, sharesFromParent: false, parent: 'proj-a' },
  { name: 'bob', within: 'proj-a', normShares: 0.5, effectvUsage: 0.2, rawUsage: 10, sharesFromParent: false, parent: 'proj-a' },
  { name: 'carl', within: 'proj-a', normShares: 0.5, effectvUsage: 0.5, rawUsage: 10, sharesFromParent: false, parent: 'proj-a' },
  { name: 'dina', within: 'proj-a', normShares: 0.5, effectvUsage: 0, rawUsage: 0, sharesFromParent: false, parent: 'proj-a' },
  { name: 'eve', within: 'proj-a', normShares: 0, effectvUsage: 0.3, rawUsage: 3, sharesFromParent: false, parent: 'proj-a' },
  { name: 'root', within: 'proj-a', normShares: 0.75, effectvUsage: 0, rawUsage: 0, sharesFromParent: true, parent: 'proj-a' },
];

const sentence = (lang: 'en' | 'da', c: StandingInput) => {
  const s = fairshareStanding(c);
  return fairshareSentence(translator(lang === 'en' ? en : da), numberIn(lang === 'en' ? 'en-GB' : 'da-DK'), { name: c.name, project: c.within, parent: c.parent, standing: s.standing, ratio: s.ratio });
};

describe('the fair-share sentence in the dashboard', () => {
  it('says in English exactly what the API’s explanation says, for every standing', () => {
    for (const c of cases) expect(sentence('en', c)).toBe(fairshareStanding(c).explanation);
    expect(new Set(cases.map((c) => fairshareStanding(c).standing))).toEqual(new Set(['over', 'under', 'even', 'no-usage', 'no-share', 'parent', 'unknown']));
  });

  it('says it in Danish with a decimal comma', () => {
    expect(sentence('da', cases[0]!)).toBe('proj-a brugte 2,1× sin andel i perioden; projektets job starter efter projekter under deres andel');
    expect(sentence('da', cases[1]!)).toBe('proj-b brugte 0,4× sin andel i perioden; projektets job kommer foran projekter over deres andel');
    expect(sentence('da', cases[3]!)).toBe('proj-s brugte 0,04× sin andel i perioden; projektets job kommer foran projekter over deres andel');
    expect(sentence('da', cases[4]!)).toBe('proj-c har ikke brugt noget endnu: projektets job får den højeste fair share-prioritet');
    expect(sentence('da', cases[8]!)).toBe('alice brugte 1,6× sin andel af proj-a i perioden; vedkommendes job starter efter medlemmer under deres andel');
    for (const c of cases) expect(sentence('da', c)).not.toMatch(/\{|–/);
  });
});
