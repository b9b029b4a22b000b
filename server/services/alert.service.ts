/**
 * Grant-use alerts: when an allocation's use crosses 50, 75, 90 or 100 % of its grant, an
 * alert is raised once (a unique row per allocation and threshold) and delivered to the
 * configured webhook as a JSON POST; failed deliveries are retried on later checks.
 */
import type { Database } from 'better-sqlite3';
import { ALERT_THRESHOLDS, allStatuses } from './allocation.service.ts';
import { grantAlertMail, type SendMail } from './mail.service.ts';

export interface AlertDeps {
  sqlite: Database;
  webhookUrl: string | null;
  now?: () => number;
  fetchImpl?: typeof fetch;
  maxAttempts?: number;
  /** Emails each alert to the project's PIs and the committee (those with an address), once each. */
  sendMail?: SendMail | null;
  publicUrl?: string | null;
}

/** Raises newly crossed thresholds and delivers undelivered alerts; returns what it did. */
export async function checkAlerts({ sqlite, webhookUrl, now = Date.now, fetchImpl = fetch, maxAttempts = 10, sendMail = null, publicUrl = null }: AlertDeps) {
  const nowTs = now();
  const insert = sqlite.prepare('INSERT OR IGNORE INTO alerts (allocation_id, threshold_pct, used_pct, raised_ts) VALUES (?, ?, ?, ?)');
  let raised = 0;
  const raisedIds: number[] = [];
  for (const s of allStatuses(sqlite, nowTs)) {
    for (const t of ALERT_THRESHOLDS) {
      if (s.usedPct < t) continue;
      const r = insert.run(s.id, t, s.usedPct, nowTs);
      raised += r.changes;
      if (r.changes > 0) raisedIds.push(Number(r.lastInsertRowid));
    }
  }
  // The people an alert is for, fixed when it is raised: one mail each, kept until the mail server takes it.
  if (sendMail) enqueueMails(sqlite, raisedIds);
  const mails = sendMail ? await deliverMails(sqlite, sendMail, publicUrl, now) : { sent: 0, failed: 0 };
  let delivered = 0;
  let failed = 0;
  if (webhookUrl) {
    const pending = sqlite
      .prepare(
        `SELECT a.id, a.threshold_pct AS thresholdPct, a.used_pct AS usedPct, a.raised_ts AS raisedTs, p.name AS project,
           al.amount AS grantedGpuHours, al.period_end_ts AS periodEndTs
         FROM alerts a JOIN allocations al ON al.id = a.allocation_id JOIN projects p ON p.id = al.project_id
         WHERE a.delivered_ts IS NULL AND a.attempts < ? ORDER BY a.id`,
      )
      .all(maxAttempts) as Array<{ id: number; thresholdPct: number; usedPct: number; raisedTs: number; project: string; grantedGpuHours: number; periodEndTs: number }>;
    for (const a of pending) {
      const body = {
        type: 'allocation.threshold',
        project: a.project,
        thresholdPct: a.thresholdPct,
        usedPct: a.usedPct,
        grantedGpuHours: a.grantedGpuHours,
        periodEnd: new Date(a.periodEndTs).toISOString(),
        raisedAt: new Date(a.raisedTs).toISOString(),
      };
      try {
        const res = await fetchImpl(webhookUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(10_000),
        });
        await res.arrayBuffer();
        if (!res.ok) throw new Error(`webhook answered ${res.status}`);
        sqlite.prepare('UPDATE alerts SET delivered_ts = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?').run(now(), a.id);
        delivered++;
      } catch (error) {
        sqlite.prepare('UPDATE alerts SET attempts = attempts + 1, last_error = ? WHERE id = ?').run((error as Error).message, a.id);
        failed++;
      }
    }
  }
  return { raised, delivered, failed, mailed: mails.sent, mailFailed: mails.failed };
}

function enqueueMails(sqlite: Database, alertIds: number[]): void {
  const add = sqlite.prepare(
    `INSERT OR IGNORE INTO alert_mails (alert_id, user_id, address)
     SELECT a.id, u.id, u.email FROM alerts a JOIN allocations al ON al.id = a.allocation_id JOIN users u ON u.email IS NOT NULL
     WHERE a.id = @id AND (u.role = 'committee'
       OR EXISTS (SELECT 1 FROM project_members m WHERE m.project_id = al.project_id AND m.user_id = u.id AND (m.is_pi = 1 OR u.role = 'pi')))`,
  );
  sqlite.transaction(() => {
    for (const id of alertIds) add.run({ id });
  })();
}

/** Sends every mail not yet accepted, each in its recipient's language; a refusal is tried again at the next check. */
async function deliverMails(sqlite: Database, sendMail: SendMail, publicUrl: string | null, now: () => number): Promise<{ sent: number; failed: number }> {
  const pending = sqlite
    .prepare(
      `SELECT m.alert_id AS alertId, m.user_id AS userId, m.address, u.lang, a.threshold_pct AS thresholdPct, a.used_pct AS usedPct, p.name AS project,
         al.amount AS grantedGpuHours, al.period_end_ts AS periodEndTs
       FROM alert_mails m JOIN alerts a ON a.id = m.alert_id JOIN allocations al ON al.id = a.allocation_id JOIN projects p ON p.id = al.project_id
       LEFT JOIN users u ON u.id = m.user_id
       WHERE m.sent_ts IS NULL ORDER BY m.alert_id, m.user_id`,
    )
    .all() as Array<{ alertId: number; userId: number; address: string; lang: 'en' | 'da' | null; thresholdPct: number; usedPct: number; project: string; grantedGpuHours: number; periodEndTs: number }>;
  const done = sqlite.prepare('UPDATE alert_mails SET sent_ts = ?, attempts = attempts + 1, last_error = NULL WHERE alert_id = ? AND user_id = ?');
  const failedTry = sqlite.prepare('UPDATE alert_mails SET attempts = attempts + 1, last_error = ? WHERE alert_id = ? AND user_id = ?');
  let sent = 0;
  let failed = 0;
  for (const m of pending) {
    const mail = grantAlertMail(m.lang, { project: m.project, thresholdPct: m.thresholdPct, usedPct: m.usedPct, grantedGpuHours: m.grantedGpuHours, periodEnd: new Date(m.periodEndTs).toISOString(), publicUrl });
    try {
      await sendMail({ to: m.address, ...mail });
      done.run(now(), m.alertId, m.userId);
      sent++;
    } catch (error) {
      failedTry.run((error as Error).message.slice(0, 500), m.alertId, m.userId);
      failed++;
    }
  }
  return { sent, failed };
}
