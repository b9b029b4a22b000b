/**
 * Language and place: English or Danish, remembered in localStorage; numbers and dates
 * formatted for the language, times always in Europe/Copenhagen (the machine's clock,
 * whatever the reader's browser says).
 */
import { da } from './messages-da.ts';
import { en, type MessageKey } from './messages-en.ts';
import { epochMs } from './time.ts';

export type Lang = 'en' | 'da';
export const TIME_ZONE = 'Europe/Copenhagen';
const STORAGE_KEY = 'heatledger.lang';
const tags: Record<Lang, string> = { en: 'en-GB', da: 'da-DK' };
const dictionaries: Record<Lang, Record<MessageKey, string>> = { en, da };

function storedLang(): Lang {
  try {
    const v = localStorage.getItem(STORAGE_KEY);
    if (v === 'en' || v === 'da') return v;
  } catch {
    // Storage can be blocked (private mode, policies): fall back to the browser's language.
  }
  return navigator.language.toLowerCase().startsWith('da') ? 'da' : 'en';
}

/** Formatters for one language; rebuilt when the language changes. */
class Formats {
  readonly tag: string;
  private readonly numbers = new Map<string, Intl.NumberFormat>();
  readonly dateTime: Intl.DateTimeFormat;
  readonly date: Intl.DateTimeFormat;
  readonly time: Intl.DateTimeFormat;
  readonly hourMinute: Intl.DateTimeFormat;
  readonly dayMonth: Intl.DateTimeFormat;

  constructor(lang: Lang) {
    this.tag = tags[lang];
    const zone = { timeZone: TIME_ZONE } as const;
    this.dateTime = new Intl.DateTimeFormat(this.tag, { ...zone, dateStyle: 'medium', timeStyle: 'short' });
    this.date = new Intl.DateTimeFormat(this.tag, { ...zone, dateStyle: 'medium' });
    this.time = new Intl.DateTimeFormat(this.tag, { ...zone, timeStyle: 'medium' });
    this.hourMinute = new Intl.DateTimeFormat(this.tag, { ...zone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    this.dayMonth = new Intl.DateTimeFormat(this.tag, { ...zone, day: 'numeric', month: 'short' });
  }

  number(digits: number): Intl.NumberFormat {
    const key = String(digits);
    let f = this.numbers.get(key);
    if (!f) this.numbers.set(key, (f = new Intl.NumberFormat(this.tag, { maximumFractionDigits: digits, minimumFractionDigits: digits })));
    return f;
  }
}

/** The reader's language with message lookup and formatting. */
export class I18n {
  lang = $state<Lang>(storedLang());
  private readonly formats = $derived(new Formats(this.lang));

  constructor() {
    document.documentElement.lang = this.lang;
  }

  /** BCP 47 tag of the language (`da-DK`, `en-GB`). */
  get tag(): string {
    return this.formats.tag;
  }

  setLang(lang: Lang): void {
    this.lang = lang;
    document.documentElement.lang = lang;
    try {
      localStorage.setItem(STORAGE_KEY, lang);
    } catch {
      // Not remembered, still switched.
    }
  }

  /** The message for `key`, with `{name}` placeholders filled from `values`. */
  t(key: MessageKey, values: Record<string, string | number> = {}): string {
    const text = dictionaries[this.lang][key];
    return text.replace(/\{(\w+)\}/g, (_, name: string) => String(values[name] ?? `{${name}}`));
  }

  /** A number with `digits` decimals (da-DK: `1.234,5`); `–` for null. */
  num(value: number | null | undefined, digits = 1): string {
    return value === null || value === undefined || !Number.isFinite(value) ? '–' : this.formats.number(digits).format(value);
  }

  /** A share 0…1 as a percentage. */
  pct(value: number | null | undefined, digits = 0): string {
    return value === null || value === undefined ? '–' : `${this.num(value * 100, digits)} %`;
  }

  dateTime(ts: number | string): string {
    return this.formats.dateTime.format(epochMs(ts));
  }

  date(ts: number | string): string {
    return this.formats.date.format(epochMs(ts));
  }

  time(ts: number | string): string {
    return this.formats.time.format(epochMs(ts));
  }

  /** A time-axis tick: hours and minutes over short spans, day and month over long ones. */
  axisTime(ts: number, spanMs: number): string {
    return spanMs <= 36 * 3_600_000 ? this.formats.hourMinute.format(ts) : this.formats.dayMonth.format(ts);
  }

  /** A duration for a small space: minutes under an hour, else hours with one decimal (`2,5 t`). */
  durationShort(seconds: number | null | undefined): string {
    if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
    if (seconds < 3600) return `${Math.round(seconds / 60)}${this.t('unit.min').charAt(0)}`;
    return `${this.num(seconds / 3600, seconds < 36_000 ? 1 : 0)}${this.t('unit.h')}`;
  }

  /** A duration in seconds as the two largest units (`3 d 4 h`, `12 min`). */
  duration(seconds: number | null | undefined): string {
    if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
    const s = Math.round(seconds);
    if (s < 60) return `${s} ${this.t('unit.s')}`;
    const m = Math.round(s / 60);
    if (m < 60) return `${m} ${this.t('unit.min')}`;
    const h = Math.floor(m / 60);
    if (h < 24) return m % 60 ? `${h} ${this.t('unit.h')} ${m % 60} ${this.t('unit.min')}` : `${h} ${this.t('unit.h')}`;
    const d = Math.floor(h / 24);
    return h % 24 ? `${d} ${this.t('unit.d')} ${h % 24} ${this.t('unit.h')}` : `${d} ${this.t('unit.d')}`;
  }
}

export type { MessageKey };
