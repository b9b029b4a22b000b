/**
 * The monthly digest (issue 19 point 2): for each researcher, the jobs they ran that ended in
 * the month, what they cost and the flags of the efficiency report; for each PI, the same
 * for their projects' jobs, by member. In the person's language (English or Danish); the
 * flags are worded by the dashboard's own messages, so both say the same.
 */
import type { Database } from 'better-sqlite3';
import { JOB_RECORD_SQL, type ListedJob } from '../../db/queries/job-list.ts';
import { da } from '../../web/src/lib/messages-da.ts';
import { en, type MessageKey } from '../../web/src/lib/messages-en.ts';
import type { Config } from '../config.ts';
import { DomainError } from '../errors.ts';
import type { Flag } from './efficiency-flags.ts';
import { reportsOf, type JobReport } from './job-report.service.ts';

export interface Digest {
  kind: 'researcher' | 'pi';
  user: string;
  email: string | null;
  lang: 'en' | 'da';
  subject: string;
  text: string;
}

type Lang = 'en' | 'da';

const number = (lang: Lang, v: number | null, digits = 1) =>
  v === null ? '–' : new Intl.NumberFormat(lang === 'da' ? 'da-DK' : 'en-GB', { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(v);

/** A flag in the reader's language, from the dashboard's messages. */
export function flagText(lang: Lang, flag: Flag): string {
  const { code, message: _message, ...figures } = flag;
  const text = (lang === 'da' ? da : en)[`flag.${code}` as MessageKey];
  return text.replace(/\{(\w+)\}/g, (_, name: string) => String((figures as Record<string, number>)[name] ?? `{${name}}`));
}

interface Totals {
  jobs: number;
  gpuHours: number;
  energyKWh: number;
  co2Kg: number;
  heatKWh: number;
}

const totalsOf = (reports: JobReport[]): Totals => ({
  jobs: reports.length,
  gpuHours: reports.reduce((a, r) => a + r.job.gpuHours, 0),
  energyKWh: reports.reduce((a, r) => a + r.job.energyKWh, 0),
  co2Kg: reports.reduce((a, r) => a + (r.job.co2Kg ?? 0), 0),
  heatKWh: reports.reduce((a, r) => a + (r.job.reusedHeatKWh ?? 0), 0),
});

const MONTHS: Record<Lang, string[]> = {
  en: ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'],
  da: ['januar', 'februar', 'marts', 'april', 'maj', 'juni', 'juli', 'august', 'september', 'oktober', 'november', 'december'],
};

function summary(lang: Lang, t: Totals, who: string | null): string {
  const n = (v: number) => number(lang, v);
  if (lang === 'da') {
    return `${who ?? 'Dine'} GPU-job (${t.jobs}) brugte ${n(t.gpuHours)} GPU-timer og ${n(t.energyKWh)} kWh, udledte ${n(t.co2Kg)} kg CO2, og ${n(t.heatKWh)} kWh af deres varme gik til fjernvarmen.`;
  }
  return `${who ?? 'Your'} GPU jobs (${t.jobs}) used ${n(t.gpuHours)} GPU-hours and ${n(t.energyKWh)} kWh, emitted ${n(t.co2Kg)} kg CO2, and ${n(t.heatKWh)} kWh of their heat went to district heating.`;
}

function flaggedLines(lang: Lang, reports: JobReport[], withUser: boolean): string[] {
  const flagged = reports.filter((r) => r.flags.length > 0).sort((a, b) => b.job.gpuHours - a.job.gpuHours);
  if (flagged.length === 0) return [lang === 'da' ? 'Ingen job med noget at ændre.' : 'No job with something to change.'];
  const out = [lang === 'da' ? `Job med noget at ændre (${flagged.length}):` : `Jobs with something to change (${flagged.length}):`];
  for (const r of flagged) {
    const j = r.job;
    const head = `Job ${j.jobId} (${j.project}${withUser ? `, ${j.user}` : ''}, ${j.gpus} GPU${j.gpus === 1 ? '' : lang === 'da' ? '’er' : 's'}, ${number(lang, j.gpuHours)} ${lang === 'da' ? 'GPU-timer' : 'GPU-hours'}, ${number(lang, j.energyKWh)} kWh)`;
    out.push(`- ${head}: ${r.flags.map((f) => flagText(lang, f)).join('; ')}`);
  }
  return out;
}

/**
 * Every digest of `month` (YYYY-MM): jobs that ended in it, their figures over the month.
 * A researcher's digest holds their own jobs only; a PI's their projects' jobs with names.
 */
export function monthlyDigests(sqlite: Database, config: Pick<Config, 'publicUrl'>, month: string, nowTs: number): Digest[] {
  const m = /^(\d{4})-(\d{2})$/.exec(month);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 12) throw new DomainError('VALIDATION', `--month: ${month} is not a month (YYYY-MM)`);
  const fromTs = Date.UTC(Number(m[1]), Number(m[2]) - 1, 1);
  const toTs = Date.UTC(Number(m[1]), Number(m[2]), 1);
  if (fromTs >= nowTs) throw new DomainError('VALIDATION', `--month: ${month} has not begun`);
  const jobs = sqlite.prepare(`${JOB_RECORD_SQL} WHERE end_ts >= ? AND end_ts < ? AND start_ts IS NOT NULL AND gpus > 0 ORDER BY end_ts, cluster, job_id`).all(fromTs, toTs) as ListedJob[];
  const reports: JobReport[] = [];
  for (let i = 0; i < jobs.length; i += 500) reports.push(...reportsOf(sqlite, jobs.slice(i, i + 500), { fromTs, toTs }, nowTs));
  const person = sqlite.prepare('SELECT email, lang FROM users WHERE username = ?');
  const langOf = (p: { lang: string | null } | undefined): Lang => (p?.lang === 'da' ? 'da' : 'en');
  const link = config.publicUrl ? `\n\n${config.publicUrl.replace(/\/$/, '')}/#/jobs` : '';
  const digests: Digest[] = [];

  const byUser = new Map<string, JobReport[]>();
  for (const r of reports) byUser.set(r.job.user, [...(byUser.get(r.job.user) ?? []), r]);
  for (const [user, list] of [...byUser].sort((a, b) => a[0].localeCompare(b[0]))) {
    const p = person.get(user) as { email: string | null; lang: string | null } | undefined;
    const lang = langOf(p);
    const monthName = `${MONTHS[lang][Number(m[2]) - 1]} ${m[1]}`;
    digests.push({
      kind: 'researcher',
      user,
      email: p?.email ?? null,
      lang,
      subject: lang === 'da' ? `[HeatLedger] Dine GPU-job i ${monthName}` : `[HeatLedger] Your GPU jobs in ${monthName}`,
      text: [summary(lang, totalsOf(list), null), '', ...flaggedLines(lang, list, false)].join('\n') + link + '\n',
    });
  }

  // PIs: of each project, the members marked PI (by an administrator or as Slurm coordinators).
  const pis = sqlite
    .prepare(
      `SELECT u.username AS user, u.email, u.lang, p.name AS project FROM project_members m JOIN users u ON u.id = m.user_id JOIN projects p ON p.id = m.project_id
       WHERE m.is_pi = 1 OR u.role = 'pi' ORDER BY u.username, p.name`,
    )
    .all() as Array<{ user: string; email: string | null; lang: string | null; project: string }>;
  const projectsOf = new Map<string, { email: string | null; lang: Lang; projects: string[] }>();
  for (const r of pis) {
    const e = projectsOf.get(r.user) ?? { email: r.email, lang: langOf(r), projects: [] };
    e.projects.push(r.project);
    projectsOf.set(r.user, e);
  }
  for (const [user, { email, lang, projects }] of projectsOf) {
    const sections: string[] = [];
    for (const project of projects) {
      const list = reports.filter((r) => r.job.project === project);
      if (list.length === 0) continue;
      sections.push(`${project}: ${summary(lang, totalsOf(list), lang === 'da' ? 'Projektets' : "The project's")}`, ...flaggedLines(lang, list, true), '');
    }
    if (sections.length === 0) continue;
    const monthName = `${MONTHS[lang][Number(m[2]) - 1]} ${m[1]}`;
    digests.push({
      kind: 'pi',
      user,
      email,
      lang,
      subject: lang === 'da' ? `[HeatLedger] Dine projekters GPU-job i ${monthName}` : `[HeatLedger] Your projects' GPU jobs in ${monthName}`,
      text: sections.join('\n').trimEnd() + link + '\n',
    });
  }
  return digests;
}
