/**
 * The storage layer's entry point. `createStore` takes an open connection (db/client.ts)
 * and returns the writers and the compactor over it; the read side is db/queries, plain
 * functions over the same connection. Everything the store keeps in memory per connection
 * (the writers' lookups and cursors, the read side's kept answers) follows one freshness
 * rule (db/stamps.ts), so a write from any path or process is seen by every kept answer.
 * Nothing here imports from server/ or collectors/ (test/integration/layers.test.ts).
 */
import type { Database } from 'better-sqlite3';
import { attributionMissing, rebuildAttribution, refreshAttribution } from './rollups/attribution.ts';
import { facilityRollupsMissing, rebuildFacilityRollups } from './rollups/facility.ts';
import { UsageRollup, rebuildUsageRollups, usageRollupsStale } from './rollups/usage.ts';
import { compactWaitRollup, rebuildWaitRollup, waitRollupMissing, warmWaitRollup } from './rollups/waits.ts';
import { stampOf } from './stamps.ts';
import type { IngestSettings } from './writers/context.ts';
import { FacilityIngestor } from './writers/facility.ts';
import { GpuIngestor } from './writers/gpu.ts';
import { JobsIngestor } from './writers/jobs.ts';
import type { FacilityBatchIn, GpuBatchIn, JobsBatchIn } from './writers/records.ts';

/** One batch for the writers; `times`: the parsed time of each GPU sample, when the caller has them. */
export type StoreBatch =
  | { kind: 'gpu'; batch: GpuBatchIn; times?: number[] | undefined }
  | { kind: 'jobs'; batch: JobsBatchIn }
  | { kind: 'facility'; batch: FacilityBatchIn };

export interface Store {
  sqlite: Database;
  /**
   * Stores one batch with its rollup deltas. Call inside a write transaction (the caller
   * owns it, to group batches in savepoints); after a rollback, call `rolledBack`.
   */
  write(batch: StoreBatch, nowMs: number): { accepted: number; duplicates: number };
  /** Forgets what the writers hold in memory: a rolled-back transaction may have put it there. */
  rolledBack(): void;
  /**
   * Rollup upkeep, in its own short transactions: recomputes the attribution hours whose
   * inputs changed and that are complete at `nowTs`, and stores the ended wait spans whose
   * stored runs are stale. Reads are right without it (they compute such hours live); it
   * keeps them fast. Run after ingest commits and on a timer, never inside a read.
   */
  compact(nowTs: number): { hours: number; waitSpans: number };
  /**
   * Loads stored rollup pieces a long window reads (the wait runs of the last 13 months)
   * into this connection's memory; reads only. A server calls it once at start, after
   * `compact`, so that the first year's window after a restart does not read them itself.
   */
  warm(nowTs: number): { waitSpans: number };
}

/** The writers' caches are current while the 'writer' stamp is the one they last left. */
const BUMP_WRITER = "INSERT INTO change_stamp (family, bucket_ts, n) VALUES ('writer', 0, 1) ON CONFLICT (family, bucket_ts) DO UPDATE SET n = n + 1";

/** The store over `sqlite` (opened and migrated by db/client.ts `openDatabase`). */
export function createStore(sqlite: Database, settings: IngestSettings): Store {
  const ctx = { sqlite, config: settings };
  // One rollup for both: a job record's arrival must reach the GPU side's lookups.
  const usage = new UsageRollup(sqlite);
  const gpu = new GpuIngestor(ctx, usage);
  const jobs = new JobsIngestor(ctx, usage);
  const facility = new FacilityIngestor(ctx);
  const bump = sqlite.prepare(BUMP_WRITER);
  let writerStamp = -1;

  const forget = () => {
    gpu.resetCaches();
    jobs.resetCaches();
    facility.resetCaches();
    usage.reset();
    writerStamp = -1;
  };

  return {
    sqlite,
    write(input, nowMs) {
      // Another connection (another process) wrote samples or records since this one last
      // did: its node ids, GPU ids and cursors may be behind.
      if (stampOf(sqlite, 'writer') !== writerStamp) forget();
      usage.begin();
      let result: { accepted: number; duplicates: number };
      if (input.kind === 'gpu') result = gpu.ingest(input.batch, nowMs, input.times);
      else if (input.kind === 'jobs') result = jobs.ingest(input.batch, nowMs);
      else result = facility.ingest(input.batch);
      usage.flush();
      bump.run();
      writerStamp = stampOf(sqlite, 'writer');
      return result;
    },
    rolledBack: forget,
    compact(nowTs) {
      const hours = refreshAttribution(sqlite, nowTs);
      const waitSpans = compactWaitRollup(sqlite, nowTs);
      return { hours, waitSpans };
    },
    warm(nowTs) {
      return { waitSpans: warmWaitRollup(sqlite, nowTs) };
    },
  };
}

/**
 * The rebuilds a migration asks for (a rollup table added or redefined), each once, with a
 * progress line before and after; on an up-to-date database each is one lookup.
 * db/client.ts runs them when it opens a database.
 */
export function rebuildWhereMigrationsAsk(sqlite: Database, log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): void {
  const steps: Array<[string, () => boolean, () => unknown]> = [
    ['usage rollups', () => usageRollupsStale(sqlite), () => rebuildUsageRollups(sqlite)],
    ['facility rollups', () => facilityRollupsMissing(sqlite), () => rebuildFacilityRollups(sqlite)],
    ['wait rollup', () => waitRollupMissing(sqlite), () => rebuildWaitRollup(sqlite, Date.now())],
    // After the facility rollups: attribution shares out their hours.
    ['attribution rollups', () => attributionMissing(sqlite), () => rebuildAttribution(sqlite, Date.now())],
  ];
  for (const [name, needed, rebuild] of steps) {
    if (!needed()) continue;
    log(`heatledger: rebuilding the ${name} from the stored records (once, after a migration) ...`);
    const started = performance.now();
    rebuild();
    log(`heatledger: rebuilt the ${name} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
}
