import { describe, expect, it } from 'vitest';
import { co2ApiUrl, parseCo2Emis } from './co2.ts';

describe('parseCo2Emis', () => {
  const json = JSON.stringify({
    total: 4,
    dataset: 'CO2Emis',
    records: [
      { Minutes5UTC: '2026-11-28T10:05:00', Minutes5DK: '2026-11-28T11:05:00', PriceArea: 'DK1', CO2Emission: 123.0 },
      { Minutes5UTC: '2026-11-28T10:00:00', Minutes5DK: '2026-11-28T11:00:00', PriceArea: 'DK1', CO2Emission: 131.5 },
      { Minutes5UTC: '2026-11-28T10:00:00', Minutes5DK: '2026-11-28T11:00:00', PriceArea: 'DK2', CO2Emission: 88 },
      { Minutes5UTC: '2026-11-28T10:10:00', Minutes5DK: '2026-11-28T11:10:00', PriceArea: 'DK1', CO2Emission: null },
    ],
  });

  it('keeps the price area, sorts by time and skips unpublished intervals', () => {
    expect(parseCo2Emis(json, 'co2.json')).toEqual([
      { ts: '2026-11-28T10:00:00.000Z', meter: 'grid-dk1', quantity: 'gridCo2GPerKWh', value: 131.5 },
      { ts: '2026-11-28T10:05:00.000Z', meter: 'grid-dk1', quantity: 'gridCo2GPerKWh', value: 123 },
    ]);
    expect(parseCo2Emis(json, 'co2.json', 'DK2')).toEqual([
      { ts: '2026-11-28T10:00:00.000Z', meter: 'grid-dk2', quantity: 'gridCo2GPerKWh', value: 88 },
    ]);
  });

  it('reads the CSV download with ; and decimal commas', () => {
    const csv = 'Minutes5UTC;Minutes5DK;PriceArea;CO2Emission\n2026-11-28 10:05;2026-11-28 11:05;DK1;123,25\n2026-11-28 10:05;2026-11-28 11:05;DK2;77,5\n';
    expect(parseCo2Emis(csv, 'co2.csv')).toEqual([
      { ts: '2026-11-28T10:05:00.000Z', meter: 'grid-dk1', quantity: 'gridCo2GPerKWh', value: 123.25 },
    ]);
    expect(parseCo2Emis('Minutes5UTC;PriceArea;CO2Emission\n2026-11-28 10:05;DK1;123.456\n', 'dot.csv')[0].value).toBe(123.456);
    expect(() => parseCo2Emis('Minutes5UTC;PriceArea;CO2Emission\n2026-11-28 10:05;DK1;lots\n', 'bad.csv')).toThrow(
      /bad\.csv line 2 column 3 CO2Emission: 'lots' is not a number/,
    );
    expect(() => parseCo2Emis('{"result": []}', 'x.json')).toThrow(/no 'records' array/);
  });

  it('asks the API for one area over a UTC window', () => {
    const url = co2ApiUrl({ start: new Date('2026-11-28T00:00:00Z'), end: new Date('2026-11-29T00:00:00Z'), priceArea: 'DK1' });
    expect(url.origin + url.pathname).toBe('https://api.energidataservice.dk/dataset/CO2Emis');
    expect(url.searchParams.get('start')).toBe('2026-11-28T00:00');
    expect(url.searchParams.get('end')).toBe('2026-11-29T00:00');
    expect(JSON.parse(url.searchParams.get('filter')!)).toEqual({ PriceArea: ['DK1'] });
  });
});
