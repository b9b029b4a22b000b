/**
 * GPU counts from the places Slurm records them: TRES strings ("gres/gpu=2",
 * "gres/gpu:h200=4"), TRES lists from the JSON, gres_detail ("gpu:h100:4(IDX:0-3)"),
 * tres_per_* ("gres/gpu:4", Slurm 22.05's "gres:gpu:2") and, last, the submit line.
 */
import type { GpuCount } from './job-draft.ts';

/** Combines untyped and typed entries: the untyped total wins, the type comes from a typed one. */
function combine(untyped: number | null, typed: Map<string, number>): GpuCount | null {
  const types = [...typed.keys()];
  const type = types.length === 1 ? types[0] : null;
  if (untyped !== null) return { count: untyped, type };
  if (types.length === 0) return null;
  // Several types without a total: Slurm lists each type once, so they add up.
  return { count: [...typed.values()].reduce((a, b) => a + b, 0), type };
}

/** GPUs in a TRES string "billing=1,cpu=1,gres/gpu=2,gres/gpu:h200=2,node=1"; null when none. */
export function gpusFromTresString(tres: string | null | undefined): GpuCount | null {
  if (!tres) return null;
  let untyped: number | null = null;
  const typed = new Map<string, number>();
  for (const item of tres.split(',')) {
    const m = /^gres\/gpu(?::([^=]+))?=(\d+)$/i.exec(item.trim());
    if (!m) continue;
    if (m[1] === undefined) untyped = Number(m[2]);
    else typed.set(m[1], Number(m[2]));
  }
  return combine(untyped, typed);
}

/** One entry of the JSON TRES list (`tres.allocated`, `tres.requested`). */
export interface TresEntry {
  type?: string | null;
  name?: string | null;
  count?: number | null;
}

/** GPUs in a JSON TRES list: {type:"gres", name:"gpu" | "gpu:l40s", count}. */
export function gpusFromTresList(list: TresEntry[] | null | undefined): GpuCount | null {
  if (!Array.isArray(list)) return null;
  let untyped: number | null = null;
  const typed = new Map<string, number>();
  for (const entry of list) {
    if (entry?.type !== 'gres' || typeof entry.count !== 'number' || entry.count < 0) continue;
    const m = /^gpu(?::(.+))?$/i.exec(entry.name ?? '');
    if (!m) continue;
    if (m[1] === undefined) untyped = entry.count;
    else typed.set(m[1], entry.count);
  }
  return combine(untyped, typed);
}

/** GPUs in gres_detail, one entry per node: ["gpu:h100:4(IDX:0-3)", "gpu:2(IDX:0-1)"]. */
export function gpusFromGresDetail(detail: unknown): GpuCount | null {
  if (!Array.isArray(detail) || detail.length === 0) return null;
  let total = 0;
  let found = false;
  const types = new Set<string>();
  for (const node of detail) {
    // A node's entry lists several gres ("gpu:a100:2(IDX:0-1),shard:0"); commas also
    // separate index ranges inside the parentheses, so match rather than split.
    for (const m of String(node).matchAll(/(?:^|,)gpu(?::([^:(,]+))?(?::(\d+))?(?:\(IDX:([^)]*)\))?/gi)) {
      let type: string | undefined = m[1];
      let count: string | undefined = m[2];
      const idx = m[3];
      // "gpu:4(IDX..)": the single field is a count, not a type.
      if (count === undefined && type !== undefined && /^\d+$/.test(type)) {
        count = type;
        type = undefined;
      }
      const n = count !== undefined ? Number(count) : idx !== undefined ? countIndexes(idx) : null;
      if (n === null) continue;
      total += n;
      found = true;
      if (type) types.add(type);
    }
  }
  if (!found) return null;
  return { count: total, type: types.size === 1 ? [...types][0] : null };
}

/** "0-3" → 4, "0,2" → 2, "N/A" → 0. */
function countIndexes(idx: string): number {
  let n = 0;
  for (const item of idx.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(item.trim());
    if (m) n += (m[2] === undefined ? Number(m[1]) : Number(m[2])) - Number(m[1]) + 1;
  }
  return n;
}

/** GPUs in a tres_per_job/node/task string: "gres/gpu:4", "gres:gpu:2", "gres/gpu:h100:2", "gres/gpu=1". */
export function gpusFromTresPer(value: string | null | undefined, multiplier = 1): GpuCount | null {
  if (!value) return null;
  let untyped: number | null = null;
  const typed = new Map<string, number>();
  for (const item of value.split(',')) {
    const m = /^(?:gres[/:])?gpu(?::([^:=]+))?(?:[:=](\d+))?$/i.exec(item.trim());
    if (!m) continue;
    let type: string | undefined = m[1];
    let count: string | undefined = m[2];
    if (count === undefined && type !== undefined && /^\d+$/.test(type)) {
      count = type;
      type = undefined;
    }
    // "gres/gpu" with no count means one per unit.
    const n = (count === undefined ? 1 : Number(count)) * multiplier;
    if (type === undefined) untyped = n;
    else typed.set(type, n);
  }
  return combine(untyped, typed);
}

/**
 * GPUs requested on the submit line, for accounting records of clusters that do not
 * track gres/gpu as a TRES (then the job record holds no other trace of its GPUs).
 */
export function gpusFromSubmitLine(line: string | null | undefined, nodeCount: number): GpuCount | null {
  if (!line) return null;
  const total = /(?:^|\s)(?:--gpus[=\s]|-G\s*)(?:([A-Za-z][\w.-]*):)?(\d+)(?=\s|$)/.exec(line);
  if (total) return { count: Number(total[2]), type: total[1] ?? null };
  const perNode = /(?:^|\s)--gpus-per-node[=\s](?:([A-Za-z][\w.-]*):)?(\d+)(?=\s|$)/.exec(line);
  if (perNode) return { count: Number(perNode[2]) * Math.max(1, nodeCount), type: perNode[1] ?? null };
  const gres = /(?:^|\s)--gres[=\s](?:\S*,)?gpu(?::([A-Za-z][\w.-]*))?(?::(\d+))?(?=[\s,]|$)/.exec(line);
  if (gres) return { count: Number(gres[2] ?? 1) * Math.max(1, nodeCount), type: gres[1] ?? null };
  return null;
}
