/**
 * The cooling loops as the facility sees them: per meter (a CDU's connector, a heat meter
 * with flow and temperatures) and bucket, the time-weighted mean flow and supply/return
 * temperatures, the heat the meter reports, and the heat that flow × ΔT carries
 * (Q = ρ · V̇ · c_p · ΔT with the water's properties at the loop's mean temperature,
 * db/rules/heat.ts).
 *
 * The heat check compares the two: a reported heat more than 10 % away from flow × ΔT is
 * flagged (DESIGN.md), the same limit the collector warns at. Means are of each level
 * over its own covered time, so flow × ΔT is computed from mean flow and mean ΔT; where
 * flow and ΔT swing together within a bucket this differs from the mean of their product
 * (by their covariance), which is why the 5-minute buckets are the ones to check a meter by.
 */
import type { Database } from 'better-sqlite3';
import { checkReportedHeat, heatFromFlowW } from '../../db/rules/heat.ts';
import { coolingLoopBuckets, type LoopBucket, type LoopQuantity, type LoopSums } from '../../db/queries/cooling-loop.ts';
import type { Visibility } from '../auth/middleware.ts';
import { DomainError } from '../errors.ts';
import { DAY_MS, HOUR_MS, INTERVAL_MS } from '../../db/rules/time.ts';

export type CoolingBucket = '5m' | 'hour' | 'day';
const bucketMs: Record<CoolingBucket, number> = { '5m': INTERVAL_MS, hour: HOUR_MS, day: DAY_MS };

export interface HeatCheck {
  /** Which reported heat was checked: the heat removed, else the heat delivered. */
  quantity: 'heatRemovedW' | 'heatReusedW';
  reportedKW: number;
  computedKW: number;
  /** (reported − computed) / computed in %; null when flow × ΔT is zero. */
  disagreementPct: number | null;
  /** |reported − computed| > 10 % of computed (or heat reported with no flow × ΔT at all). */
  flagged: boolean;
}

export interface LoopFigures {
  flowLpm: number | null;
  supplyTempC: number | null;
  returnTempC: number | null;
  heatRemovedKWh: number | null;
  /** Mean power over the covered part of the bucket. */
  heatRemovedKW: number | null;
  heatReusedKWh: number | null;
  heatReusedKW: number | null;
  /** Heat that the mean flow carries across the mean ΔT. */
  computedHeatKW: number | null;
  heatCheck: HeatCheck | null;
  /** Covered share of the bucket, 0-1, per quantity. */
  coverage: { flow: number; supplyTemp: number; returnTemp: number; heat: number };
}

const mean = (s: LoopSums | undefined) => (s && s.coveredS > 0 ? s.valueS / s.coveredS : null);
const energyKWh = (s: LoopSums | undefined) => (s ? s.integralWh / 1000 : null);
// Wh over covered hours is W; over 1000 is kW.
const meanKW = (s: LoopSums | undefined) => (s && s.coveredS > 0 ? (s.integralWh * 3.6) / s.coveredS : null);

/** The figures of one meter over a span of `spanS` seconds from its summed intervals. */
export function loopFigures(sums: Partial<Record<LoopQuantity, LoopSums>>, spanS: number): LoopFigures {
  const flowLpm = mean(sums.flowLpm);
  const supplyTempC = mean(sums.supplyTempC);
  const returnTempC = mean(sums.returnTempC);
  const heatRemovedKW = meanKW(sums.heatRemovedW);
  const heatReusedKW = meanKW(sums.heatReusedW);
  let computedHeatKW: number | null = null;
  let heatCheck: HeatCheck | null = null;
  if (flowLpm !== null && supplyTempC !== null && returnTempC !== null) {
    const loop = { flowLpm, supplyTempC, returnTempC };
    try {
      computedHeatKW = heatFromFlowW(loop) / 1000;
      const quantity = heatRemovedKW !== null ? 'heatRemovedW' : heatReusedKW !== null ? 'heatReusedW' : null;
      const reportedKW = quantity === 'heatRemovedW' ? heatRemovedKW : heatReusedKW;
      if (quantity && reportedKW !== null) {
        const check = checkReportedHeat(reportedKW * 1000, loop);
        heatCheck = {
          quantity,
          reportedKW,
          computedKW: computedHeatKW,
          disagreementPct: computedHeatKW === 0 ? null : ((reportedKW - computedHeatKW) / computedHeatKW) * 100,
          flagged: check.suspect,
        };
      }
    } catch {
      // A mean temperature outside liquid water is a sensor fault; no confident heat from it.
      computedHeatKW = null;
    }
  }
  const cov = (s: LoopSums | undefined) => (s && spanS > 0 ? Math.min(1, s.coveredS / spanS) : 0);
  return {
    flowLpm,
    supplyTempC,
    returnTempC,
    heatRemovedKWh: energyKWh(sums.heatRemovedW),
    heatRemovedKW,
    heatReusedKWh: energyKWh(sums.heatReusedW),
    heatReusedKW,
    computedHeatKW,
    heatCheck,
    coverage: { flow: cov(sums.flowLpm), supplyTemp: cov(sums.supplyTempC), returnTemp: cov(sums.returnTempC), heat: cov(sums.heatRemovedW ?? sums.heatReusedW) },
  };
}

function addSums(into: Partial<Record<LoopQuantity, LoopSums>>, from: Partial<Record<LoopQuantity, LoopSums>>) {
  for (const [q, s] of Object.entries(from) as Array<[LoopQuantity, LoopSums]>) {
    const acc = into[q] ?? { integralWh: 0, valueS: 0, coveredS: 0 };
    into[q] = { integralWh: acc.integralWh + s.integralWh, valueS: acc.valueS + s.valueS, coveredS: acc.coveredS + s.coveredS };
  }
}

/** Cooling loops over a window: per meter the window's figures and a series per bucket. */
export function getCooling({ sqlite }: { sqlite: Database }, window: { fromTs: number; toTs: number }, bucket: CoolingBucket, vis: Visibility) {
  if (vis.role === 'researcher' || vis.role === 'pi') throw new DomainError('FORBIDDEN', 'cooling-loop figures are for the facility, the committee and admins');
  const ms = bucketMs[bucket];
  const byMeter = new Map<string, LoopBucket[]>();
  for (const b of coolingLoopBuckets(sqlite, window.fromTs, window.toTs, ms)) {
    const list = byMeter.get(b.meter);
    if (list) list.push(b);
    else byMeter.set(b.meter, [b]);
  }
  const spanOf = (ts: number) => (Math.min(ts + ms, window.toTs) - Math.max(ts, window.fromTs)) / 1000;
  const meters = [...byMeter].map(([meter, buckets]) => {
    const total: Partial<Record<LoopQuantity, LoopSums>> = {};
    for (const b of buckets) addSums(total, b.sums);
    return {
      meter,
      ...loopFigures(total, (window.toTs - window.fromTs) / 1000),
      series: buckets.map((b) => ({ ts: new Date(b.ts).toISOString(), ...loopFigures(b.sums, spanOf(b.ts)) })),
    };
  });
  return {
    from: new Date(window.fromTs).toISOString(),
    to: new Date(window.toTs).toISOString(),
    bucket,
    meters,
    flaggedMeters: meters.filter((m) => m.heatCheck?.flagged).map((m) => m.meter),
  };
}
