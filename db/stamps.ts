/**
 * The store's one freshness rule. Every answer the store keeps in memory (a connection's
 * sums over months, stored-hour facts, inferred energy, wait runs, the writers' job lookups)
 * is kept with the change stamp of what it was built from, and used only while that stamp
 * is unchanged. Stamps live in change_stamp, per family and time bucket, as counts that only
 * grow; triggers on the tables each family is built from bump them in the same transaction
 * as the change (migration 0018), so a write through any path — ingest, `user forget`, an
 * allocation change, a command in another process — moves exactly the stamps of the
 * buckets it touched. A range's stamp is the sum of its buckets' counts: equal sums mean
 * no bucket in it changed.
 */
import type { Database, Statement } from 'better-sqlite3';

/**
 * The families (migration 0018 says which tables bump each one, and in which bucket);
 * 'writer' is bumped by the writers themselves, once a batch (db/store.ts).
 */
export type StampFamily = 'usage' | 'attribution' | 'energy' | 'waits' | 'owners' | 'writer';

const statements = new WeakMap<Database, { range: Statement; buckets: Statement }>();

function statementsOf(sqlite: Database) {
  let st = statements.get(sqlite);
  if (!st) {
    st = {
      range: sqlite.prepare('SELECT TOTAL(n) FROM change_stamp WHERE family = ? AND bucket_ts >= ? AND bucket_ts < ?').pluck(),
      buckets: sqlite.prepare('SELECT bucket_ts, n FROM change_stamp WHERE family = ? AND bucket_ts >= ? AND bucket_ts < ?').raw(),
    };
    statements.set(sqlite, st);
  }
  return st;
}

/** The stamp of `family` over buckets starting in [fromTs, toTs) (the whole family by default). */
export function stampOf(sqlite: Database, family: StampFamily, fromTs = -Number.MAX_SAFE_INTEGER, toTs = Number.MAX_SAFE_INTEGER): number {
  return statementsOf(sqlite).range.get(family, fromTs, toTs) as number;
}

/** Each bucket's count of `family` in [fromTs, toTs); a bucket never changed has none. */
export function bucketStamps(sqlite: Database, family: StampFamily, fromTs = -Number.MAX_SAFE_INTEGER, toTs = Number.MAX_SAFE_INTEGER): Map<number, number> {
  return new Map(statementsOf(sqlite).buckets.all(family, fromTs, toTs) as Array<[number, number]>);
}

/**
 * Answers kept per connection, each with the stamp it was built at; beyond `limit`, the
 * oldest-inserted go. `get` returns a kept answer only while its stamp is current.
 */
export class Kept<T> {
  private readonly entries = new Map<string, { stamp: number | string; value: T }>();

  constructor(private readonly limit: number) {}

  get(id: string, stamp: number | string): T | undefined {
    const hit = this.entries.get(id);
    return hit !== undefined && hit.stamp === stamp ? hit.value : undefined;
  }

  set(id: string, stamp: number | string, value: T): T {
    this.entries.delete(id);
    this.entries.set(id, { stamp, value });
    if (this.entries.size > this.limit) this.entries.delete(this.entries.keys().next().value!);
    return value;
  }

  /** The kept answer for `id` at `stamp`, or `build()`'s, kept. */
  getOr(id: string, stamp: number | string, build: () => T): T {
    return this.get(id, stamp) ?? this.set(id, stamp, build());
  }
}

/** Per-connection memory: one `Kept` per name, made on first use, gone with the connection. */
const memories = new WeakMap<Database, Map<string, Kept<unknown>>>();

/** This connection's `Kept` called `name` (created with `limit` on first use). */
export function keptOf<T>(sqlite: Database, name: string, limit: number): Kept<T> {
  let all = memories.get(sqlite);
  if (!all) memories.set(sqlite, (all = new Map()));
  let kept = all.get(name);
  if (!kept) all.set(name, (kept = new Kept<unknown>(limit)));
  return kept as Kept<T>;
}
