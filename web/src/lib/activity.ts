/**
 * A DCGM source's figures for a job or project as text (db/queries/dcgm-activity.ts):
 * the activities it gave, and where its energy came from.
 */
import type { DcgmFigures } from '../../../db/queries/dcgm-activity.ts';
import type { I18n } from './i18n.svelte.ts';

/** "SM 42 % · tensor 12 % · DRAM 30 %" (graphics engine only where SM activity is missing); '–' when none. */
export function activityText(i18n: I18n, d: DcgmFigures | null): string {
  if (!d) return '–';
  const parts: string[] = [];
  const put = (key: 'activity.sm' | 'activity.tensor' | 'activity.gr' | 'activity.dram', v: number | null) => {
    if (v !== null) parts.push(i18n.t(key, { v: `${i18n.num(v, 0)} %` }));
  };
  put('activity.sm', d.smActivePct);
  if (d.smActivePct === null) put('activity.gr', d.grEngineActivePct);
  put('activity.tensor', d.tensorActivePct);
  put('activity.dram', d.dramActivePct);
  return parts.length > 0 ? parts.join(' · ') : '–';
}

/** What the activity covers and where the energy came from, for a tooltip or a card's detail. */
export function activityDetail(i18n: I18n, d: DcgmFigures | null): string {
  if (!d) return '';
  const out: string[] = [];
  if (d.profiledGpuHours > 0) out.push(i18n.t('activity.profiled', { hours: i18n.num(d.profiledGpuHours, 1) }));
  if (d.counterShare !== null && d.counterKWh > 0) out.push(i18n.t('activity.counter', { pct: i18n.pct(d.counterShare) }));
  return out.join('; ');
}
