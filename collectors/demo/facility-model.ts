/**
 * The demo's building: IT load from the simulated GPUs, a direct-liquid-cooling loop whose
 * heat a site-owned heat pump lifts into district heating, dry coolers for the rest,
 * distribution losses, and the DK1 grid's carbon intensity with a daily cycle.
 *
 * Physics kept consistent so the KPIs are checkable: heat removed = ρ · V̇ · c_p · (return −
 * supply) with the water's properties at the loop's mean temperature (db/rules/heat.ts, the
 * rule the server checks reported heat by; about 69.2 W per L/min per K); a heat pump with
 * COP c delivers Q_in·c/(c−1) for Q_in taken from the loop and draws Q_in/(c−1) of electricity.
 */
import { wattsPerLpmPerK } from '../../db/rules/heat.ts';
import { DAY_MS, HOUR_MS } from '../../db/rules/time.ts';
import type { FacilityReading } from '../shared/wire.ts';
import { hashUnit } from './random.ts';

const SITE_OPENED_TS = Date.UTC(2026, 0, 1);

export interface FacilityModelInput {
  ts: number;
  gpuPowerW: number;
  nodes: number;
}

/** The building's readings at one instant. */
export class FacilityModel {
  readonly flowLpm = 135;
  readonly supplyTempC = 32;
  readonly heatPumpCop = 3.8;

  /** The demo grid's CO2 forecast (g/kWh) per 5 minutes over [fromTs, fromTs + hours): what its intensity will be, less the minute-to-minute noise. */
  co2Forecast(fromTs: number, hours: number): Array<{ ts: string; gPerKWh: number }> {
    const step = 5 * 60_000;
    const first = Math.floor(fromTs / step) * step;
    return Array.from({ length: (hours * HOUR_MS) / step }, (_, i) => ({ ts: new Date(first + i * step).toISOString(), gPerKWh: Math.round(Math.max(30, co2Expected(first + i * step)) * 100) / 100 }));
  }

  /** Readings for one tick. */
  readings({ ts, gpuPowerW, nodes }: FacilityModelInput): FacilityReading[] {
    const hour = (ts / HOUR_MS + 1) % 24;
    const day = Math.floor(ts / DAY_MS);
    const outdoorC = 4 + 4 * Math.sin(((hour - 9) / 24) * 2 * Math.PI) + (hashUnit(day, 11) - 0.5) * 6;

    const itPowerW = gpuPowerW + nodes * 420 + 6000;
    const liquidHeatW = itPowerW * 0.86;
    const airHeatW = itPowerW - liquidHeatW;

    // District heating wants more on cold nights; the heat pump takes what is wanted.
    const demandShare = Math.min(1, Math.max(0.35, 0.75 + (6 - outdoorC) * 0.04 + 0.1 * Math.cos(((hour - 3) / 24) * 2 * Math.PI)));
    const heatFromLoopW = liquidHeatW * demandShare;
    const heatPumpW = heatFromLoopW / (this.heatPumpCop - 1);
    const heatReusedW = heatFromLoopW + heatPumpW;

    const pumpsW = itPowerW * 0.012;
    const dryCoolerW = (liquidHeatW - heatFromLoopW) * (0.02 + Math.max(0, outdoorC - 5) * 0.002);
    const crahW = airHeatW / 5.5;
    const coolingPowerW = pumpsW + dryCoolerW + crahW;
    const lossesW = itPowerW * 0.035 + 3000;
    const facilityPowerW = itPowerW + coolingPowerW + heatPumpW + lossesW;

    const flowLpm = this.flowLpm * (1 + (hashUnit(ts, 21) - 0.5) * 0.01);
    // The ΔT at which the flow carries the liquid heat; the water's properties depend on the mean
    // temperature and so on ΔT, and a second round settles it far below the 0.01 K readings keep.
    const firstK = liquidHeatW / (wattsPerLpmPerK(this.supplyTempC) * flowLpm);
    const deltaK = liquidHeatW / (wattsPerLpmPerK(this.supplyTempC + firstK / 2) * flowLpm);

    // Make-up water for the closed loop: a steady 4 L/h, as a meter counting since the site opened.
    const waterL = ((ts - SITE_OPENED_TS) / HOUR_MS) * 4;

    // DK1: cleaner on windy days and at night, dirtier at the evening peak.
    const co2 = co2Expected(ts) + (hashUnit(ts, 32) - 0.5) * 10;

    const iso = new Date(ts).toISOString();
    const r = (meter: string, quantity: FacilityReading['quantity'], value: number): FacilityReading => ({
      ts: iso,
      meter,
      quantity,
      value: Math.round(value * 100) / 100,
    });
    return [
      r('it-pdu', 'itPowerW', itPowerW),
      r('site-main', 'facilityPowerW', facilityPowerW),
      r('cooling', 'coolingPowerW', coolingPowerW),
      r('cdu-1', 'heatRemovedW', liquidHeatW),
      r('cdu-1', 'flowLpm', flowLpm),
      r('cdu-1', 'supplyTempC', this.supplyTempC),
      r('cdu-1', 'returnTempC', this.supplyTempC + deltaK),
      r('dh-meter', 'heatReusedW', heatReusedW),
      r('site-water', 'waterL', waterL),
      r('grid-dk1', 'gridCo2GPerKWh', Math.max(30, co2)),
    ];
  }
}

/** The demo grid's CO2 intensity without its noise: a daily swing and a windy-or-not day. */
function co2Expected(ts: number): number {
  const hour = (ts / HOUR_MS + 1) % 24;
  const day = Math.floor(ts / DAY_MS);
  return 95 + 55 * Math.sin(((hour - 12) / 24) * 2 * Math.PI) + (hashUnit(day, 31) - 0.5) * 120;
}
