/**
 * The yearly data-centre report of the Energy Efficiency Directive (Directive (EU)
 * 2023/1791, Art. 12 and Annex VII), in the shape of Commission Delegated Regulation (EU)
 * 2024/1364 ("first phase of the establishment of a common Union rating scheme for data
 * centres"): the indicators the site's meters and configuration can fill, and the ones
 * they cannot, each with the reason.
 *
 * Sources: the regulation's title, Article 1 (scope: data centres with an installed IT
 * power demand of at least 500 kW report the information of Annex I and the key
 * performance indicators of Annex II to the European database) were checked in the stored
 * copies at https://legalize.dev/eu/law/32024R1364 and https://eurlexa.com/act/en/32024R1364.
 * The search excerpts did not reach the annexes' text, so the indicator list below
 * (total and IT energy consumption, waste heat reused and its average temperature, set
 * point temperatures, total and potable water input, renewable energy, installed IT power,
 * floor areas, data traffic and storage, and the derived PUE, WUE, ERF, REF) is recalled
 * from the regulation, not quoted; check the field names against the annexes before filing.
 *
 * Rules:
 * - The year is the calendar year in UTC, [1 Jan, 1 Jan next year). Sums are what the
 *   meters recorded in it (getKpis); nothing is extrapolated over gaps, and `coverage`
 *   says how much of the year each family of meters covered.
 * - PUE = E_DC / E_IT, ERF = E_reuse / E_DC, WUE = water input (L) / E_IT (kWh),
 *   REF = E_renewable / E_DC (from the configured renewable share), CUE = kg CO2 / E_IT.
 * - Heat pump: where the heat pump that lifts the waste heat to district-heating
 *   temperature belongs to the site (HEATLEDGER_HEAT_PUMP_ON_SITE, default true), its
 *   electricity is drawn inside the site boundary and is part of E_DC (the site meter
 *   includes it, which raises PUE), and the reused heat is measured at its output, where
 *   the heat crosses the boundary (which includes the heat pump's own electricity turned
 *   to heat, raising ERF). Where the district-heating company owns it, E_DC excludes its
 *   electricity and the reused heat is the lower-temperature heat handed over before it.
 *   The report states which applies so the two cannot be compared unawares.
 */
import type { Database } from 'better-sqlite3';
import { levelMean, reuseMeters } from '../../db/queries/cooling-loop.ts';
import type { Visibility } from '../auth/middleware.ts';
import type { Config } from '../config.ts';
import { csvLine } from '../csv.ts';
import { getKpis } from './kpis.service.ts';

export const EED_REGULATION = 'Commission Delegated Regulation (EU) 2024/1364';

export interface MissingIndicator {
  indicator: string;
  reason: string;
}

/** Units of the report's indicators, for the CSV and for readers of the JSON. */
export const eedUnits = {
  totalEnergyConsumptionKWh: 'kWh',
  itEnergyConsumptionKWh: 'kWh',
  wasteHeatReusedKWh: 'kWh',
  wasteHeatAverageTempC: '°C',
  totalWaterInputM3: 'm³',
  renewableEnergyShare: 'share 0-1',
  renewableEnergyKWh: 'kWh',
  pue: 'ratio',
  erf: 'ratio',
  wueLPerKWh: 'L/kWh',
  ref: 'ratio',
  cueKgPerKWh: 'kg CO2/kWh',
  supplySetpointC: '°C',
  inletAirSetpointC: '°C',
} as const;

export type EedIndicators = Record<keyof typeof eedUnits, number | null>;

// What no meter of this product can say; each belongs in the operator's own filing.
const NOT_METERED: MissingIndicator[] = [
  { indicator: 'installedItPowerDemandKW', reason: 'a design (nameplate) figure of the installed IT equipment, not a meter reading' },
  { indicator: 'totalFloorAreaM2', reason: 'building data, not metered' },
  { indicator: 'computerRoomFloorAreaM2', reason: 'building data, not metered' },
  { indicator: 'incomingDataTraffic', reason: 'network traffic is not collected by HeatLedger' },
  { indicator: 'outgoingDataTraffic', reason: 'network traffic is not collected by HeatLedger' },
  { indicator: 'dataStoredAndProcessed', reason: 'storage volumes are not collected by HeatLedger' },
  { indicator: 'renewableEnergyByOrigin', reason: 'guarantees of origin, power purchase agreements and on-site generation are not metered; only an overall share is configured' },
];

const whyNull: Record<keyof EedIndicators, string> = {
  totalEnergyConsumptionKWh: 'no site meter (facilityPowerW or facilityEnergyKWh) reported in the year',
  itEnergyConsumptionKWh: 'no IT meter (itPowerW or itEnergyKWh) reported in the year',
  wasteHeatReusedKWh: 'no meter of heat delivered across the site boundary (heatReusedW or heatReusedKWh) reported in the year',
  wasteHeatAverageTempC: 'no meter of delivered heat reports a supply temperature (supplyTempC) in the year',
  totalWaterInputM3: 'no water counter (waterL) reported in the year',
  renewableEnergyShare: 'HEATLEDGER_RENEWABLE_SHARE is not set',
  renewableEnergyKWh: 'needs the renewable share and the total energy consumption',
  pue: 'needs total and IT energy consumption',
  erf: 'needs reused heat and total energy consumption',
  wueLPerKWh: 'needs the water input and IT energy consumption',
  ref: 'HEATLEDGER_RENEWABLE_SHARE is not set',
  cueKgPerKWh: 'needs grid CO2 intensity (gridCo2GPerKWh) beside total and IT energy consumption',
  supplySetpointC: 'HEATLEDGER_SUPPLY_SETPOINT_C is not set',
  inletAirSetpointC: 'HEATLEDGER_INLET_AIR_SETPOINT_C is not set (unset where nothing is air-cooled)',
};

/** The EED report for calendar year `year` (UTC). Facility, committee and admins only (getKpis refuses the rest). */
export function getEedReport(deps: { sqlite: Database; config: Config }, year: number, vis: Visibility) {
  const fromTs = Date.UTC(year, 0, 1);
  const toTs = Date.UTC(year + 1, 0, 1);
  const k = getKpis(deps, { fromTs, toTs }, 'day', vis);
  const { config, sqlite } = deps;
  const share = config.renewableShare;
  const indicators: EedIndicators = {
    totalEnergyConsumptionKWh: k.facilityEnergyKWh,
    itEnergyConsumptionKWh: k.itEnergyKWh,
    wasteHeatReusedKWh: k.reusedHeatKWh,
    wasteHeatAverageTempC: levelMean(sqlite, 'supplyTempC', reuseMeters(sqlite, fromTs, toTs), fromTs, toTs),
    totalWaterInputM3: k.waterL === null ? null : k.waterL / 1000,
    renewableEnergyShare: share,
    renewableEnergyKWh: share === null || k.facilityEnergyKWh === null ? null : share * k.facilityEnergyKWh,
    pue: k.pue,
    erf: k.erf,
    wueLPerKWh: k.wue,
    ref: share,
    cueKgPerKWh: k.cue,
    supplySetpointC: config.supplySetpointC,
    inletAirSetpointC: config.inletAirSetpointC,
  };
  const missing: MissingIndicator[] = [
    ...(Object.keys(indicators) as Array<keyof EedIndicators>).filter((key) => indicators[key] === null).map((key) => ({ indicator: key, reason: whyNull[key] })),
    ...(indicators.totalWaterInputM3 === null ? [] : [{ indicator: 'potableWaterInputM3', reason: 'the water counter does not say which share of the input is potable' }]),
    ...NOT_METERED,
  ];
  return {
    regulation: EED_REGULATION,
    year,
    from: k.from,
    to: k.to,
    heatPumpOnSite: k.heatPumpOnSite ?? config.heatPumpOnSite,
    indicators,
    units: eedUnits,
    co2Kg: k.co2Kg,
    co2AvoidedKg: k.co2AvoidedKg,
    coverage: k.coverage,
    missing,
  };
}

export type EedReport = ReturnType<typeof getEedReport>;

/** The report as CSV: one `indicator,value,unit,note` line per indicator, the missing ones with an empty value and the reason. */
export function eedReportCsv(report: EedReport): string {
  const lines = ['indicator,value,unit,note'];
  const put = (indicator: string, value: unknown, unit: string, note: string) => lines.push(csvLine([indicator, value, unit, note]));
  put('year', report.year, '', `${report.from} to ${report.to} (UTC), ${report.regulation}`);
  put('heatPumpOnSite', report.heatPumpOnSite, '', report.heatPumpOnSite ? 'its electricity is in the total energy consumption' : 'its electricity is outside the site boundary');
  const reasons = new Map(report.missing.map((m) => [m.indicator, m.reason]));
  for (const [key, value] of Object.entries(report.indicators)) put(key, value, eedUnits[key as keyof EedIndicators], reasons.get(key) ?? '');
  for (const m of report.missing) if (!(m.indicator in report.indicators)) put(m.indicator, null, '', m.reason);
  put('coverageIt', report.coverage.it, 'share 0-1', 'share of the year the IT meters covered');
  put('coverageFacility', report.coverage.facility, 'share 0-1', 'share of the year the site meters covered');
  return `${lines.join('\n')}\n`;
}
