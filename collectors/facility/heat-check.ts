/**
 * Cross-checks each meter's reported heat against its own flow and temperatures
 * (DESIGN.md: heat from a water loop). The collector only warns; the server flags.
 */
import type { FacilityReading } from '../shared/wire.ts';
import { checkReportedHeat, type HeatCheck } from '../../db/rules/heat.ts';

export interface HeatDisagreement extends HeatCheck {
  meter: string;
  ts: string;
  quantity: 'heatRemovedW' | 'heatReusedW';
  flowLpm: number;
  deltaK: number;
}

/** Meters whose reported heat differs from flow × ΔT by more than 10 % at the same instant. */
export function findHeatDisagreements(readings: readonly FacilityReading[]): HeatDisagreement[] {
  const groups = new Map<string, Map<string, number>>();
  for (const r of readings) {
    const key = `${r.meter}\u0000${r.ts}`;
    let group = groups.get(key);
    if (!group) groups.set(key, (group = new Map()));
    group.set(r.quantity, r.value);
  }
  const found: HeatDisagreement[] = [];
  for (const [key, group] of groups) {
    const [meter, ts] = key.split('\u0000');
    const flowLpm = group.get('flowLpm');
    const supplyTempC = group.get('supplyTempC');
    const returnTempC = group.get('returnTempC');
    if (flowLpm === undefined || supplyTempC === undefined || returnTempC === undefined) continue;
    for (const quantity of ['heatRemovedW', 'heatReusedW'] as const) {
      const reportedW = group.get(quantity);
      if (reportedW === undefined) continue;
      let check: HeatCheck;
      try {
        check = checkReportedHeat(reportedW, { flowLpm, supplyTempC, returnTempC });
      } catch {
        continue; // a temperature that is not liquid water: nothing to compare with
      }
      if (check.suspect) found.push({ ...check, meter, ts, quantity, flowLpm, deltaK: Math.abs(returnTempC - supplyTempC) });
    }
  }
  return found;
}

/** One warning line for a disagreement, naming the meter and both figures. */
export function describeDisagreement(d: HeatDisagreement): string {
  const pct = Number.isFinite(d.disagreement) ? `${(d.disagreement * 100).toFixed(1)} %` : 'no flow × ΔT at all';
  return (
    `warning: meter ${d.meter} reports ${d.quantity} ${Math.round(d.reportedW)} W at ${d.ts}, ` +
    `but ${d.flowLpm} L/min × ${d.deltaK.toFixed(1)} K of water carries ${Math.round(d.computedW)} W (${pct} apart)`
  );
}
