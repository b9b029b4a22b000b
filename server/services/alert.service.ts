/**
 * Grant-use alerts: when an allocation's use crosses 50, 75, 90 or 100 % of its grant, an
 * alert is raised once (a unique row per allocation and threshold) and delivered to the
 * configured webhook as a JSON POST; failed deliveries are retried on later checks.
 */
import type { Database } from 'better-sqlite3';
import { ALERT_THRESHOLDS, allStatuses } from './allocation.service.ts';

export interface AlertDeps {
  sqlite: Database;
  webhookUrl: string | null;
  now?: () => number;
  fetchImpl?: typeof fetch;
  maxAttempts?: number;
}

/** Raises newly crossed thresholds and delivers undelivered alerts; returns what it did. */
export async function checkAlerts({ sqlite, webhookUrl, now = Date.now, fetchImpl = fetch, maxAttempts = 10 }: AlertDeps) {
  const nowTs = now();
  const insert = sqlite.prepare('INSERT OR IGNORE INTO alerts (allocation_id, threshold_pct, used_pct, raised_ts) VALUES (?, ?, ?, ?)');
  let raised = 0;
  for (const s of allStatuses(sqlite, nowTs)) {
    for (const t of ALERT_THRESHOLDS) if (s.usedPct >= t) raised += insert.run(s.id, t, s.usedPct, nowTs).changes;
  }
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
  return { raised, delivered, failed };
}
