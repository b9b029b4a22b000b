/**
 * `sacct -P/--parsable2` (and `-p`, which ends every line with '|') → JobRecords. With a
 * header the columns may come in any order and any case; without one they are the XDMoD
 * shredder's 26 columns. sacct prints local time without an offset, so times are read
 * in a configurable IANA zone (default UTC, which is what `TZ=UTC sacct` prints).
 */
import { expandHostlist } from './hostlist.ts';
import { finishDraft, nonEmpty, type FinishedJob, type Warn } from './job-draft.ts';
import { gpusFromTresPer, gpusFromTresString } from './gpu-sources.ts';
import type { ParsedJobs } from './parse-json.ts';

/** The column order of `sacct --parsable2 --noheader` in the XDMoD shredder (Slurm.php). */
export const XDMOD_COLUMNS = [
  'jobid', 'jobidraw', 'cluster', 'partition', 'qos', 'account', 'group', 'gid', 'user', 'uid',
  'submit', 'eligible', 'start', 'end', 'elapsed', 'exitcode', 'state', 'nnodes', 'ncpus',
  'reqcpus', 'reqmem', 'reqtres', 'alloctres', 'timelimit', 'nodelist', 'jobname',
] as const;

// Columns this parser understands; a first line made mostly of these is a header.
const KNOWN_COLUMNS = new Set<string>([
  ...XDMOD_COLUMNS, 'alloccpus', 'allocnodes', 'allocgres', 'reqgres', 'elapsedraw',
  'cputimeraw', 'derivedexitcode', 'reqnodes', 'qosraw', 'jobidraw', 'nodelist',
]);

export interface ParsableOptions {
  /** IANA zone the times were printed in (sacct prints local time without offset). */
  timeZone?: string;
}

/** Parses sacct -P/-p text, with or without a header; throws naming the line when it cannot. */
export function parseSacctParsable(text: string, options: ParsableOptions = {}): ParsedJobs {
  const timeZone = options.timeZone ?? 'UTC';
  assertTimeZone(timeZone);
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length === 0) return { format: 'sacct-parsable', jobs: [], warnings: [] };
  const first = lines[0].split('|').map((h) => h.trim().toLowerCase());
  const known = first.filter((h) => KNOWN_COLUMNS.has(h)).length;
  const hasHeader = first.includes('jobid') && known >= Math.ceil(first.filter((h) => h !== '').length / 2);
  const columns: string[] = hasHeader ? first : [...XDMOD_COLUMNS];
  // `-p` ends every line, the header too, with '|': one empty field more than columns.
  if (hasHeader && columns[columns.length - 1] === '') columns.pop();
  const rows = hasHeader ? lines.slice(1) : lines;
  const firstRow = hasHeader ? 2 : 1;
  if (!columns.includes('jobid')) throw new Error("the header has no 'JobID' column");
  if (!columns.includes('state')) throw new Error("the header has no 'State' column");
  if (!columns.includes('submit')) throw new Error("the header has no 'Submit' column");

  const warnings: string[] = [];
  const warn: Warn = (m) => warnings.push(m);
  const jobs: FinishedJob[] = [];
  rows.forEach((line, i) => {
    let fields = line.split('|');
    if (fields.length === columns.length + 1 && fields[fields.length - 1] === '') fields = fields.slice(0, -1);
    if (fields.length !== columns.length) {
      const expected = hasHeader ? `the header's ${columns.length}` : `the ${columns.length} columns of the XDMoD shredder's order (no header)`;
      throw new Error(`line ${i + firstRow} has ${fields.length} fields, expected ${expected}`);
    }
    const row = new Map<string, string>();
    columns.forEach((c, k) => row.set(c, fields[k]));
    const get = (name: string): string | null => nonEmpty(row.get(name));
    const rawId = get('jobid');
    // Steps (123.batch, 123.0, 123.extern, 8_1.batch) repeat the job's allocation.
    if (!rawId || rawId.includes('.')) return;
    const time = (name: string): number | null => {
      const value = get(name);
      try {
        return parseSacctTime(value, timeZone);
      } catch (error) {
        throw new Error(`line ${i + firstRow}: ${name} ${(error as Error).message}`, { cause: error });
      }
    };
    const array = /^(\d+)_(\d+|\[.*\])$/.exec(rawId);
    const nodes = expandHostlist(get('nodelist'));
    const allocTres = get('alloctres');
    const allocCpus = intOf(get('ncpus') ?? get('alloccpus'));
    const nodeCount = intOf(get('nnodes') ?? get('allocnodes')) ?? Math.max(1, nodes.length);
    const drafts = finishDraft(
      {
        jobId: rawId,
        arrayJobId: array ? array[1] : null,
        pendingArrayTasks: array && array[2].startsWith('[') ? array[2].slice(1, -1) : null,
        name: row.get('jobname') ?? null,
        user: get('user') ?? get('uid'),
        account: get('account'),
        partition: get('partition'),
        qos: get('qos'),
        state: get('state'),
        submitS: time('submit'),
        eligibleS: row.has('eligible') ? time('eligible') : null,
        startS: row.has('start') ? time('start') : null,
        endS: row.has('end') ? time('end') : null,
        allocGpus: [gpusFromTresString(allocTres), gpusFromTresPer(get('allocgres'), 1)],
        reqGpus: [gpusFromTresString(get('reqtres')), gpusFromTresPer(get('reqgres'), nodeCount)],
        allocCpus,
        reqCpus: intOf(get('reqcpus')),
        nodes,
        hasAllocation: allocTres !== null || nodes.length > 0 || (allocCpus ?? 0) > 0,
        exitCode: intOf((get('exitcode') ?? '').split(':')[0]),
        cluster: get('cluster'),
      },
      warn,
    );
    jobs.push(...drafts);
  });
  return { format: hasHeader ? 'sacct-parsable' : 'sacct-parsable-xdmod', jobs, warnings };
}

function intOf(text: string | null): number | null {
  if (text === null || !/^-?\d+$/.test(text.trim())) return null;
  return Number(text);
}

function assertTimeZone(timeZone: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
  } catch {
    throw new Error(`unknown time zone '${timeZone}'`);
  }
}

/**
 * A sacct time → epoch seconds. "Unknown", "None" and "" are null; a time with Z or an
 * offset is taken as written; one without is local time in `timeZone`.
 */
export function parseSacctTime(text: string | null, timeZone = 'UTC'): number | null {
  if (text === null) return null;
  const value = text.trim();
  if (value === '' || /^(unknown|none|n\/a)$/i.test(value)) return null;
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$/.exec(value);
  if (!m) throw new Error(`'${value}' is not a time (expected YYYY-MM-DDThh:mm:ss)`);
  if (m[8]) return Math.floor(Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${m[8].length === 5 ? `${m[8].slice(0, 3)}:${m[8].slice(3)}` : m[8]}`) / 1000);
  const wallMs = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  // The zone's offset at the instant, corrected once for a wall time near a DST change.
  let utcMs = wallMs - offsetMs(wallMs, timeZone);
  utcMs = wallMs - offsetMs(utcMs, timeZone);
  return Math.floor(utcMs / 1000);
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** How far `timeZone`'s wall clock is ahead of UTC at instant `utcMs`. */
function offsetMs(utcMs: number, timeZone: string): number {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  const parts = Object.fromEntries(f.formatToParts(new Date(utcMs)).map((p) => [p.type, p.value]));
  const wall = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
  return wall - Math.floor(utcMs / 1000) * 1000;
}
