/**
 * End to end with real processes: the DMTF cooling-unit and PDU mockups served over HTTP
 * by this test with readings that rise on every request, `heatledger collect facility`
 * polling them every second into `heatledger serve`, and the server's cooling-loop and
 * KPI answers checked against what the mock served, integrated here by the trapezoid rule.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenByCli, startServerProcess, type ServerProcess } from '../support/server-process.ts';
import { missing } from '../support/requirements.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const cli = join(repoRoot, 'bin/heatledger.js');
const mockups = resolve(repoRoot, '../shared/fixtures/redfish/mockups');
const cduDir = join(mockups, 'public-cooling-unit');
const pduDir = join(mockups, 'public-pdu');
const CONNECTOR = '/redfish/v1/ThermalEquipment/CDUs/1/PrimaryCoolantConnectors/1';
const PDU_METRICS = '/redfish/v1/PowerEquipment/RackPDUs/1/Metrics';
const STEP = 0.5; // every Reading rises by this much per earlier GET of the same resource

type Json = Record<string, unknown>;

/** Adds `step` to every sensor Reading in a resource. */
function vary(value: unknown, step: number): unknown {
  if (Array.isArray(value)) return value.map((v) => vary(v, step));
  if (!value || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value as Json).map(([k, v]) => [k, k === 'Reading' && typeof v === 'number' ? v + step : vary(v, step)]));
}

/** The mockup trees as one Redfish service (same-path resources merged, first tree wins), counting GETs per path. */
async function serveMockups(roots: string[]) {
  const hits = new Map<string, number>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname.replace(/\/$/, '');
    const rel = path.replace(/^\/redfish\/v1\/?/, '');
    let body: Json | null = null;
    for (const root of roots) {
      const file = join(root, rel, 'index.json');
      if (!existsSync(file)) continue;
      const doc = JSON.parse(readFileSync(file, 'utf8')) as Json;
      if (!body) body = doc;
      else for (const [k, v] of Object.entries(doc)) if (!(k in body)) body[k] = v;
    }
    if (req.method !== 'GET' || !body) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"not found"}}');
      return;
    }
    const seen = hits.get(path) ?? 0;
    hits.set(path, seen + 1);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(vary(body, seen * STEP)));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}

/** Trapezoid integral of (ms, value) points, in value·ms. */
function trapezoid(points: Array<{ ts: number; value: number }>): number {
  let sum = 0;
  for (let i = 1; i < points.length; i++) sum += ((points[i - 1]!.value + points[i]!.value) / 2) * (points[i]!.ts - points[i - 1]!.ts);
  return sum;
}

describe.skipIf(missing('the Redfish mockups in ../shared/fixtures', existsSync(cduDir) && existsSync(pduDir)))('facility collector process → server process', () => {
  let server: ServerProcess;
  let mock: Awaited<ReturnType<typeof serveMockups>>;
  let stored: Array<{ ts: number; meter: string; quantity: string; value: number }>;
  let readToken: string;
  let collectorLog = '';

  beforeAll(async () => {
    server = await startServerProcess();
    mock = await serveMockups([cduDir, pduDir]);
    const ingestToken = createTokenByCli(server.dbPath, 'facility-e2e', 'ingest');
    readToken = createTokenByCli(server.dbPath, 'facility-e2e-read', 'read');
    const child = spawn(
      process.execPath,
      [cli, 'collect', 'facility', '--redfish', mock.url, '--server', server.url, '--token', ingestToken, '--interval', '1', '--site', 'bitten',
        '--spool-dir', mkdtempSync(join(tmpdir(), 'hl-facility-spool-'))],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout.on('data', (d: Buffer) => (collectorLog += d.toString()));
    child.stderr.on('data', (d: Buffer) => (collectorLog += d.toString()));
    const exited = new Promise<number | null>((ok) => child.once('exit', (code) => ok(code)));
    try {
      for (let i = 0; i < 600 && (mock.hits.get(CONNECTOR) ?? 0) < 5; i++) await sleep(50);
      if ((mock.hits.get(CONNECTOR) ?? 0) < 5) throw new Error(`the collector did not poll five times:\n${collectorLog}`);
      child.kill('SIGTERM'); // it delivers what it holds, then exits
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
    const db = new Database(server.dbPath, { readonly: true, fileMustExist: true });
    stored = db.prepare("SELECT ts, meter, quantity, value FROM facility_readings WHERE site = 'bitten' ORDER BY ts").all() as typeof stored;
    db.close();
  }, 120_000);

  afterAll(async () => {
    await mock?.close();
    await server?.stop();
  });

  const series = (meter: string, quantity: string) => stored.filter((r) => r.meter === meter && r.quantity === quantity).map(({ ts, value }) => ({ ts, value }));
  const window = () => {
    const first = stored[0]!.ts;
    const last = stored.at(-1)!.ts;
    const five = 5 * 60_000;
    return { from: new Date(Math.floor(first / five) * five - five).toISOString(), to: new Date(Math.ceil(last / five) * five + five).toISOString() };
  };
  const get = async (path: string) => {
    const res = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${readToken}` } });
    expect(res.status).toBe(200);
    return (await res.json()) as Json;
  };

  it('stores every round the mock served, once and in order', () => {
    const rounds = mock.hits.get(CONNECTOR)!;
    const heat = series('cdu-1', 'heatRemovedW');
    // The n-th GET of the connector served HeatRemovedkW 25.48 + 0.5 n, flow 42 + 0.5 n, 30 + 0.5 n → 40 + 0.5 n °C.
    expect(heat.length).toBe(rounds);
    expect(heat.map((p) => p.value)).toEqual(heat.map((_, n) => (25.48 + STEP * n) * 1000));
    expect(series('cdu-1', 'flowLpm').map((p) => p.value)).toEqual(heat.map((_, n) => 42 + STEP * n));
    expect(series('cdu-1', 'supplyTempC').map((p) => p.value)).toEqual(heat.map((_, n) => 30 + STEP * n));
    expect(series('cdu-1', 'returnTempC').map((p) => p.value)).toEqual(heat.map((_, n) => 40 + STEP * n));
    expect(series('rackpdu-1', 'itEnergyKWh').map((p) => p.value)).toEqual(heat.map((_, n) => 56438 + STEP * n));
    expect(mock.hits.get(PDU_METRICS)).toBe(rounds);
  });

  it('answers the cooling loop with time-weighted means, the heat integral and the heat check', async () => {
    const { from, to } = window();
    const body = await get(`/api/v1/energy/cooling?from=${from}&to=${to}&bucket=5m`);
    const meters = body.meters as Array<Json & { meter: string; heatCheck: Json }>;
    expect(meters.map((m) => m.meter)).toEqual(['cdu-1']);
    const m = meters[0]!;
    const flow = series('cdu-1', 'flowLpm');
    const spanMs = flow.at(-1)!.ts - flow[0]!.ts;
    const mean = (q: string) => trapezoid(series('cdu-1', q)) / spanMs;
    const flowLpm = mean('flowLpm');
    const supplyC = mean('supplyTempC');
    const returnC = mean('returnTempC');
    expect(m.flowLpm as number).toBeCloseTo(flowLpm, 6);
    expect(m.supplyTempC as number).toBeCloseTo(supplyC, 6);
    expect(m.returnTempC as number).toBeCloseTo(returnC, 6);
    const heatKWh = trapezoid(series('cdu-1', 'heatRemovedW')) / 3_600_000 / 1000;
    expect(m.heatRemovedKWh as number).toBeCloseTo(heatKWh, 9);
    const reportedKW = (heatKWh * 3_600_000) / spanMs;
    expect(m.heatRemovedKW as number).toBeCloseTo(reportedKW, 6);
    // Water between 35 °C (994.03 kg/m³) and 40 °C (992.22 kg/m³), interpolated; c_p ≈ 4178 J/(kg·K) there.
    const meanC = (supplyC + returnC) / 2;
    const rho = 994.03 + ((992.22 - 994.03) / 5) * (meanC - 35);
    const computedKW = (flowLpm * (returnC - supplyC) * rho * 4178) / 60_000 / 1000;
    expect(Math.abs((m.computedHeatKW as number) / computedKW - 1)).toBeLessThan(0.0005);
    const pct = ((reportedKW - computedKW) / computedKW) * 100;
    expect(m.heatCheck.reportedKW as number).toBeCloseTo(reportedKW, 6);
    expect(m.heatCheck.disagreementPct as number).toBeCloseTo(pct, 1);
    expect(m.heatCheck.flagged).toBe(Math.abs(pct) > 10);
    // Over the first few rounds the mockup's loop stays more than 10 % short of flow × ΔT (−12.4 % at the first reading).
    if (flow.length <= 6) expect(m.heatCheck.flagged).toBe(true);
    const buckets = m.series as Array<{ heatRemovedKWh: number | null }>;
    expect(buckets.reduce((s, b) => s + (b.heatRemovedKWh ?? 0), 0)).toBeCloseTo(heatKWh, 9);
  });

  it('answers the KPIs with the same heat and the PDU counter’s rise as IT energy', async () => {
    const { from, to } = window();
    const k = await get(`/api/v1/energy/kpis?from=${from}&to=${to}&bucket=hour`);
    const heatKWh = trapezoid(series('cdu-1', 'heatRemovedW')) / 3_600_000 / 1000;
    expect(k.heatRemovedKWh as number).toBeCloseTo(heatKWh, 9);
    // The rack PDU's EnergykWh counter rose 0.5 kWh per round; its counter wins over its power reading.
    const rounds = series('rackpdu-1', 'itEnergyKWh').length;
    expect(k.itEnergyKWh as number).toBeCloseTo(STEP * (rounds - 1), 9);
    // No site meter in these mockups: PUE is unknown, not 0.
    expect(k.facilityEnergyKWh).toBeNull();
    expect(k.pue).toBeNull();
    expect(k.heatPumpOnSite).toBe(true);
  });
});
