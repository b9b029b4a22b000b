/**
 * Inferred GPU energy: when a node's samples name no job (processes hidden in containers,
 * or a collector without permission to read /proc), the scheduler still knows which jobs
 * held GPUs on that node. Per node and hour where a GPU named no job while busy (the sign
 * of hidden processes; an idle unnamed GPU alone is nobody's), the energy of the GPU time that named no job
 * goes to the jobs that held GPUs there and were never seen on some of them: a job's
 * "missing" GPU-seconds are (its GPUs on the node − the GPUs its own samples named) × its
 * overlap with the hour. GPUs named are counted, not sampled seconds, so the moments before
 * a job's first sample and after its last never pull in a neighbour's idle energy. The jobs get the
 * unlabelled energy in proportion to their missing GPU-seconds, and at most the share that
 * their missing time is of the unlabelled time; the rest stays unattributed. Computed at
 * read time, so job records that arrive after the samples still count.
 */
import type { Database } from 'better-sqlite3';
import { maxJobDurationMs } from '../rollups/usage.ts';
import { DAY_MS, HOUR_MS } from '../rules/time.ts';
import { keptOf, stampOf } from '../stamps.ts';

export interface InferredEnergy {
  hourTs: number;
  cluster: string;
  jobId: string;
  energyKWh: number;
}

/**
 * Inferred energy per job and hour over [fromTs, toTs) (whole hours starting in the window).
 * Answers are kept per connection while the 'energy' change stamp of the window's days is
 * unchanged (db/stamps.ts): every input of an hour's inference — its GPU-hours, a job record
 * over it, a GPU moved between nodes — marks the hour (migration 0009) and so bumps it. One
 * request (a review pack) asks for the same window several times.
 */
export function inferredEnergy(sqlite: Database, fromTs: number, toTs: number, nowTs: number): InferredEnergy[] {
  const stamp = stampOf(sqlite, 'energy', fromTs - DAY_MS, toTs);
  return keptOf<InferredEnergy[]>(sqlite, 'inferredEnergy', 16).getOr(`${fromTs}|${toTs}|${nowTs}`, stamp, () => inferredEnergyNow(sqlite, fromTs, toTs, nowTs));
}

function inferredEnergyNow(sqlite: Database, fromTs: number, toTs: number, nowTs: number): InferredEnergy[] {
  // Only node-hours where a GPU named no job while it was busy (or its utilisation was
  // unknown): processes were evidently hidden there. Elsewhere unnamed GPUs were idle and
  // nobody's; the partial index keeps this a short search even over a year.
  const unlabelled = sqlite
    .prepare(
      `WITH flagged AS (
         SELECT DISTINCT g.hour_ts, gpus.node_id FROM gpu_hour g INDEXED BY gpu_hour_busy_unnamed JOIN gpus ON gpus.id = g.gpu_id
         WHERE g.hour_ts >= ? AND g.hour_ts < ? AND g.no_job_busy_s > 0)
       SELECT f.hour_ts AS hourTs, n.cluster, n.name AS node, SUM(g.no_job_wh) AS wh, SUM(g.covered_s - g.job_s) AS s
       -- In this order (CROSS JOIN): each flagged node's GPUs, then their hour rows by key,
       -- rather than every GPU's row of the hour.
       FROM flagged f JOIN nodes n ON n.id = f.node_id CROSS JOIN gpus INDEXED BY gpus_node CROSS JOIN gpu_hour g
       WHERE gpus.node_id = f.node_id AND g.hour_ts = f.hour_ts AND g.gpu_id = gpus.id AND g.no_job_wh > 0
       GROUP BY 1, 2, 3`,
    )
    .all(fromTs, toTs) as Array<{ hourTs: number; cluster: string; node: string; wh: number; s: number }>;
  if (unlabelled.length === 0) return [];

  // Only jobs overlapping an hour that has unlabelled energy can claim any. Such hours are
  // few and far apart (those with raw samples), so the jobs are searched per run of
  // consecutive hours: ended inside the run or within the longest job after it (end-time
  // index), or still running.
  const hours = [...new Set(unlabelled.map((u) => u.hourTs))].sort((x, y) => x - y);
  const runs: Array<[number, number]> = [];
  for (const h of hours) {
    const last = runs[runs.length - 1];
    if (last && last[1] === h) last[1] = h + HOUR_MS;
    else runs.push([h, h + HOUR_MS]);
  }
  const columns = 'cluster, job_id AS jobId, gpus, nodes, start_ts AS startTs';
  const alive = "gpus > 0 AND start_ts IS NOT NULL AND start_ts < @before AND nodes != '[]'";
  const search = sqlite.prepare(
    `SELECT ${columns}, end_ts AS endTs FROM jobs INDEXED BY jobs_end WHERE end_ts > @after AND end_ts <= @before + @maxDur AND ${alive}
     UNION ALL
     SELECT ${columns}, @now AS endTs FROM jobs INDEXED BY jobs_end WHERE end_ts IS NULL AND @now > @after AND ${alive}`,
  );
  const maxDur = maxJobDurationMs(sqlite);
  const found = new Map<string, { cluster: string; jobId: string; gpus: number; nodes: string; startTs: number; endTs: number }>();
  for (const [a, b] of runs) {
    const rows = search.all({ now: nowTs, before: Math.min(toTs, b), after: Math.max(fromTs, a), maxDur }) as Array<{ cluster: string; jobId: string; gpus: number; nodes: string; startTs: number; endTs: number }>;
    for (const j of rows) found.set(`${j.cluster}\u0000${j.jobId}`, j);
  }
  const jobs = found.values();
  const byNode = new Map<string, Array<{ jobId: string; perNodeGpus: number; nodeCount: number; startTs: number; endTs: number }>>();
  for (const j of jobs) {
    const names = JSON.parse(j.nodes) as string[];
    for (const name of names) {
      const key = `${j.cluster}\u0000${name}`;
      const list = byNode.get(key) ?? [];
      list.push({ jobId: j.jobId, perNodeGpus: j.gpus / names.length, nodeCount: names.length, startTs: j.startTs, endTs: j.endTs });
      byNode.set(key, list);
    }
  }
  const labelledStmt = sqlite.prepare('SELECT gpu_s AS s FROM job_hour WHERE hour_ts = ? AND cluster = ? AND job_id = ?');

  const out: InferredEnergy[] = [];
  for (const u of unlabelled) {
    const candidates = byNode.get(`${u.cluster}\u0000${u.node}`) ?? [];
    const missing: Array<{ jobId: string; s: number }> = [];
    for (const j of candidates) {
      const overlapS = (Math.min(j.endTs, u.hourTs + HOUR_MS) - Math.max(j.startTs, u.hourTs)) / 1000;
      if (overlapS <= 0) continue;
      const labelledS = ((labelledStmt.get(u.hourTs, u.cluster, j.jobId) as { s: number } | undefined)?.s ?? 0) / j.nodeCount;
      const seenGpus = labelledS > 0 ? Math.max(1, Math.round(labelledS / overlapS)) : 0;
      const s = Math.max(0, j.perNodeGpus - seenGpus) * overlapS;
      if (s > 1e-6) missing.push({ jobId: j.jobId, s });
    }
    const totalMissing = missing.reduce((sum, m) => sum + m.s, 0);
    if (totalMissing <= 0 || u.s <= 0) continue;
    const claimable = (u.wh / 1000) * Math.min(1, totalMissing / u.s);
    for (const m of missing) out.push({ hourTs: u.hourTs, cluster: u.cluster, jobId: m.jobId, energyKWh: (claimable * m.s) / totalMissing });
  }
  return out;
}
