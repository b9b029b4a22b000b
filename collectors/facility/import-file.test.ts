import { describe, expect, it } from 'vitest';
import { InputError, parseDecimal, parseFacilityExport, toUtcIso } from './import-file.ts';

describe('toUtcIso', () => {
  it('turns Z and offsets into UTC with Z', () => {
    expect(toUtcIso('2026-11-28T10:00:00Z')).toBe('2026-11-28T10:00:00.000Z');
    // Danish winter time is UTC+1, summer time UTC+2.
    expect(toUtcIso('2026-11-28T11:00:00+01:00')).toBe('2026-11-28T10:00:00.000Z');
    expect(toUtcIso('2026-07-01 02:30+0200')).toBe('2026-07-01T00:30:00.000Z');
    expect(toUtcIso('2026-03-29T00:15:00.5-05')).toBe('2026-03-29T05:15:00.500Z');
  });

  it('refuses times without a zone', () => {
    expect(toUtcIso('2026-10-25T02:30:00')).toBeNull();
    expect(toUtcIso('yesterday')).toBeNull();
  });
});

describe('parseDecimal', () => {
  it('reads decimal commas and Danish thousands points', () => {
    expect(parseDecimal('25,48', true)).toBe(25.48);
    expect(parseDecimal('1.234,5', true)).toBe(1234.5);
    expect(parseDecimal('-0,25', true)).toBe(-0.25);
    expect(parseDecimal('1e3', false)).toBe(1000);
    expect(parseDecimal('82.600', true)).toBe(82600);
    expect(parseDecimal('12.5', true)).toBe(12.5);
    expect(parseDecimal('82.600', false)).toBe(82.6);
    expect(parseDecimal('1.23,4', true)).toBeNull();
    expect(parseDecimal('12,5', false)).toBeNull();
    expect(parseDecimal('n/a', false)).toBeNull();
  });
});

describe('parseFacilityExport', () => {
  it('reads a Danish ;-separated export with decimal commas and offsets', () => {
    const csv = [
      'timestamp;meter;quantity;value',
      '2026-11-28T11:00:00+01:00;dh-1;heatReusedW;"18.250,5"',
      '2026-11-28T11:05:00+01:00;dh-1;supplyTempC;62,4',
      '',
      '2026-11-28T10:10:00Z;site;facilityEnergyKWh;123456,75',
    ].join('\r\n');
    expect(parseFacilityExport(csv, 'bms.csv').readings).toEqual([
      { ts: '2026-11-28T10:00:00.000Z', meter: 'dh-1', quantity: 'heatReusedW', value: 18250.5 },
      { ts: '2026-11-28T10:05:00.000Z', meter: 'dh-1', quantity: 'supplyTempC', value: 62.4 },
      { ts: '2026-11-28T10:10:00.000Z', meter: 'site', quantity: 'facilityEnergyKWh', value: 123456.75 },
    ]);
  });

  it('reads dots as decimal points in a ;-file without decimal commas', () => {
    const csv = 'timestamp;meter;quantity;value\n2026-11-28T10:00:00Z;cdu-1;supplyTempC;21.125\n';
    expect(parseFacilityExport(csv, 'x.csv').readings[0].value).toBe(21.125);
  });

  it('reads a comma-separated export with columns in another order', () => {
    const csv = 'meter,value,quantity,timestamp\ncdu-1,25480,heatremovedw,2026-11-28T10:00:00Z\n';
    expect(parseFacilityExport(csv, 'x.csv').readings).toEqual([
      { ts: '2026-11-28T10:00:00.000Z', meter: 'cdu-1', quantity: 'heatRemovedW', value: 25480 },
    ]);
  });

  it('names the line and column of an unknown quantity, a bad number or a zoneless time', () => {
    const head = 'timestamp;meter;quantity;value\n2026-11-28T10:00:00Z;a;itPowerW;1\n';
    expect(() => parseFacilityExport(`${head}2026-11-28T10:00:00Z;a;heatW;1\n`, 'e.csv')).toThrow(
      /e\.csv line 3 column 3 \(quantity\): unknown quantity 'heatW'/,
    );
    expect(() => parseFacilityExport(`${head}2026-11-28T10:00:00Z;a;itPowerW;12x\n`, 'e.csv')).toThrow(
      /e\.csv line 3 column 4 \(value\): '12x' is not a number/,
    );
    expect(() => parseFacilityExport(`${head}2026-11-28 10:00;a;itPowerW;1\n`, 'e.csv')).toThrow(/line 3 column 1 \(timestamp\)/);
    expect(() => parseFacilityExport('when,meter,quantity,value\n', 'e.csv')).toThrow(InputError);
  });

  it('reads JSON arrays and batches, keeping the batch site', () => {
    const batch = {
      schema: 1,
      site: 'bitten',
      readings: [{ ts: '2026-11-28T12:00:00+02:00', meter: 'pdu-a', quantity: 'itPowerW', value: 6438 }],
    };
    expect(parseFacilityExport(JSON.stringify(batch), 'b.json')).toEqual({
      site: 'bitten',
      readings: [{ ts: '2026-11-28T10:00:00.000Z', meter: 'pdu-a', quantity: 'itPowerW', value: 6438 }],
    });
    const array = [{ timestamp: '2026-11-28T10:00:00Z', meter: 'w', quantity: 'waterL', value: '1.234,5' }];
    expect(parseFacilityExport(JSON.stringify(array), 'a.json').readings[0].value).toBe(1234.5);
    expect(() => parseFacilityExport('[{"ts":"2026-11-28T10:00:00Z","meter":"w","quantity":"water","value":1}]', 'a.json')).toThrow(
      /a\.json: \[0\]\.quantity: unknown quantity 'water'/,
    );
    expect(() => parseFacilityExport('{"readings": [', 'a.json')).toThrow(/a\.json is not valid JSON/);
  });
});
