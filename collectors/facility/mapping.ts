/**
 * Which Redfish property becomes which meter and quantity of the facility batch
 * (CONTRACTS §2.3). A site says so in a JSON file (README.md); without one, a default is
 * derived from what the service exposes.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { facilityQuantities, type FacilityQuantity, type FacilityReading } from '../shared/wire.ts';
import { readingOf, type Inventory, type RedfishClient } from './redfish.ts';

const readingSpecSchema = z.union([
  z.string().min(1),
  z.object({ property: z.string().min(1), scale: z.number().finite().optional() }).strict(),
]);

const meterMapSchema = z
  .object({
    meter: z.string().min(1).max(200),
    /** A Redfish path such as `/redfish/v1/ThermalEquipment/CDUs/1/PrimaryCoolantConnectors/1`. */
    resource: z.string().regex(/^\/redfish\/v1(\/|$)/, 'must be a path starting /redfish/v1'),
    readings: z.partialRecord(z.enum(facilityQuantities), readingSpecSchema),
  })
  .strict();

export const facilityConfigSchema = z
  .object({
    site: z.string().min(1).max(200).optional(),
    meters: z.array(meterMapSchema).min(1),
  })
  .strict();

export type FacilityConfig = z.infer<typeof facilityConfigSchema>;
export type MeterMap = z.infer<typeof meterMapSchema>;

/** Config file that cannot be used; the message names the file and the field. */
export class ConfigError extends Error {}

type Unit = 'W' | 'kW' | 'kWh' | 'C' | 'Lpm' | 'L';

function propertyUnit(property: string): Unit | null {
  if (/kWh$/.test(property)) return 'kWh';
  if (/kW$/.test(property)) return 'kW';
  if (/Watts$/.test(property)) return 'W';
  if (/Celsius$/.test(property)) return 'C';
  if (/LitersPerMinute$/.test(property)) return 'Lpm';
  if (/Liters$/.test(property)) return 'L';
  return null;
}

function quantityUnit(quantity: FacilityQuantity): Unit | null {
  if (quantity.endsWith('KWh')) return 'kWh';
  if (quantity.endsWith('W')) return 'W';
  if (quantity.endsWith('TempC')) return 'C';
  if (quantity === 'flowLpm') return 'Lpm';
  if (quantity === 'waterL') return 'L';
  return null; // gridCo2GPerKWh has no Redfish counterpart
}

const factors: Partial<Record<`${Unit}>${Unit}`, number>> = {
  'W>W': 1, 'kW>W': 1000, 'kW>kW': 1, 'kWh>kWh': 1, 'C>C': 1, 'Lpm>Lpm': 1, 'L>L': 1,
};

/** The factor from a Redfish property to a quantity, from the units in their names. */
export function unitFactor(property: string, quantity: FacilityQuantity): number | null {
  const from = propertyUnit(property);
  const to = quantityUnit(quantity);
  if (!from || !to) return null;
  return factors[`${from}>${to}`] ?? null;
}

interface ResolvedSpec {
  quantity: FacilityQuantity;
  property: string;
  factor: number;
}

function resolve(map: MeterMap, where: string): ResolvedSpec[] {
  return Object.entries(map.readings).map(([quantity, spec]) => {
    const q = quantity as FacilityQuantity;
    const property = typeof spec === 'string' ? spec : spec!.property;
    const scale = typeof spec === 'string' ? undefined : spec!.scale;
    const factor = scale ?? unitFactor(property, q);
    if (factor === null) {
      // kW read as W would be off by 1000 without a trace; refuse rather than guess.
      throw new ConfigError(`${where}: cannot tell how '${property}' converts to ${q}; give { "property": "${property}", "scale": n }`);
    }
    return { quantity: q, property, factor };
  });
}

/** Reads and checks a mapping config file. */
export function loadConfig(path: string): FacilityConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config ${path}: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`config ${path} is not JSON: ${(error as Error).message}`);
  }
  const parsed = facilityConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`config ${path}: ${issue?.path.join('.') || '(top)'}: ${issue?.message ?? 'invalid'}`);
  }
  parsed.data.meters.forEach((m, i) => resolve(m, `config ${path}: meters.${i} (${m.meter})`));
  return parsed.data;
}

const connectorReadings = {
  heatRemovedW: 'HeatRemovedkW',
  flowLpm: 'FlowLitersPerMinute',
  supplyTempC: 'SupplyTemperatureCelsius',
  returnTempC: 'ReturnTemperatureCelsius',
} as const;

function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

/**
 * The mapping used without a config: each CDU's primary (facility-side) connector is meter
 * `cdu-<id>` with heat, flow and temperatures; the CDU's own power is its cooling power;
 * rack PDUs and power shelves are IT. Floor PDUs and transfer switches feed the rack PDUs,
 * so counting them as IT too would count the same watts twice; they are left out.
 */
export function defaultMapping(inventory: Inventory): MeterMap[] {
  const maps: MeterMap[] = [];
  for (const cdu of inventory.cdus) {
    const meter = `cdu-${slug(cdu.id)}`;
    cdu.primaryConnectors.forEach((path, i) => {
      const connectorId = path.split('/').filter(Boolean).at(-1) ?? String(i + 1);
      maps.push({
        meter: cdu.primaryConnectors.length === 1 ? meter : `${meter}-${slug(connectorId)}`,
        resource: path,
        readings: { ...connectorReadings },
      });
    });
    if (cdu.environmentMetrics) {
      maps.push({ meter, resource: cdu.environmentMetrics, readings: { coolingPowerW: 'PowerWatts' } });
    }
  }
  for (const device of inventory.power) {
    if (device.collection !== 'RackPDUs' && device.collection !== 'PowerShelves') continue;
    if (!device.metrics) continue;
    const kind = device.collection === 'RackPDUs' ? 'rackpdu' : 'powershelf';
    maps.push({
      meter: `${kind}-${slug(device.id)}`,
      resource: device.metrics,
      readings: { itPowerW: 'PowerWatts', itEnergyKWh: 'EnergykWh' },
    });
  }
  return maps;
}

/**
 * Reads every mapped resource once (each path fetched once per round) and returns the
 * readings stamped `ts`. A property that is absent or null yields no reading: unknown is
 * not zero.
 */
export async function readMapped(client: RedfishClient, maps: MeterMap[], ts: string): Promise<FacilityReading[]> {
  const cache = new Map<string, Promise<Record<string, unknown>>>();
  const readings: FacilityReading[] = [];
  for (const [i, map] of maps.entries()) {
    let resource = cache.get(map.resource);
    if (!resource) {
      resource = client.get(map.resource);
      cache.set(map.resource, resource);
    }
    const body = await resource;
    for (const spec of resolve(map, `meters.${i} (${map.meter})`)) {
      const value = readingOf(body, spec.property);
      if (value === null) continue;
      readings.push({ ts, meter: map.meter, quantity: spec.quantity, value: roundTo(value * spec.factor, 6) });
    }
  }
  return readings;
}

function roundTo(value: number, digits: number): number {
  // 25.48 × 1000 is 25480.000000000004 in binary; the wire should say 25480.
  return Number(value.toFixed(digits));
}
