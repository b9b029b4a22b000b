/**
 * Facility reading ingest: raw readings plus their 5-minute integrals per meter
 * (CONTRACTS §2.3). Late readings re-split the segment they fall into, exactly as GPU
 * samples do, so the intervals equal an in-order arrival. The hours and days a batch
 * touched are then recomputed in the facility rollups (facility-rollup.service.ts).
 */
import type { Statement } from 'better-sqlite3';
import { FacilityRollup, ensureFacilityRollups } from '../rollups/facility.ts';
import type { IngestContext } from './context.ts';
import type { FacilityBatchIn, FacilityQuantity } from './records.ts';
import { HOUR_MS, INTERVAL_MS, splitLinear } from '../rules/integrate.ts';

export type QuantityKind = 'power' | 'counter' | 'level';

/** How each quantity is folded into intervals. */
export const quantityKind: Record<FacilityQuantity, QuantityKind> = {
  itPowerW: 'power',
  facilityPowerW: 'power',
  coolingPowerW: 'power',
  heatRemovedW: 'power',
  heatReusedW: 'power',
  supplyTempC: 'level',
  returnTempC: 'level',
  flowLpm: 'level',
  gridCo2GPerKWh: 'level',
  waterL: 'counter',
  itEnergyKWh: 'counter',
  facilityEnergyKWh: 'counter',
  heatReusedKWh: 'counter',
};

interface Point {
  ts: number;
  value: number;
}

interface Delta {
  integralWh: number;
  increase: number;
  valueS: number;
  coveredS: number;
}

/** What the segment between two readings adds to each 5-minute interval. */
export function facilitySegment(kind: QuantityKind, p: Point, n: Point, maxGapMs: number): Array<Delta & { intervalTs: number }> {
  const dt = n.ts - p.ts;
  if (dt <= 0) return [];
  if (kind === 'counter') {
    // A counter bridges any gap: its rise is known even if not when it happened.
    const rise = n.value >= p.value ? n.value - p.value : 0;
    return splitLinear(p.ts, 1, n.ts, 1, INTERVAL_MS).map((piece) => {
      const share = (piece.endMs - piece.startMs) / dt;
      return { intervalTs: piece.bucketTs, integralWh: 0, increase: rise * share, valueS: 0, coveredS: (piece.endMs - piece.startMs) / 1000 };
    });
  }
  if (dt > maxGapMs) return [];
  return splitLinear(p.ts, p.value, n.ts, n.value, INTERVAL_MS).map((piece) => ({
    intervalTs: piece.bucketTs,
    integralWh: kind === 'power' ? piece.integral / HOUR_MS : 0,
    increase: 0,
    valueS: kind === 'level' ? piece.integral / 1000 : 0,
    coveredS: (piece.endMs - piece.startMs) / 1000,
  }));
}

/** Prepared statements and caches for facility ingest. */
export class FacilityIngestor {
  private readonly st: Record<string, Statement>;
  private readonly cursors = new Map<string, Point | null>();
  private readonly rollup: FacilityRollup;

  constructor(private readonly ctx: IngestContext) {
    const db = ctx.sqlite;
    // A database from before the rollups gets them filled when its server starts.
    ensureFacilityRollups(db);
    this.rollup = new FacilityRollup(db);
    this.st = {
      ins: db.prepare('INSERT OR IGNORE INTO facility_readings (ts, site, meter, quantity, value) VALUES (?, ?, ?, ?, ?)'),
      // The heat-pump setting comes from configuration (HEATLEDGER_HEAT_PUMP_ON_SITE) and is
      // written on every batch, so a changed setting reaches the site row with the next reading.
      siteIns: db.prepare(
        `INSERT INTO sites (id, name, heat_pump_on_site) VALUES (?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET heat_pump_on_site = excluded.heat_pump_on_site`,
      ),
      cursorGet: db.prepare('SELECT ts, value FROM facility_cursor WHERE site = ? AND meter = ? AND quantity = ?'),
      cursorPut: db.prepare(
        `INSERT INTO facility_cursor (site, meter, quantity, ts, value) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (site, meter, quantity) DO UPDATE SET ts = excluded.ts, value = excluded.value`,
      ),
      prev: db.prepare(
        'SELECT ts, value FROM facility_readings WHERE site = ? AND meter = ? AND quantity = ? AND ts < ? ORDER BY ts DESC LIMIT 1',
      ),
      next: db.prepare(
        'SELECT ts, value FROM facility_readings WHERE site = ? AND meter = ? AND quantity = ? AND ts > ? ORDER BY ts ASC LIMIT 1',
      ),
      add: db.prepare(
        `INSERT INTO facility_interval (interval_ts, site, quantity, meter, integral_wh, increase, value_s, covered_s)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (interval_ts, site, quantity, meter) DO UPDATE SET integral_wh = integral_wh + excluded.integral_wh,
           increase = increase + excluded.increase, value_s = value_s + excluded.value_s, covered_s = covered_s + excluded.covered_s`,
      ),
    };
  }

  /** Stores one validated batch; must run inside a transaction. */
  ingest(batch: FacilityBatchIn): { accepted: number; duplicates: number } {
    this.st.siteIns.run(batch.site, batch.site, this.ctx.config.heatPumpOnSite ? 1 : 0);
    const maxGapMs = this.ctx.config.maxGapS * 1000;
    const deltas = new Map<string, Delta>();
    const touched = new Set<string>();
    let accepted = 0;
    let duplicates = 0;

    const readings = batch.readings
      .map((r) => ({ ...r, tsMs: Date.parse(r.ts) }))
      .sort((a, b) => (a.meter < b.meter ? -1 : a.meter > b.meter ? 1 : 0) || (a.quantity < b.quantity ? -1 : a.quantity > b.quantity ? 1 : 0) || a.tsMs - b.tsMs);

    for (const r of readings) {
      if (this.st.ins.run(r.tsMs, batch.site, r.meter, r.quantity, r.value).changes === 0) {
        duplicates++;
        continue;
      }
      accepted++;
      const kind = quantityKind[r.quantity];
      const point = { ts: r.tsMs, value: r.value };
      const add = (p: Point, n: Point, sign: 1 | -1) => {
        for (const d of facilitySegment(kind, p, n, maxGapMs)) {
          const key = `${d.intervalTs}|${r.quantity}|${r.meter}`;
          const acc = deltas.get(key) ?? { integralWh: 0, increase: 0, valueS: 0, coveredS: 0 };
          acc.integralWh += sign * d.integralWh;
          acc.increase += sign * d.increase;
          acc.valueS += sign * d.valueS;
          acc.coveredS += sign * d.coveredS;
          deltas.set(key, acc);
        }
      };
      const seriesKey = `${batch.site}\u0000${r.meter}\u0000${r.quantity}`;
      const cursor = this.cursor(seriesKey, batch.site, r.meter, r.quantity);
      if (!cursor || point.ts > cursor.ts) {
        if (cursor) add(cursor, point, 1);
        this.cursors.set(seriesKey, point);
        touched.add(seriesKey);
        continue;
      }
      const prev = this.st.prev.get(batch.site, r.meter, r.quantity, point.ts) as Point | undefined;
      const next = this.st.next.get(batch.site, r.meter, r.quantity, point.ts) as Point | undefined;
      if (prev && next) add(prev, next, -1);
      if (prev) add(prev, point, 1);
      if (next) add(point, next, 1);
    }

    const intervals = new Set<number>();
    for (const [key, d] of deltas) {
      const [interval, quantity, ...meter] = key.split('|');
      this.st.add.run(Number(interval), batch.site, quantity, meter.join('|'), d.integralWh, d.increase, d.valueS, d.coveredS);
      intervals.add(Number(interval));
    }
    this.rollup.refresh(intervals);
    for (const key of touched) {
      const [site, meter, quantity] = key.split('\u0000');
      const c = this.cursors.get(key)!;
      this.st.cursorPut.run(site, meter, quantity, c.ts, c.value);
    }
    return { accepted, duplicates };
  }

  /** Forgets cached state after a rolled-back transaction. */
  resetCaches(): void {
    this.cursors.clear();
  }

  private cursor(key: string, site: string, meter: string, quantity: string): Point | null {
    if (!this.cursors.has(key)) this.cursors.set(key, (this.st.cursorGet.get(site, meter, quantity) as Point | undefined) ?? null);
    return this.cursors.get(key) ?? null;
  }
}
