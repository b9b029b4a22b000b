/**
 * Maintenance of the per-project-day rollup (project_day): rebuilds the days of a window
 * from the job records, for after a restore, a schema change or a bug fix. Job ingest keeps
 * the rollup current incrementally (jobs-ingest.service.ts); a rebuild gives the same
 * figures from scratch, with the same day split (`gpuSecondsByDay`).
 */
import type { Database } from 'better-sqlite3';
import { DAY_MS, bucketOf } from './integrate.ts';
import { gpuSecondsByDay } from './jobs-ingest.service.ts';

/** Replaces project_day rows of the UTC days in [fromTs, toTs) (rounded out to whole days); returns the rows written. */
export function rebuildProjectDay(sqlite: Database, fromTs: number, toTs: number): { rows: number; jobs: number } {
  const fromDay = bucketOf(fromTs, DAY_MS);
  const toDay = bucketOf(toTs - 1, DAY_MS) + DAY_MS;
  return sqlite.transaction(() => {
    sqlite.prepare('DELETE FROM project_day WHERE day_ts >= ? AND day_ts < ?').run(fromDay, toDay);
    const acc = new Map<string, { dayTs: number; cluster: string; account: string; gpuS: number; ended: number }>();
    const cell = (dayTs: number, cluster: string, account: string) => {
      const key = `${dayTs}\u0000${cluster}\u0000${account}`;
      let c = acc.get(key);
      if (!c) acc.set(key, (c = { dayTs, cluster, account, gpuS: 0, ended: 0 }));
      return c;
    };
    let jobs = 0;
    const rows = sqlite
      .prepare(
        `SELECT cluster, account, start_ts AS startTs, end_ts AS endTs, gpus FROM jobs
         WHERE end_ts IS NOT NULL AND start_ts IS NOT NULL AND end_ts >= start_ts AND end_ts >= ? AND start_ts < ?`,
      )
      .iterate(fromDay, toDay) as IterableIterator<{ cluster: string; account: string; startTs: number; endTs: number; gpus: number }>;
    for (const j of rows) {
      jobs++;
      for (const [dayTs, gpuS] of gpuSecondsByDay(j.startTs, j.endTs, j.gpus)) {
        if (dayTs >= fromDay && dayTs < toDay) cell(dayTs, j.cluster, j.account).gpuS += gpuS;
      }
      const endDay = bucketOf(j.endTs, DAY_MS);
      if (endDay >= fromDay && endDay < toDay) cell(endDay, j.cluster, j.account).ended++;
    }
    const ins = sqlite.prepare('INSERT INTO project_day (day_ts, cluster, account, gpu_s, jobs_ended) VALUES (?, ?, ?, ?, ?)');
    for (const c of acc.values()) ins.run(c.dayTs, c.cluster, c.account, c.gpuS, c.ended);
    return { rows: acc.size, jobs };
  })();
}
