/**
 * Grants and their use. An allocation gives a project GPU-hours for a period; allocations
 * form a tree (a national grant split among sub-projects): a sub-project's use counts
 * against every ancestor, and the children of an allocation may not together exceed it
 * nor outlast its period. Every change is written to the audit log.
 *
 * Use = allocated GPUs × running time of the project's (and its sub-projects') jobs inside
 * the period, up to now, from job records, exactly like /api/v1/usage.
 */
import type { Database } from 'better-sqlite3';
import { gpuHoursByAccount } from '../../db/queries/gpu-hours.ts';
import { DAY_MS } from '../../db/rules/time.ts';
import type { Visibility } from '../auth/middleware.ts';
import { DomainError } from '../errors.ts';

/** Share of the grant at which an alert is raised, once each. */
export const ALERT_THRESHOLDS = [50, 75, 90, 100] as const;

export interface AllocationInput {
  project: string;
  /** The allocation this one is carved out of (its id), or null for a root grant. */
  parentId: number | null;
  grantedGpuHours: number;
  periodStart: string;
  periodEnd: string;
}

interface AllocationRecord {
  id: number;
  project: string;
  parentId: number | null;
  amount: number;
  periodStartTs: number;
  periodEndTs: number;
}

export interface AllocationStatus {
  id: number;
  project: string;
  parentId: number | null;
  periodStart: string;
  periodEnd: string;
  grantedGpuHours: number;
  usedGpuHours: number;
  remainingGpuHours: number;
  usedPct: number;
  elapsedPct: number;
  recentRateGpuHoursPerDay: number;
  averageRateGpuHoursPerDay: number;
  /** When the grant runs out at the last 7 days' rate (null: not at this rate). */
  forecastExhaustion: string | null;
  /** When the grant runs out at the period's average rate. */
  forecastExhaustionAtAverage: string | null;
  flags: Array<'under-use' | 'over-use' | 'runs-out-early' | 'exhausted'>;
  alerts: Array<{ thresholdPct: number; raisedAt: string; delivered: boolean }>;
}

function all(sqlite: Database): AllocationRecord[] {
  return sqlite
    .prepare(
      `SELECT a.id, p.name AS project, a.parent_id AS parentId, a.amount, a.period_start_ts AS periodStartTs, a.period_end_ts AS periodEndTs
       FROM allocations a JOIN projects p ON p.id = a.project_id WHERE a.resource = 'gpu_hours' ORDER BY a.id`,
    )
    .all() as AllocationRecord[];
}

/** Projects of an allocation and all its descendants. */
function subtreeProjects(records: AllocationRecord[], id: number): string[] {
  const out = new Set<string>();
  const walk = (aid: number) => {
    const a = records.find((r) => r.id === aid);
    if (!a) return;
    out.add(a.project);
    for (const child of records.filter((r) => r.parentId === aid)) walk(child.id);
  };
  walk(id);
  return [...out];
}

/**
 * GPU-hours per account, memoised per window within one listing (allocations share
 * periods); of `accounts` only when the listing is of a few grants.
 */
function usageCache(sqlite: Database, nowTs: number, accounts: string[] | null = null) {
  const cache = new Map<string, Map<string, number>>();
  return (projects: string[], fromTs: number, toTs: number): number => {
    const key = `${fromTs}|${toTs}`;
    let byAccount = cache.get(key);
    if (!byAccount) cache.set(key, (byAccount = gpuHoursByAccount(sqlite, fromTs, toTs, nowTs, accounts)));
    return projects.reduce((sum, p) => sum + (byAccount.get(p) ?? 0), 0);
  };
}

/** Use against grant, burn rates, forecasts and flags of one allocation. */
function status(sqlite: Database, records: AllocationRecord[], a: AllocationRecord, nowTs: number, usedIn = usageCache(sqlite, nowTs)): AllocationStatus {
  const projects = subtreeProjects(records, a.id);
  const until = Math.min(nowTs, a.periodEndTs);
  const used = usedIn(projects, a.periodStartTs, until);
  const elapsedDays = Math.max(0, (until - a.periodStartTs) / DAY_MS);
  const recentFrom = Math.max(a.periodStartTs, until - 7 * DAY_MS);
  const recentDays = (until - recentFrom) / DAY_MS;
  const recentRate = recentDays > 0 ? usedIn(projects, recentFrom, until) / recentDays : 0;
  const averageRate = elapsedDays > 0 ? used / elapsedDays : 0;
  const remaining = a.amount - used;
  const forecast = (rate: number) => (remaining <= 0 ? new Date(until).toISOString() : rate > 0 ? new Date(until + (remaining / rate) * DAY_MS).toISOString() : null);
  const usedPct = a.amount > 0 ? (used / a.amount) * 100 : 0;
  const elapsedPct = Math.min(100, Math.max(0, ((nowTs - a.periodStartTs) / (a.periodEndTs - a.periodStartTs)) * 100));
  const flags: AllocationStatus['flags'] = [];
  const runsOut = forecast(recentRate);
  if (remaining <= 0) flags.push('exhausted');
  else if (runsOut && Date.parse(runsOut) < a.periodEndTs) flags.push('runs-out-early');
  if (usedPct > elapsedPct + 25 && remaining > 0) flags.push('over-use');
  // Little used with much of the period gone: the committee may want to reclaim it.
  if (elapsedPct >= 50 && usedPct < elapsedPct / 2) flags.push('under-use');
  const raised = sqlite
    .prepare('SELECT threshold_pct AS t, raised_ts AS r, delivered_ts AS d FROM alerts WHERE allocation_id = ? ORDER BY threshold_pct')
    .all(a.id) as Array<{ t: number; r: number; d: number | null }>;
  return {
    id: a.id,
    project: a.project,
    parentId: a.parentId,
    periodStart: new Date(a.periodStartTs).toISOString(),
    periodEnd: new Date(a.periodEndTs).toISOString(),
    grantedGpuHours: a.amount,
    usedGpuHours: used,
    remainingGpuHours: remaining,
    usedPct,
    elapsedPct,
    recentRateGpuHoursPerDay: recentRate,
    averageRateGpuHoursPerDay: averageRate,
    forecastExhaustion: runsOut,
    forecastExhaustionAtAverage: forecast(averageRate),
    flags,
    alerts: raised.map((x) => ({ thresholdPct: x.t, raisedAt: new Date(x.r).toISOString(), delivered: x.d !== null })),
  };
}

/** Allocations the caller may see, with their use. */
export function listAllocations(sqlite: Database, nowTs: number, vis: Visibility, project?: string): { rows: AllocationStatus[] } {
  const records = all(sqlite);
  const visible = records.filter((a) => (!project || a.project === project) && (vis.accounts === null || vis.accounts.includes(a.project)));
  if (project && vis.accounts !== null && !vis.accounts.includes(project)) throw new DomainError('FORBIDDEN', `you are not a member of project ${project}`);
  // A few grants (one project's, a PI's) need only their own projects' use.
  const accounts = visible.length <= 20 ? [...new Set(visible.flatMap((a) => subtreeProjects(records, a.id)))] : null;
  const used = usageCache(sqlite, nowTs, accounts);
  return { rows: visible.map((a) => status(sqlite, records, a, nowTs, used)) };
}

/** Statuses of every allocation (for alert checks and the committee). */
export function allStatuses(sqlite: Database, nowTs: number): AllocationStatus[] {
  const records = all(sqlite);
  const used = usageCache(sqlite, nowTs);
  return records.map((a) => status(sqlite, records, a, nowTs, used));
}

/**
 * Each grant in its period at `nowTs` with the GPU-hours used of it (as `allStatuses` counts
 * them, sub-allocations' projects included): the few reads /metrics needs, without the burn
 * rates, forecasts and alerts.
 */
export function grantUse(sqlite: Database, nowTs: number): Array<{ project: string; grantedGpuHours: number; usedGpuHours: number }> {
  const records = all(sqlite);
  const used = usageCache(sqlite, nowTs);
  return records
    .filter((a) => a.periodStartTs <= nowTs && nowTs < a.periodEndTs)
    .map((a) => ({ project: a.project, grantedGpuHours: a.amount, usedGpuHours: used(subtreeProjects(records, a.id), a.periodStartTs, Math.min(nowTs, a.periodEndTs)) }));
}

function audit(sqlite: Database, nowTs: number, actor: string, action: string, target: string, details: unknown) {
  sqlite.prepare('INSERT INTO audit_log (ts, actor, action, target, details) VALUES (?, ?, ?, ?, ?)').run(nowTs, actor, action, target, JSON.stringify(details));
}

function checkTree(records: AllocationRecord[], candidate: AllocationRecord): void {
  if (!(candidate.amount >= 0)) throw new DomainError('VALIDATION', 'grantedGpuHours: must not be negative');
  if (candidate.periodEndTs <= candidate.periodStartTs) throw new DomainError('VALIDATION', 'periodEnd: must be after periodStart');
  const others = records.filter((r) => r.id !== candidate.id);
  if (candidate.parentId !== null) {
    const parent = others.find((r) => r.id === candidate.parentId);
    if (!parent) throw new DomainError('VALIDATION', `parentId: no allocation ${candidate.parentId}`);
    for (let p: AllocationRecord | undefined = parent; p; p = others.find((r) => r.id === p!.parentId)) {
      if (p.id === candidate.id) throw new DomainError('VALIDATION', 'parentId: would make a cycle');
    }
    if (candidate.periodStartTs < parent.periodStartTs || candidate.periodEndTs > parent.periodEndTs) {
      throw new DomainError('VALIDATION', `period: must lie within the parent allocation's period`);
    }
    const siblings = others.filter((r) => r.parentId === parent.id).reduce((s, r) => s + r.amount, 0);
    if (siblings + candidate.amount > parent.amount + 1e-9) {
      throw new DomainError('CONFLICT', `grantedGpuHours: sub-allocations of ${parent.project} would total ${siblings + candidate.amount} GPU-hours, more than its ${parent.amount}`);
    }
  }
  const children = others.filter((r) => r.parentId === candidate.id);
  const childTotal = children.reduce((s, r) => s + r.amount, 0);
  if (childTotal > candidate.amount + 1e-9) {
    throw new DomainError('CONFLICT', `grantedGpuHours: its sub-allocations already total ${childTotal} GPU-hours`);
  }
  if (children.some((c) => c.periodStartTs < candidate.periodStartTs || c.periodEndTs > candidate.periodEndTs)) {
    throw new DomainError('VALIDATION', 'period: its sub-allocations would fall outside it');
  }
}

/** Largest grant: ten years of a 10,000-GPU machine; 1e308 GPU-hours is a typing error, not a grant. */
const MAX_GRANT_GPU_HOURS = 1e9;
/** Grant periods lie in these years (UTC): a period in year 275760 parses, but is no grant's. */
const PERIOD_YEARS = [2000, 2199] as const;

/** `v` (YYYY-MM-DD or an ISO time in UTC) as an ISO time when it names a real instant, else null (no 30 February). */
function calendarIso(v: string): string | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?Z)?$/.exec(v);
  const ts = m ? Date.parse(m[4] ? v : `${v}T00:00:00Z`) : NaN;
  if (!Number.isFinite(ts)) return null;
  const out = new Date(ts).toISOString();
  // Date.parse rolls an impossible day or hour over to the next: the date must come back as written.
  return out.slice(0, 10) === v.slice(0, 10) && (!m![4] || out.slice(11, 16) === v.slice(11, 16)) ? out : null;
}

/** Refuses an impossible amount or period, naming the field. */
function checkGrantInput(input: Partial<Pick<AllocationInput, 'grantedGpuHours' | 'periodStart' | 'periodEnd'>>): void {
  if (input.grantedGpuHours !== undefined && !(input.grantedGpuHours <= MAX_GRANT_GPU_HOURS)) {
    throw new DomainError('VALIDATION', `grantedGpuHours: ${input.grantedGpuHours} is more than ${MAX_GRANT_GPU_HOURS} GPU-hours`);
  }
  for (const field of ['periodStart', 'periodEnd'] as const) {
    const v = input[field];
    if (v === undefined) continue;
    const iso = calendarIso(v);
    if (iso === null) throw new DomainError('VALIDATION', `${field}: ${v} is not a date on the calendar (YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ)`);
    const year = Number(iso.slice(0, 4));
    if (year < PERIOD_YEARS[0] || year > PERIOD_YEARS[1]) throw new DomainError('VALIDATION', `${field}: ${v} is not in the years ${PERIOD_YEARS[0]}-${PERIOD_YEARS[1]}`);
  }
}

function projectId(sqlite: Database, name: string, nowTs: number): number {
  sqlite.prepare('INSERT OR IGNORE INTO projects (name, created_ts) VALUES (?, ?)').run(name, nowTs);
  return (sqlite.prepare('SELECT id FROM projects WHERE name = ?').get(name) as { id: number }).id;
}

/** Creates an allocation after checking the tree; returns its id. */
export function createAllocation(sqlite: Database, input: AllocationInput, actor: string, nowTs: number): number {
  checkGrantInput(input);
  return sqlite.transaction(() => {
    const records = all(sqlite);
    const candidate: AllocationRecord = {
      id: -1,
      project: input.project,
      parentId: input.parentId,
      amount: input.grantedGpuHours,
      periodStartTs: Date.parse(input.periodStart),
      periodEndTs: Date.parse(input.periodEnd),
    };
    checkTree(records, candidate);
    const id = Number(
      sqlite
        .prepare(
          "INSERT INTO allocations (project_id, parent_id, resource, amount, period_start_ts, period_end_ts, created_ts) VALUES (?, ?, 'gpu_hours', ?, ?, ?, ?)",
        )
        .run(projectId(sqlite, input.project, nowTs), input.parentId, input.grantedGpuHours, candidate.periodStartTs, candidate.periodEndTs, nowTs).lastInsertRowid,
    );
    audit(sqlite, nowTs, actor, 'allocation.create', `allocation:${id}`, { after: input });
    return id;
  }).immediate();
}

/** Changes an allocation's amount or period after checking the tree. */
export function updateAllocation(
  sqlite: Database,
  id: number,
  changes: Partial<Pick<AllocationInput, 'grantedGpuHours' | 'periodStart' | 'periodEnd'>>,
  actor: string,
  nowTs: number,
): void {
  checkGrantInput(changes);
  sqlite.transaction(() => {
    const records = all(sqlite);
    const current = records.find((r) => r.id === id);
    if (!current) throw new DomainError('NOT_FOUND', `no allocation ${id}`);
    const next: AllocationRecord = {
      ...current,
      amount: changes.grantedGpuHours ?? current.amount,
      periodStartTs: changes.periodStart ? Date.parse(changes.periodStart) : current.periodStartTs,
      periodEndTs: changes.periodEnd ? Date.parse(changes.periodEnd) : current.periodEndTs,
    };
    checkTree(records, next);
    sqlite.prepare('UPDATE allocations SET amount = ?, period_start_ts = ?, period_end_ts = ? WHERE id = ?').run(next.amount, next.periodStartTs, next.periodEndTs, id);
    audit(sqlite, nowTs, actor, 'allocation.update', `allocation:${id}`, {
      before: { grantedGpuHours: current.amount, periodStart: new Date(current.periodStartTs).toISOString(), periodEnd: new Date(current.periodEndTs).toISOString() },
      after: changes,
    });
  }).immediate();
}

/**
 * Imports allocations from CSV with header `project,parent,grantedGpuHours,periodStart,periodEnd`
 * (`parent` = the parent's project name, empty for a root; parents before children). All or nothing.
 */
export function importAllocationsCsv(sqlite: Database, csv: string, actor: string, nowTs: number): number {
  const lines = csv.split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = lines.shift()?.split(',').map((h) => h.trim());
  const want = ['project', 'parent', 'grantedGpuHours', 'periodStart', 'periodEnd'];
  if (!header || want.some((w, i) => header[i] !== w)) throw new DomainError('VALIDATION', `line 1: the header must be ${want.join(',')}`);
  return sqlite.transaction(() => {
    let n = 0;
    for (const [i, line] of lines.entries()) {
      const [project, parent, hours, start, end] = line.split(',').map((c) => c.trim());
      const where = `line ${i + 2}`;
      if (!project) throw new DomainError('VALIDATION', `${where}: project is empty`);
      const amount = Number(hours);
      if (!Number.isFinite(amount)) throw new DomainError('VALIDATION', `${where}: grantedGpuHours '${hours}' is not a number`);
      for (const [name, v] of [['periodStart', start], ['periodEnd', end]] as const) {
        if (!v || calendarIso(v) === null) throw new DomainError('VALIDATION', `${where}: ${name} '${v ?? ''}' is not a date on the calendar`);
      }
      let parentId: number | null = null;
      if (parent) {
        const p = all(sqlite).filter((r) => r.project === parent).at(-1);
        if (!p) throw new DomainError('VALIDATION', `${where}: parent project ${parent} has no allocation (list parents first)`);
        parentId = p.id;
      }
      const iso = (v: string) => calendarIso(v)!;
      try {
        createAllocation(sqlite, { project, parentId, grantedGpuHours: amount, periodStart: iso(start!), periodEnd: iso(end!) }, actor, nowTs);
      } catch (error) {
        if (error instanceof DomainError) throw new DomainError(error.code, `${where}: ${error.message}`);
        throw error;
      }
      n++;
    }
    return n;
  }).immediate();
}
