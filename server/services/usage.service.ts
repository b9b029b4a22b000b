/** GPU-hours and energy by project, user, partition or day, limited to what the caller may see. */
import type { Database } from 'better-sqlite3';
import { usageByKey, type UsageGroup, type UsageRow } from '../../db/queries/usage.ts';
import type { Visibility } from '../auth/middleware.ts';
import { DomainError } from '../errors.ts';

export interface Window {
  fromTs: number;
  toTs: number;
}

/** Usage rows for a window; per-user rows only for roles that may see personal data. */
export function getUsage(
  { sqlite, now = Date.now }: { sqlite: Database; now?: () => number },
  window: Window,
  groupBy: UsageGroup,
  vis: Visibility,
): { rows: UsageRow[] } {
  if (groupBy === 'user' && !vis.perUser) {
    throw new DomainError('FORBIDDEN', 'per-user usage is personal data: this role sees projects only');
  }
  const rows = usageByKey(sqlite, {
    ...window,
    nowTs: now(),
    groupBy,
    accounts: vis.accounts,
    // A researcher's per-user view shows only their own row.
    users: groupBy === 'user' ? vis.users : null,
  });
  return { rows };
}
