/**
 * Totals since the first record, per project and partition (what /metrics exports as
 * counters), and the age of each collector source's newest sample.
 *
 * - gpuS: allocated GPU-seconds of ended jobs from the usage rollup (usage_month_project)
 *   plus running jobs up to `nowTs` (db/rules/gpu-hours.ts in SQL);
 * - energyWh: measured GPU energy from the same rollup.
 * Ended months' sums are kept per connection under the months' 'usage' change stamp
 * (db/stamps.ts), so a late record in an ended month is seen at once; the current month is
 * read each time.
 */
import type { Database } from 'better-sqlite3';
import { NO_PARTITION } from '../rollups/usage.ts';
import { gpuMsSql } from '../rules/gpu-hours.ts';
import { monthOf } from '../rules/time.ts';
import { keptOf, stampOf } from '../stamps.ts';

export interface ProjectTotal {
  project: string;
  partition: string;
  gpuS: number;
  energyWh: number;
}

const MONTHS_SQL = `SELECT account AS project, partition, TOTAL(alloc_gpu_s) AS gpuS, TOTAL(energy_wh) AS energyWh
  FROM usage_month_project WHERE month_ts >= ? AND month_ts < ? GROUP BY 1, 2`;

/** Per project and partition, sorted by project then partition. */
export function projectTotals(sqlite: Database, nowTs: number): ProjectTotal[] {
  const month = monthOf(nowTs);
  const ended = keptOf<ProjectTotal[]>(sqlite, 'project-totals', 2).getOr(String(month), stampOf(sqlite, 'usage', -Number.MAX_SAFE_INTEGER, month), () =>
    sqlite.prepare(MONTHS_SQL).all(-Number.MAX_SAFE_INTEGER, month) as ProjectTotal[],
  );
  const running = sqlite
    .prepare(
      `SELECT account AS project, COALESCE(partition, '${NO_PARTITION}') AS partition,
         TOTAL(${gpuMsSql({ gpus: 'gpus', startTs: 'start_ts', endTs: '@now', fromTs: 'start_ts' })}) / 1000.0 AS gpuS, 0 AS energyWh
       FROM jobs INDEXED BY jobs_end WHERE end_ts IS NULL AND start_ts IS NOT NULL GROUP BY 1, 2`,
    )
    .all({ now: nowTs }) as ProjectTotal[];
  const out = new Map<string, ProjectTotal>();
  for (const r of [...ended, ...(sqlite.prepare(MONTHS_SQL).all(month, Number.MAX_SAFE_INTEGER) as ProjectTotal[]), ...running]) {
    const key = `${r.project}\u0000${r.partition}`;
    const t = out.get(key);
    if (t) {
      t.gpuS += r.gpuS;
      t.energyWh += r.energyWh;
    } else out.set(key, { ...r });
  }
  return [...out.values()].sort((a, b) => a.project.localeCompare(b.project) || a.partition.localeCompare(b.partition));
}

/** Each source's newest stored sample: GPUs per node (`cluster/node`), meters per `site/meter`. */
export function newestSamples(sqlite: Database): Array<{ source: 'gpu' | 'facility'; node: string; ts: number }> {
  const gpus = sqlite
    .prepare("SELECT n.cluster || '/' || n.name AS node, MAX(c.ts) AS ts FROM gpu_cursor c JOIN gpus g ON g.id = c.gpu_id JOIN nodes n ON n.id = g.node_id GROUP BY 1 ORDER BY 1")
    .all() as Array<{ node: string; ts: number }>;
  const meters = sqlite.prepare("SELECT site || '/' || meter AS node, MAX(ts) AS ts FROM facility_cursor GROUP BY 1 ORDER BY 1").all() as Array<{ node: string; ts: number }>;
  return [...gpus.map((r) => ({ source: 'gpu' as const, ...r })), ...meters.map((r) => ({ source: 'facility' as const, ...r }))];
}
