/**
 * The facility collector against the DMTF Redfish mockups served over real HTTP(S) by
 * the test: discovery, default and configured mappings, readings that change per
 * request, basic and session auth, TLS with a CA made here, and the polling loop with
 * a server that goes away and a SIGTERM flush.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { captureOutput } from '../support/capture-output.ts';
import { facilityCli } from '../../collectors/facility/facility.cli.ts';
import { defaultMapping } from '../../collectors/facility/mapping.ts';
import { discover, RedfishClient } from '../../collectors/facility/redfish.ts';
import type { FacilityBatch, FacilityReading } from '../../collectors/shared/wire.ts';
import { makeApp } from '../support/factories.ts';
import { missing } from '../support/requirements.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const mockups = resolve(repoRoot, '../shared/fixtures/redfish/mockups');
const cdu = join(mockups, 'public-cooling-unit');
const pdu = join(mockups, 'public-pdu');
const shelf = join(mockups, 'public-power-shelf');
const server1u = join(mockups, 'public-liquid-cooled-server');
const work = mkdtempSync(join(tmpdir(), 'heatledger-facility-it-'));

type Json = Record<string, unknown>;

interface MockupOptions {
  roots: string[];
  auth?: 'basic' | 'session';
  tls?: { key: string; cert: string };
}

interface Mockup {
  url: string;
  /** GETs per path so far. */
  hits: Map<string, number>;
  sessionsCreated: number;
  sessionsDeleted: string[];
  expireSessions(): void;
  close(): Promise<void>;
}

const USER = 'facility-reader';
const PASSWORD = 'correct horse battery staple ';

/** Adds `step` × (earlier GETs of this path) to every sensor Reading: readings change per request. */
function vary(value: unknown, step: number): unknown {
  if (Array.isArray(value)) return value.map((v) => vary(v, step));
  if (!value || typeof value !== 'object') return value;
  const out: Json = {};
  for (const [key, v] of Object.entries(value as Json)) {
    out[key] = key === 'Reading' && typeof v === 'number' ? v + step : vary(v, step);
  }
  return out;
}

/** Several mockup trees as one DCIM gateway: same-path resources are merged, first wins. */
function loadResource(roots: string[], path: string): Json | null {
  const rel = path.replace(/^\/redfish\/v1\/?/, '').replace(/\/$/, '');
  let merged: Json | null = null;
  for (const root of roots) {
    const file = join(root, rel, 'index.json');
    if (!existsSync(file)) continue;
    const body = JSON.parse(readFileSync(file, 'utf8')) as Json;
    if (!merged) merged = body;
    else for (const [k, v] of Object.entries(body)) if (!(k in merged)) merged[k] = v;
  }
  return merged;
}

async function startMockup(options: MockupOptions): Promise<Mockup> {
  const hits = new Map<string, number>();
  const sessions = new Map<string, string>(); // token → id
  const state = { created: 0, deleted: [] as string[] };

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rawPath = new URL(req.url ?? '/', 'http://x').pathname;
      const path = rawPath.replace(/\/$/, '');
      const send = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(body === undefined ? '' : JSON.stringify(body));
      };
      if (req.method === 'POST' && path === '/redfish/v1/SessionService/Sessions') {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { UserName?: string; Password?: string };
        if (body.UserName !== USER || body.Password !== PASSWORD) return send(401, { error: { message: 'bad credentials' } });
        const token = randomUUID();
        const id = `s${++state.created}`;
        sessions.set(token, id);
        const location = `/redfish/v1/SessionService/Sessions/${id}`;
        return send(201, { '@odata.id': location, Id: id, UserName: USER }, { 'x-auth-token': token, location });
      }
      if (options.auth === 'basic') {
        const expected = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
        if (req.headers.authorization !== expected) return send(401, { error: { message: 'basic auth required' } });
      }
      if (options.auth === 'session') {
        const token = String(req.headers['x-auth-token'] ?? '');
        if (!sessions.has(token)) return send(401, { error: { message: 'no session' } });
        if (req.method === 'DELETE') {
          const id = sessions.get(token)!;
          if (path !== `/redfish/v1/SessionService/Sessions/${id}`) return send(404);
          sessions.delete(token);
          state.deleted.push(id);
          return send(204);
        }
      }
      if (req.method !== 'GET') return send(405);
      // As some BMCs do: the service root lives at /redfish/v1/ only.
      if (rawPath === '/redfish/v1') return send(301, undefined, { location: '/redfish/v1/' });
      const resource = loadResource(options.roots, path);
      if (!resource) return send(404, { error: { message: `no ${path}` } });
      const seen = hits.get(path) ?? 0;
      hits.set(path, seen + 1);
      send(200, vary(resource, seen * 0.5));
    });
  };
  const server: Server = options.tls ? createHttpsServer(options.tls, handler) : createHttpServer(handler);
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${options.tls ? 'https' : 'http'}://${options.tls ? 'localhost' : '127.0.0.1'}:${port}`,
    hits,
    get sessionsCreated() {
      return state.created;
    },
    sessionsDeleted: state.deleted,
    expireSessions: () => sessions.clear(),
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}

afterEach(() => vi.restoreAllMocks());

function batchOf(out: string[]): FacilityBatch {
  const lines = out.join('').trim().split('\n');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]) as FacilityBatch;
}

/** meter/quantity → value, for readings that share one instant. */
function table(readings: FacilityReading[]): Record<string, number> {
  return Object.fromEntries(readings.map((r) => [`${r.meter}/${r.quantity}`, r.value]));
}

const passwordFile = join(work, 'password');
writeFileSync(passwordFile, `${PASSWORD}\n`);

describe.skipIf(missing('the Redfish mockups in ../shared/fixtures', existsSync(cdu) && existsSync(pdu) && existsSync(shelf)))('facility collector against the DMTF mockups', () => {
  let gateway: Mockup;
  beforeAll(async () => {
    gateway = await startMockup({ roots: [cdu, pdu, shelf] });
  });
  afterAll(() => gateway.close());

  it('discovers the CDU, its connectors and the power equipment by following links', async () => {
    const client = new RedfishClient({ baseUrl: `${gateway.url}/redfish/v1` });
    expect((await client.get('/redfish/v1')).Id).toBe('RootService'); // after the 301
    const inventory = await discover(client);
    expect(inventory.cdus).toEqual([
      {
        id: '1',
        path: '/redfish/v1/ThermalEquipment/CDUs/1',
        name: 'Rack #4 Cooling Distribution Unit',
        primaryConnectors: ['/redfish/v1/ThermalEquipment/CDUs/1/PrimaryCoolantConnectors/1'],
        secondaryConnectors: ['/redfish/v1/ThermalEquipment/CDUs/1/SecondaryCoolantConnectors/1'],
        environmentMetrics: '/redfish/v1/ThermalEquipment/CDUs/1/EnvironmentMetrics',
      },
    ]);
    expect(inventory.power.map((p) => [p.collection, p.path, p.metrics])).toEqual([
      ['RackPDUs', '/redfish/v1/PowerEquipment/RackPDUs/1', '/redfish/v1/PowerEquipment/RackPDUs/1/Metrics'],
      ['FloorPDUs', '/redfish/v1/PowerEquipment/FloorPDUs/Row1', null],
      ['PowerShelves', '/redfish/v1/PowerEquipment/PowerShelves/1', '/redfish/v1/PowerEquipment/PowerShelves/1/Metrics'],
      ['TransferSwitches', '/redfish/v1/PowerEquipment/TransferSwitches/1', '/redfish/v1/PowerEquipment/TransferSwitches/1/Metrics'],
    ]);
    // Floor PDUs and transfer switches feed the rack PDUs: not IT a second time.
    expect(defaultMapping(inventory).map((m) => m.meter)).toEqual(['cdu-1', 'cdu-1', 'rackpdu-1', 'powershelf-1']);
  });

  it('prints one batch with the default mapping, readings changing between requests, and warns about the mockup’s heat', async () => {
    const rounds: Array<Record<string, number>> = [];
    const errs: string[][] = [];
    for (let i = 0; i < 2; i++) {
      const { out, err } = captureOutput();
      const before = Date.now();
      expect(await facilityCli(['--redfish', gateway.url, '--site', 'bitten', '--once', '--stdout'])).toBe(0);
      const batch = batchOf(out);
      vi.restoreAllMocks();
      expect(batch.schema).toBe(1);
      expect(batch.site).toBe('bitten');
      const ts = new Set(batch.readings.map((r) => r.ts));
      expect(ts.size).toBe(1);
      const tsMs = Date.parse([...ts][0]);
      expect(tsMs).toBeGreaterThanOrEqual(before - 5);
      expect(tsMs).toBeLessThanOrEqual(Date.now());
      rounds.push(table(batch.readings));
      errs.push(err);
    }
    // From the mockup JSON: HeatRemovedkW 25.48 → 25 480 W, flow 42 L/min, 30 → 40 °C,
    // rack PDU and power shelf 6438 W and 56 438 kWh; the CDU's EnvironmentMetrics has no
    // PowerWatts, so no cooling power rather than a made-up 0.
    expect(rounds[0]).toEqual({
      'cdu-1/heatRemovedW': 25480,
      'cdu-1/flowLpm': 42,
      'cdu-1/supplyTempC': 30,
      'cdu-1/returnTempC': 40,
      'rackpdu-1/itPowerW': 6438,
      'rackpdu-1/itEnergyKWh': 56438,
      'powershelf-1/itPowerW': 6438,
      'powershelf-1/itEnergyKWh': 56438,
    });
    // The second request of each resource reads 0.5 higher (the server's rewrite): kW → W too.
    expect(rounds[1]).toEqual({
      'cdu-1/heatRemovedW': 25980,
      'cdu-1/flowLpm': 42.5,
      'cdu-1/supplyTempC': 30.5,
      'cdu-1/returnTempC': 40.5,
      'rackpdu-1/itPowerW': 6438.5,
      'rackpdu-1/itEnergyKWh': 56438.5,
      'powershelf-1/itPowerW': 6438.5,
      'powershelf-1/itEnergyKWh': 56438.5,
    });
    // 42 L/min × 10 K × (994.03 kg/m³ × 4178.1 J/kg/K / 60 000) ≈ 29 071 W against 25 480 W
    // reported: 12.4 % apart, over the 10 % limit.
    expect(errs[0]).toHaveLength(1);
    expect(errs[0][0]).toMatch(/warning: meter cdu-1 reports heatRemovedW 25480 W .*42 L\/min × 10\.0 K of water carries 2907\d W \(12\.[34] % apart\)/);
    // 42.5 × 10 × 69.22 ≈ 29 418 W against 25 980 W: still 11.7 % apart.
    expect(errs[1][0]).toMatch(/meter cdu-1 reports heatRemovedW 25980 W .*29[34]\d\d W \(11\.\d % apart\)/);
  });

  it('maps resources by a config: district heating, site meter, IT and cooling', async () => {
    const config = join(work, 'bitten.json');
    writeFileSync(
      config,
      JSON.stringify({
        site: 'bitten',
        meters: [
          {
            meter: 'cdu-1',
            resource: '/redfish/v1/ThermalEquipment/CDUs/1/SecondaryCoolantConnectors/1',
            readings: { heatRemovedW: 'HeatRemovedkW', flowLpm: 'FlowLitersPerMinute', supplyTempC: 'SupplyTemperatureCelsius', returnTempC: 'ReturnTemperatureCelsius' },
          },
          { meter: 'district-heating', resource: '/redfish/v1/ThermalEquipment/CDUs/1/PrimaryCoolantConnectors/1', readings: { heatReusedW: 'HeatRemovedkW' } },
          { meter: 'site', resource: '/redfish/v1/PowerEquipment/TransferSwitches/1/Metrics', readings: { facilityPowerW: 'PowerWatts', facilityEnergyKWh: 'EnergykWh' } },
          { meter: 'row-north-1', resource: '/redfish/v1/PowerEquipment/RackPDUs/1/Metrics', readings: { itPowerW: 'PowerWatts' } },
          { meter: 'chiller', resource: '/redfish/v1/PowerEquipment/PowerShelves/1/Metrics', readings: { coolingPowerW: { property: 'PowerWatts', scale: 0.5 } } },
        ],
      }),
    );
    const fresh = await startMockup({ roots: [cdu, pdu, shelf] });
    try {
      const { out, err } = captureOutput();
      expect(await facilityCli(['--redfish', fresh.url, '--config', config, '--once', '--stdout'])).toBe(0);
      const batch = batchOf(out);
      expect(batch.site).toBe('bitten');
      expect(table(batch.readings)).toEqual({
        'cdu-1/heatRemovedW': 25310,
        'cdu-1/flowLpm': 42,
        'cdu-1/supplyTempC': 30,
        'cdu-1/returnTempC': 48,
        'district-heating/heatReusedW': 25480,
        'site/facilityPowerW': 1500.1,
        'site/facilityEnergyKWh': 56438,
        'row-north-1/itPowerW': 6438,
        'chiller/coolingPowerW': 3219,
      });
      // The rack side: 42 L/min × 18 K at 39 °C ≈ 52 300 W against 25 310 W reported.
      expect(err.join('')).toMatch(/meter cdu-1 reports heatRemovedW 25310 W .*42 L\/min × 18\.0 K of water carries 52[23]\d\d W/);
      // Each resource is read once per round, and nothing was discovered.
      expect(fresh.hits.get('/redfish/v1/ThermalEquipment/CDUs/1/PrimaryCoolantConnectors/1')).toBe(1);
      expect(fresh.hits.has('/redfish/v1')).toBe(false);
    } finally {
      await fresh.close();
    }
  });

  it('refuses a config that would read kW as W, naming the file and the entry', async () => {
    const config = join(work, 'bad.json');
    writeFileSync(config, JSON.stringify({ meters: [{ meter: 'x', resource: '/redfish/v1/ThermalEquipment/CDUs/1/EnvironmentMetrics', readings: { itPowerW: 'HumidityPercent' } }] }));
    const { err } = captureOutput();
    expect(await facilityCli(['--redfish', gateway.url, '--config', config, '--once', '--stdout'])).toBe(1);
    expect(err.join('')).toMatch(/config .*bad\.json: meters\.0 \(x\): cannot tell how 'HumidityPercent' converts to itPowerW/);
    writeFileSync(config, JSON.stringify({ meters: [{ meter: 'x', resource: '/redfish/v1/A', readings: { heat: 'HeatRemovedkW' } }] }));
    expect(await facilityCli(['--redfish', gateway.url, '--config', config, '--once', '--stdout'])).toBe(1);
    expect(err.join('')).toMatch(/bad\.json: meters\.0\.readings/);
  });

  it('names the URL when a mapped resource is missing or the service is unreachable', async () => {
    const config = join(work, 'missing.json');
    writeFileSync(config, JSON.stringify({ meters: [{ meter: 'x', resource: '/redfish/v1/ThermalEquipment/CDUs/9', readings: { itPowerW: 'PowerWatts' } }] }));
    const { out, err } = captureOutput();
    expect(await facilityCli(['--redfish', gateway.url, '--config', config, '--once', '--stdout'])).toBe(1);
    expect(err.join('')).toContain(`GET ${gateway.url}/redfish/v1/ThermalEquipment/CDUs/9: HTTP 404`);
    expect(await facilityCli(['--redfish', 'http://127.0.0.1:9', '--once', '--stdout'])).toBe(1);
    expect(err.join('')).toMatch(/GET http:\/\/127\.0\.0\.1:9\/redfish\/v1\/: .*ECONNREFUSED/);
    expect(out).toEqual([]);
  });

  it('gives up on a service that accepts but never answers, after --timeout', async () => {
    const sockets: Socket[] = [];
    const silent = createNetServer((socket) => void sockets.push(socket));
    await new Promise<void>((ok) => silent.listen(0, '127.0.0.1', ok));
    const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    try {
      const { err } = captureOutput();
      const startMs = Date.now();
      expect(await facilityCli(['--redfish', url, '--timeout', '0.3', '--once', '--stdout'])).toBe(1);
      expect(Date.now() - startMs).toBeLessThan(3000);
      expect(err.join('')).toContain(`GET ${url}/redfish/v1/: no answer within 0.3 s`);
    } finally {
      // An unread socket never sees the client's FIN, so close would wait for ever.
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((ok) => silent.close(() => ok()));
    }
  });
});

describe.skipIf(missing('the Redfish server mockup in ../shared/fixtures', existsSync(server1u)))('a liquid-cooled server mapped by config', () => {
  it('reads its chassis power and cold-plate loop temperatures', async () => {
    const mock = await startMockup({ roots: [server1u] });
    const config = join(work, '1u.json');
    writeFileSync(
      config,
      JSON.stringify({
        meters: [
          { meter: 'node-1u', resource: '/redfish/v1/Chassis/1U/EnvironmentMetrics', readings: { itPowerW: 'PowerWatts' } },
          { meter: 'node-1u-cpu1', resource: '/redfish/v1/Chassis/1U/ThermalSubsystem/CoolantConnectors/CPU1', readings: { supplyTempC: 'SupplyTemperatureCelsius', returnTempC: 'ReturnTemperatureCelsius', flowLpm: 'FlowLitersPerMinute' } },
        ],
      }),
    );
    try {
      const { out } = captureOutput();
      expect(await facilityCli(['--redfish', mock.url, '--config', config, '--site', 'bitten', '--once', '--stdout'])).toBe(0);
      // The cold plate reports no flow: that reading is absent, not 0.
      expect(table(batchOf(out).readings)).toEqual({ 'node-1u/itPowerW': 374, 'node-1u-cpu1/supplyTempC': 14.8, 'node-1u-cpu1/returnTempC': 38.2 });
      // Without a config there is nothing to discover on a server: say so, send nothing.
      const { out: bare, err } = captureOutput();
      expect(await facilityCli(['--redfish', mock.url, '--once', '--stdout'])).toBe(0);
      expect(batchOf(bare).readings).toEqual([]);
      expect(err.join('')).toContain(`found no CDUs, rack PDUs or power shelves at ${mock.url}/redfish/v1/; map its resources with --config FILE`);
    } finally {
      await mock.close();
    }
  });
});

describe.skipIf(missing('the Redfish CDU mockup in ../shared/fixtures', existsSync(cdu)))('Redfish authentication', () => {
  it('sends basic auth and explains a refusal', async () => {
    const mock = await startMockup({ roots: [cdu], auth: 'basic' });
    try {
      const { out, err } = captureOutput();
      expect(await facilityCli(['--redfish', mock.url, '--user', USER, '--password-file', passwordFile, '--once', '--stdout'])).toBe(0);
      expect(table(batchOf(out).readings)['cdu-1/heatRemovedW']).toBe(25480);
      out.length = 0;
      expect(await facilityCli(['--redfish', mock.url, '--once', '--stdout'])).toBe(1);
      expect(err.join('')).toContain(`GET ${mock.url}/redfish/v1/: not authorised (HTTP 401)`);
    } finally {
      await mock.close();
    }
  });

  it('logs in through SessionService, logs in again when the session expires, and logs out', async () => {
    const mock = await startMockup({ roots: [cdu], auth: 'session' });
    try {
      const client = new RedfishClient({ baseUrl: mock.url, auth: { kind: 'session', user: USER, password: PASSWORD } });
      expect(((await client.get('/redfish/v1/ThermalEquipment/CDUs/1')) as Json).Model).toBe('BRRR4000');
      mock.expireSessions();
      expect(((await client.get('/redfish/v1/ThermalEquipment/CDUs')) as Json)['Members@odata.count']).toBe(1);
      expect(mock.sessionsCreated).toBe(2);
      expect(await client.close()).toBeNull();
      expect(mock.sessionsDeleted).toEqual(['s2']);

      const { out } = captureOutput();
      expect(await facilityCli(['--redfish', mock.url, '--user', USER, '--password-file', passwordFile, '--session', '--once', '--stdout'])).toBe(0);
      expect(table(batchOf(out).readings)['cdu-1/flowLpm']).toBe(42);
      expect(mock.sessionsDeleted).toEqual(['s2', 's3']);

      const wrong = join(work, 'wrong-password');
      writeFileSync(wrong, 'nope\n');
      const { err } = captureOutput();
      expect(await facilityCli(['--redfish', mock.url, '--user', USER, '--password-file', wrong, '--session', '--once', '--stdout'])).toBe(1);
      expect(err.join('')).toContain(`POST ${mock.url}/redfish/v1/SessionService/Sessions: login refused for user '${USER}' (HTTP 401)`);
    } finally {
      await mock.close();
    }
  });
});

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(missing('the Redfish CDU mockup and openssl', existsSync(cdu) && hasOpenssl()))('Redfish over https with a site CA', () => {
  let mock: Mockup;
  let caFile: string;
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'heatledger-facility-ca-'));
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=HeatLedger test CA');
    ssl('req', ...ec, '-keyout', 'bmc.key', '-out', 'bmc.csr', '-subj', '/CN=localhost');
    writeFileSync(join(dir, 'san.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
    ssl('x509', '-req', '-in', 'bmc.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'bmc.pem', '-days', '2', '-extfile', 'san.cnf');
    caFile = join(dir, 'ca.pem');
    mock = await startMockup({
      roots: [cdu],
      auth: 'basic',
      tls: { key: readFileSync(join(dir, 'bmc.key'), 'utf8'), cert: readFileSync(join(dir, 'bmc.pem'), 'utf8') },
    });
  });
  afterAll(() => mock?.close());

  const login = () => ['--user', USER, '--password-file', passwordFile, '--once', '--stdout'];

  it('trusts the service with --ca and reads it', async () => {
    const { out } = captureOutput();
    expect(await facilityCli(['--redfish', mock.url, '--ca', caFile, ...login()])).toBe(0);
    expect(table(batchOf(out).readings)['cdu-1/returnTempC']).toBe(40);
  });

  it('refuses an unknown certificate by default, naming the URL and the way out', async () => {
    const { err } = captureOutput();
    expect(await facilityCli(['--redfish', mock.url, ...login()])).toBe(1);
    expect(err.join('')).toMatch(new RegExp(`GET ${mock.url}/redfish/v1/: .*certificate.*\\(give the CA with --ca FILE\\)`));
    // Another CA (the server's own certificate as CA) is not enough either.
    const other = join(work, 'not-a-ca.pem');
    writeFileSync(other, 'garbage');
    expect(await facilityCli(['--redfish', mock.url, '--ca', other, ...login()])).toBe(1);
    expect(err.join('')).toMatch(/--ca .*not-a-ca\.pem holds no PEM certificate/);
  });

  it('skips the check only with --insecure', async () => {
    const earlierReads = mock.hits.get('/redfish/v1/ThermalEquipment/CDUs/1/PrimaryCoolantConnectors/1') ?? 0;
    const { out } = captureOutput();
    expect(await facilityCli(['--redfish', mock.url, '--insecure', ...login()])).toBe(0);
    expect(table(batchOf(out).readings)['cdu-1/supplyTempC']).toBe(30 + 0.5 * earlierReads);
  });
});

describe.skipIf(missing('the Redfish CDU mockup in ../shared/fixtures', existsSync(cdu)))('polling into a server that goes away, then SIGTERM', () => {
  it('spools while the server answers 503, replays in order, and flushes on SIGTERM', async () => {
    const mock = await startMockup({ roots: [cdu] });
    const received: FacilityBatch[] = [];
    let up = false;
    const ingest = createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.url !== '/api/v1/ingest/facility' || req.headers.authorization !== 'Bearer ingest-token') {
          res.writeHead(401).end('{"error":{"message":"no"}}');
          return;
        }
        if (!up) {
          res.writeHead(503).end('{"error":{"message":"starting"}}');
          return;
        }
        const batch = JSON.parse(Buffer.concat(chunks).toString('utf8')) as FacilityBatch;
        received.push(batch);
        res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ accepted: batch.readings.length, duplicates: 0 }));
      });
    });
    await new Promise<void>((ok) => ingest.listen(0, '127.0.0.1', ok));
    const ingestUrl = `http://127.0.0.1:${(ingest.address() as AddressInfo).port}`;
    const spoolDir = join(work, 'spool');
    const script = `const { facilityCli } = await import(${JSON.stringify(join(repoRoot, 'collectors/facility/facility.cli.ts'))}); process.exitCode = await facilityCli(process.argv.slice(1));`;
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script, '--',
        '--redfish', mock.url, '--site', 'bitten', '--server', ingestUrl, '--token', 'ingest-token',
        '--interval', '0.3', '--max-backoff', '30', '--spool-dir', spoolDir],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((ok) => child.on('exit', (code) => ok(code)));
    try {
      const until = async (check: () => boolean, what: string) => {
        for (let i = 0; i < 200 && !check(); i++) await new Promise((ok) => setTimeout(ok, 50));
        if (!check()) throw new Error(`timed out waiting for ${what}; stderr: ${stderr}`);
      };
      await until(() => existsSync(spoolDir) && readdirSync(spoolDir).filter((f) => f.endsWith('.json')).length >= 3, 'three spooled batches');
      up = true;
      // Whatever the back-off has not retried yet, the flush on SIGTERM must deliver.
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
      await mock.close();
      await new Promise<void>((ok) => ingest.close(() => ok()));
    }
    expect(stderr).toMatch(/server unavailable \(server answered 503: starting\)/);
    expect(readdirSync(spoolDir).filter((f) => f.endsWith('.json'))).toEqual([]);
    // Every round reached the server once and in order: the connector's n-th read is
    // 25.48 + 0.5 n kW, so heat rises by exactly 500 W from batch to batch.
    const heat = received.map((b) => table(b.readings)['cdu-1/heatRemovedW']);
    expect(heat.length).toBeGreaterThanOrEqual(3);
    expect(heat).toEqual(heat.map((_, n) => 25480 + 500 * n));
    expect(received.every((b) => b.site === 'bitten' && b.schema === 1)).toBe(true);
    const ts = received.map((b) => b.readings[0].ts);
    expect([...ts].sort()).toEqual(ts);
  });
});

describe.skipIf(missing('the Redfish mockups in ../shared/fixtures', existsSync(cdu) && existsSync(pdu) && existsSync(shelf)))('end to end into the HeatLedger server', () => {
  it('stores the mockup readings through the real ingest API, and a re-sent file only once', async () => {
    const t = makeApp({ now: Date.now() });
    const http = serve({ fetch: t.app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise<void>((ok) => (http.listening ? ok() : http.once('listening', () => ok())));
    const serverUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    const mock = await startMockup({ roots: [cdu, pdu, shelf], auth: 'session' });
    const send = ['--server', serverUrl, '--token', t.tokens.ingest, '--spool-dir', join(work, 'e2e-spool'), '--site', 'bitten', '--once'];
    try {
      captureOutput();
      for (let round = 0; round < 2; round++) {
        expect(await facilityCli(['--redfish', mock.url, '--user', USER, '--password-file', passwordFile, '--session', ...send])).toBe(0);
        await new Promise((ok) => setTimeout(ok, 5)); // two rounds, two instants
      }
      const rows = t.db.$client
        .prepare("SELECT meter, quantity, value FROM facility_readings WHERE site = 'bitten' ORDER BY ts, meter, quantity")
        .all() as Array<{ meter: string; quantity: string; value: number }>;
      expect(rows).toHaveLength(16);
      const heat = rows.filter((r) => r.meter === 'cdu-1' && r.quantity === 'heatRemovedW').map((r) => r.value);
      expect(heat).toEqual([25480, 25980]);
      const itPower = rows.filter((r) => r.quantity === 'itPowerW').map((r) => `${r.meter}=${r.value}`);
      expect(itPower).toEqual(['powershelf-1=6438', 'rackpdu-1=6438', 'powershelf-1=6438.5', 'rackpdu-1=6438.5']);
      expect(mock.sessionsDeleted).toHaveLength(2);

      const nowIso = new Date().toISOString();
      const csv = join(work, 'e2e.csv');
      writeFileSync(csv, `timestamp;meter;quantity;value\n${nowIso};district-heating;heatReusedW;18.250,5\n`);
      expect(await facilityCli(['--from-file', csv, ...send])).toBe(0);
      expect(await facilityCli(['--from-file', csv, ...send])).toBe(0);
      const reused = t.db.$client.prepare("SELECT value FROM facility_readings WHERE meter = 'district-heating'").all();
      expect(reused).toEqual([{ value: 18250.5 }]);
    } finally {
      await mock.close();
      await new Promise<void>((ok) => http.close(() => ok()));
    }
  });
});
