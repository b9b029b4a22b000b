/**
 * Email notices over SMTP (HEATLEDGER_SMTP_URL, HEATLEDGER_MAIL_FROM): `smtp://` upgrades
 * with STARTTLS when the server offers it, `smtps://` is TLS from the start; user and
 * password come from the URL. HEATLEDGER_SMTP_CA_FILE adds a site's own CA (a relay with a
 * certificate from an internal authority). The texts are written here, in English and Danish.
 */
import { readFileSync } from 'node:fs';
import nodemailer from 'nodemailer';
import type { Config } from '../config.ts';

export interface Mail {
  to: string;
  subject: string;
  text: string;
}

/** Sends one message; rejects unless the mail server accepted it for delivery. */
export type SendMail = (mail: Mail) => Promise<void>;

/** The configured SMTP sender, or null when no SMTP server is configured. */
export function createSendMail(config: Pick<Config, 'smtpUrl' | 'mailFrom' | 'smtpCaFile'>): SendMail | null {
  if (!config.smtpUrl || !config.mailFrom) return null;
  const url = new URL(config.smtpUrl);
  const transport = nodemailer.createTransport({
    host: url.hostname,
    port: url.port ? Number(url.port) : url.protocol === 'smtps:' ? 465 : 587,
    secure: url.protocol === 'smtps:',
    auth: url.username ? { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } : undefined,
    tls: config.smtpCaFile ? { ca: readFileSync(config.smtpCaFile, 'utf8') } : undefined,
    connectionTimeout: 15_000,
    greetingTimeout: 15_000,
    socketTimeout: 30_000,
  });
  const from = config.mailFrom;
  return async (mail) => {
    const info = await transport.sendMail({ from, to: mail.to, subject: mail.subject, text: mail.text });
    if (info.rejected.length > 0) throw new Error(`the mail server refused ${info.rejected.join(', ')}`);
  };
}

export interface GrantAlertFigures {
  project: string;
  thresholdPct: number;
  usedPct: number;
  grantedGpuHours: number;
  periodEnd: string;
  publicUrl: string | null;
}

const number = (lang: 'en' | 'da', v: number, digits = 1) => new Intl.NumberFormat(lang === 'da' ? 'da-DK' : 'en-GB', { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(v);

/** A grant alert in the person's language (English when none is stored). */
export function grantAlertMail(lang: 'en' | 'da' | null, f: GrantAlertFigures): Omit<Mail, 'to'> {
  const l = lang ?? 'en';
  const used = (f.usedPct / 100) * f.grantedGpuHours;
  const n = (v: number) => number(l, v);
  const day = f.periodEnd.slice(0, 10);
  const link = f.publicUrl ? `\n\n${f.publicUrl.replace(/\/$/, '')}/#/project/${encodeURIComponent(f.project)}` : '';
  if (l === 'da') {
    return {
      subject: `[HeatLedger] ${f.project} har brugt ${n(f.usedPct)} % af sin GPU-timebevilling`,
      text:
        `Projekt ${f.project} har brugt ${n(f.usedPct)} % af sin bevilling: ${n(used)} af ${n(f.grantedGpuHours)} GPU-timer (grænse ${f.thresholdPct} %).\n` +
        `Tilbage: ${n(Math.max(0, f.grantedGpuHours - used))} GPU-timer. Bevillingsperioden slutter ${day}.${link}\n`,
    };
  }
  return {
    subject: `[HeatLedger] ${f.project} has used ${n(f.usedPct)} % of its GPU-hour grant`,
    text:
      `Project ${f.project} has used ${n(f.usedPct)} % of its grant: ${n(used)} of ${n(f.grantedGpuHours)} GPU-hours (threshold ${f.thresholdPct} %).\n` +
      `Remaining: ${n(Math.max(0, f.grantedGpuHours - used))} GPU-hours. The grant period ends ${day}.${link}\n`,
  };
}
