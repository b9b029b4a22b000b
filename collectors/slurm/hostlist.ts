/**
 * Slurm hostlist expressions ("cn[1-2]", "d13n[03,05,07-08,16]", "a[1-2]b[3-4]") expanded
 * into node names, the way `scontrol show hostnames` prints them.
 */

/** Guards against a typo like "n[1-99999999]" eating the collector's memory. */
const MAX_HOSTS = 1_000_000;

/** Expands a Slurm hostlist expression into node names; "" and "None assigned" give []. */
export function expandHostlist(expression: string | null | undefined): string[] {
  const text = (expression ?? '').trim();
  if (text === '' || /^none( assigned)?$/i.test(text) || text === '(null)') return [];
  const hosts: string[] = [];
  for (const part of splitTopLevel(text)) {
    for (const host of expandOne(part)) {
      hosts.push(host);
      if (hosts.length > MAX_HOSTS) throw new Error(`hostlist '${text.slice(0, 80)}' expands to more than ${MAX_HOSTS} hosts`);
    }
  }
  return hosts;
}

/** Splits on commas that are not inside brackets. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '[') depth++;
    else if (ch === ']') depth = Math.max(0, depth - 1);
    else if (ch === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

/** Expands one host pattern that may hold several bracket groups (a cartesian product). */
function expandOne(pattern: string): string[] {
  const open = pattern.indexOf('[');
  if (open < 0) return [pattern];
  const close = pattern.indexOf(']', open);
  if (close < 0) throw new Error(`hostlist '${pattern}' has an unclosed '['`);
  const prefix = pattern.slice(0, open);
  const suffixes = expandOne(pattern.slice(close + 1));
  const out: string[] = [];
  for (const value of expandRanges(pattern.slice(open + 1, close), pattern)) {
    for (const suffix of suffixes) out.push(prefix + value + suffix);
  }
  return out;
}

/** "03,05,07-08" → ["03","05","07","08"], keeping the zero padding of the lower bound. */
function expandRanges(body: string, pattern: string): string[] {
  const values: string[] = [];
  for (const item of body.split(',')) {
    const range = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(item);
    if (!range) throw new Error(`hostlist '${pattern}' has a bad range '${item}'`);
    const [, low, high] = range;
    if (high === undefined) {
      values.push(low);
      continue;
    }
    const from = Number(low);
    const to = Number(high);
    if (to < from) throw new Error(`hostlist '${pattern}' has a descending range '${item}'`);
    if (to - from > MAX_HOSTS) throw new Error(`hostlist '${pattern}' range '${item}' is too large`);
    // Slurm pads every number to the width of the lower bound as written ("07-10" → 07..10).
    const width = low.length;
    for (let n = from; n <= to; n++) values.push(String(n).padStart(width, '0'));
  }
  return values;
}
