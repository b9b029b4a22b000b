import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { captureOutput } from '../../test/support/capture-output.ts';
import { UsageError } from '../shared/usage-error.ts';
import type { FacilityBatch } from '../shared/wire.ts';
import { facilityCli } from './facility.cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'heatledger-facility-cli-'));

afterEach(() => vi.restoreAllMocks());

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function batch(out: string[]): FacilityBatch {
  return JSON.parse(out.join('')) as FacilityBatch;
}

describe('collect facility --from-file', () => {
  it('prints a Danish heat-meter export as one batch, in UTC, and warns about inconsistent heat', async () => {
    // 60 L/min × 20 K at 50 °C: 988.04 kg/m³ × 4180.7 J/(kg K) / 60 000 × 1200 ≈ 82 614 W;
    // the first instant reports 82,6 kW (agrees), the second 70 kW (15 % low).
    const path = file(
      'kamstrup.csv',
      [
        'timestamp;meter;quantity;value',
        '2026-11-28T11:00:00+01:00;dh-1;heatReusedW;82.600',
        '2026-11-28T11:00:00+01:00;dh-1;flowLpm;60,0',
        '2026-11-28T11:00:00+01:00;dh-1;supplyTempC;40',
        '2026-11-28T11:00:00+01:00;dh-1;returnTempC;60',
        '2026-11-28T11:05:00+01:00;dh-1;heatReusedW;70000',
        '2026-11-28T11:05:00+01:00;dh-1;flowLpm;60',
        '2026-11-28T11:05:00+01:00;dh-1;supplyTempC;40',
        '2026-11-28T11:05:00+01:00;dh-1;returnTempC;60',
        '2026-11-28T11:05:00+01:00;dh-1;heatReusedKWh;1.234.567,8',
      ].join('\n'),
    );
    const { out, err } = captureOutput();
    expect(await facilityCli(['--from-file', path, '--site', 'bitten', '--stdout'])).toBe(0);
    const b = batch(out);
    expect(b.site).toBe('bitten');
    expect(b.readings).toHaveLength(9);
    expect(b.readings[0]).toEqual({ ts: '2026-11-28T10:00:00.000Z', meter: 'dh-1', quantity: 'heatReusedW', value: 82600 });
    expect(b.readings[8]).toEqual({ ts: '2026-11-28T10:05:00.000Z', meter: 'dh-1', quantity: 'heatReusedKWh', value: 1234567.8 });
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(/meter dh-1 reports heatReusedW 70000 W at 2026-11-28T10:05:00\.000Z, but 60 L\/min × 20\.0 K of water carries 826\d\d W \(15\.\d % apart\)/);
  });

  it('takes the site from a JSON batch', async () => {
    const path = file('batch.json', JSON.stringify({ schema: 1, site: 'sdu', readings: [{ ts: '2026-11-28T10:00:00Z', meter: 'site', quantity: 'facilityPowerW', value: 412000 }] }));
    const { out } = captureOutput();
    expect(await facilityCli(['--from-file', path, '--stdout'])).toBe(0);
    expect(batch(out)).toEqual({ schema: 1, site: 'sdu', readings: [{ ts: '2026-11-28T10:00:00.000Z', meter: 'site', quantity: 'facilityPowerW', value: 412000 }] });
  });

  it('exits 1 naming the file, line and column, and never prints a partial batch', async () => {
    const { out, err } = captureOutput();
    const bad = file('bad.csv', 'timestamp,meter,quantity,value\n2026-11-28T10:00:00Z,site,facilityPowerW,1\n2026-11-28T10:00:00Z,site,powerW,2\n');
    expect(await facilityCli(['--from-file', bad, '--stdout'])).toBe(1);
    expect(err[0]).toBe(`heatledger collect facility: ${bad} line 3 column 3 (quantity): unknown quantity 'powerW' (one of itPowerW, facilityPowerW, coolingPowerW, heatRemovedW, heatReusedW, supplyTempC, returnTempC, flowLpm, waterL, gridCo2GPerKWh, itEnergyKWh, facilityEnergyKWh, heatReusedKWh)\n`);
    expect(await facilityCli(['--from-file', join(dir, 'nope.csv'), '--stdout'])).toBe(1);
    expect(err[1]).toMatch(/cannot read --from-file .*nope\.csv: ENOENT/);
    expect(out).toEqual([]);
  });

  it('refuses bad flag combinations with a UsageError', async () => {
    await expect(facilityCli(['--stdout'])).rejects.toThrow(UsageError);
    await expect(facilityCli(['--from-file', 'x', '--stdout', '--server', 'http://h'])).rejects.toThrow(/leave out --server/);
    await expect(facilityCli(['--from-file', 'x'])).rejects.toThrow(/give --stdout, or --server/);
    await expect(facilityCli(['--from-file', 'x', '--stdout', '--bogus'])).rejects.toThrow(/Unknown option '--bogus'/);
    await expect(facilityCli(['--redfish', 'http://h', '--user', 'u', '--stdout'])).rejects.toThrow(/--user and --password-file together/);
    await expect(facilityCli(['--redfish', 'http://h', '--ca', 'a', '--insecure', '--stdout'])).rejects.toThrow(/--ca or --insecure/);
  });
});

describe('collect facility carbon intensity', () => {
  it('imports a CO2Emis CSV for the chosen price area', async () => {
    const path = file('co2.csv', 'Minutes5UTC;Minutes5DK;PriceArea;CO2Emission\n2026-11-28 10:00;2026-11-28 11:00;DK1;142,5\n2026-11-28 10:00;2026-11-28 11:00;DK2;61,25\n');
    const { out } = captureOutput();
    expect(await facilityCli(['--co2-file', path, '--price-area', 'dk2', '--site', 'bitten', '--stdout'])).toBe(0);
    expect(batch(out).readings).toEqual([{ ts: '2026-11-28T10:00:00.000Z', meter: 'grid-dk2', quantity: 'gridCo2GPerKWh', value: 61.25 }]);
  });

  it('fetches CO2Emis from the API (a local server answering in its recorded shape)', async () => {
    const requests: URL[] = [];
    const api = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      requests.push(url);
      const area = (JSON.parse(url.searchParams.get('filter') ?? '{}') as { PriceArea?: string[] }).PriceArea?.[0];
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          total: 2,
          filters: url.searchParams.get('filter'),
          limit: 0,
          dataset: 'CO2Emis',
          records: [
            { Minutes5UTC: '2026-11-28T10:05:00', Minutes5DK: '2026-11-28T11:05:00', PriceArea: area, CO2Emission: 123.0 },
            { Minutes5UTC: '2026-11-28T10:00:00', Minutes5DK: '2026-11-28T11:00:00', PriceArea: area, CO2Emission: 125.5 },
          ],
        }),
      );
    });
    await new Promise<void>((ok) => api.listen(0, '127.0.0.1', ok));
    const base = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
    try {
      const { out } = captureOutput();
      const args = ['--co2-api', '--co2-api-url', base, '--start', '2026-11-28T10:00:00Z', '--end', '2026-11-28T11:00:00+01:00', '--site', 'bitten', '--stdout'];
      expect(await facilityCli(args)).toBe(0);
      expect(batch(out).readings).toEqual([
        { ts: '2026-11-28T10:00:00.000Z', meter: 'grid-dk1', quantity: 'gridCo2GPerKWh', value: 125.5 },
        { ts: '2026-11-28T10:05:00.000Z', meter: 'grid-dk1', quantity: 'gridCo2GPerKWh', value: 123 },
      ]);
      expect(requests).toHaveLength(1);
      expect(requests[0].pathname).toBe('/dataset/CO2Emis');
      expect(requests[0].searchParams.get('start')).toBe('2026-11-28T10:00');
      // 11:00+01:00 is 10:00 UTC: a one-hour window asked for in UTC.
      expect(requests[0].searchParams.get('end')).toBe('2026-11-28T10:00');
      expect(requests[0].searchParams.get('timezone')).toBe('UTC');
      expect(JSON.parse(requests[0].searchParams.get('filter')!)).toEqual({ PriceArea: ['DK1'] });
    } finally {
      await new Promise<void>((ok) => api.close(() => ok()));
    }
  });

  it('names the API URL when it cannot be reached', async () => {
    const { err } = captureOutput();
    expect(await facilityCli(['--co2-api', '--co2-api-url', 'http://127.0.0.1:9', '--stdout'])).toBe(1);
    expect(err[0]).toMatch(/GET http:\/\/127\.0\.0\.1:9\/dataset\/CO2Emis\?start=.*: fetch failed/);
  });
});

describe('collect facility --server, polling', () => {
  it('sends a file once up front, keeps polling through a failing CO2 API, and stops on SIGTERM', async () => {
    const received: FacilityBatch[] = [];
    let apiCalls = 0;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.url?.startsWith('/dataset/CO2Emis')) {
          apiCalls++;
          res.writeHead(500).end('maintenance');
          return;
        }
        received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as FacilityBatch);
        res.writeHead(202, { 'content-type': 'application/json' }).end('{"accepted":1,"duplicates":0}');
      });
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const path = file('site.csv', 'timestamp,meter,quantity,value\n2026-11-28T10:00:00Z,site,facilityPowerW,412000\n');
    const { err } = captureOutput();
    try {
      const running = facilityCli([
        '--from-file', path, '--co2-api', '--co2-api-url', base, '--start', '2026-11-28T00:00:00Z', '--end', '2026-11-28T01:00:00Z',
        '--site', 'bitten', '--server', base, '--token', 't', '--interval', '0.05', '--spool-dir', join(dir, 'poll-spool'),
      ]);
      // Fifteen minutes between CO2 fetches only counts successful ones: a failure is retried every round.
      for (let i = 0; i < 100 && apiCalls < 3; i++) await new Promise((ok) => setTimeout(ok, 20));
      process.emit('SIGTERM');
      expect(await running).toBe(0);
    } finally {
      await new Promise<void>((ok) => server.close(() => ok()));
    }
    expect(apiCalls).toBeGreaterThanOrEqual(3);
    expect(received).toEqual([{ schema: 1, site: 'bitten', readings: [{ ts: '2026-11-28T10:00:00.000Z', meter: 'site', quantity: 'facilityPowerW', value: 412000 }] }]);
    const co2Lines = err.filter((l) => l.includes('CO2Emis fetch failed, will retry'));
    expect(co2Lines).toHaveLength(1);
    expect(co2Lines[0]).toContain(`GET ${base}/dataset/CO2Emis?start=2026-11-28T00%3A00`);
    expect(co2Lines[0]).toContain('HTTP 500 maintenance');
  });
});

describe('the CO2 forecast (CO2EmisProg)', () => {
  const prog = JSON.stringify({
    dataset: 'CO2EmisProg',
    records: [
      { Minutes5UTC: '2026-12-04T10:05:00', Minutes5DK: '2026-12-04T11:05:00', PriceArea: 'DK1', CO2Emission: 141.5 },
      { Minutes5UTC: '2026-12-04T10:00:00', Minutes5DK: '2026-12-04T11:00:00', PriceArea: 'DK1', CO2Emission: 150 },
      { Minutes5UTC: '2026-12-04T10:00:00', Minutes5DK: '2026-12-04T11:00:00', PriceArea: 'DK2', CO2Emission: 90 },
    ],
  });

  it('prints one forecast batch of the price area, oldest first', async () => {
    const path = join(dir, 'prog.json');
    writeFileSync(path, prog);
    const { out } = captureOutput();
    expect(await facilityCli(['--co2-forecast-file', path, '--stdout'])).toBe(0);
    expect(JSON.parse(out.join(''))).toEqual({ schema: 1, priceArea: 'DK1', values: [{ ts: '2026-12-04T10:00:00.000Z', gPerKWh: 150 }, { ts: '2026-12-04T10:05:00.000Z', gPerKWh: 141.5 }] });
  });

  it('names the file and the areas it holds when the price area is missing, and prints nothing', async () => {
    const path = join(dir, 'prog-dk2.json');
    writeFileSync(path, prog.replaceAll('"DK1"', '"DK2"'));
    const { out, err } = captureOutput();
    expect(await facilityCli(['--co2-forecast-file', path, '--stdout'])).toBe(1);
    expect(err.join('')).toContain(`${path}: no CO2EmisProg value for price area DK1 (it holds DK2)`);
    expect(out).toEqual([]);
  });
});
