/**
 * /metrics against Debian's Prometheus (CI installs the `prometheus` package): promtool
 * checks a real scrape, and a real Prometheus scraping a running HeatLedger every second
 * answers `increase(heatledger_project_gpu_seconds_total[…])` as /api/v1/usage answers the
 * same window, within one scrape interval's worth of GPU-seconds.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { gpuCli } from '../../collectors/gpu/gpu.cli.ts';
import type { GpuBatch } from '../../collectors/shared/wire.ts';
import { captureOutput } from '../support/capture-output.ts';
import { missing } from '../support/requirements.ts';
import { createTokenByCli, startServerProcess, type ServerProcess } from '../support/server-process.ts';

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const present = has('prometheus') && has('promtool');

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

const GPUS = 4;
const SCRAPE_S = 1;

describe.skipIf(missing("Debian's prometheus and promtool on PATH", present))('/metrics scraped by a real Prometheus', () => {
  let server: ServerProcess;
  let prometheus: ChildProcess;
  let promUrl: string;
  let readToken: string;
  /** A recorded dcgm-exporter scrape served as an exporter, which the Prometheus scrapes too. */
  let exporter: Server;
  let exporterSince: number;
  const dcgmFile = resolve(import.meta.dirname, '../../../shared/fixtures/dcgm-exporter/cncf-k8s-ai-conformance_kops_l4_580.105.08.prom');

  beforeAll(async () => {
    server = await startServerProcess();
    const ingest = createTokenByCli(server.dbPath, 'e2e-ingest', 'ingest');
    readToken = createTokenByCli(server.dbPath, 'e2e-read', 'read');
    const started = new Date(Date.now() - 3_600_000).toISOString();
    const res = await fetch(`${server.url}/api/v1/ingest/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ingest}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        schema: 1,
        cluster: 'prom',
        jobs: [{ jobId: 'run-1', user: 'carol', account: 'prom-proj', partition: 'gpu', state: 'RUNNING', submitTime: started, startTime: started, endTime: null, gpus: GPUS }],
      }),
    });
    expect(res.status).toBe(202);
    // What every shipped dashboard panel shows: a job waiting, GPU samples of the running job,
    // the facility's meters over the last ten minutes, a grant, and one refused batch.
    const post = (path: string, body: unknown, token = ingest) =>
      fetch(`${server.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const nowMs = Date.now();
    const iso = (ms: number) => new Date(ms).toISOString();
    expect((await post('/api/v1/ingest/jobs', { schema: 1, cluster: 'prom', jobs: [{ jobId: 'wait-1', user: 'dave', account: 'prom-proj', partition: 'gpu', state: 'PENDING', submitTime: iso(nowMs - 600_000), startTime: null, endTime: null, gpus: 2 }] })).status).toBe(202);
    const samples = Array.from({ length: 11 }, (_, i) => ({ ts: iso(nowMs - 600_000 + i * 60_000), gpuUuid: 'GPU-prom-0', gpuIndex: 0, model: 'NVIDIA H200', utilPct: 80, memUsedMiB: 1000, memTotalMiB: 143_771, powerW: 500, powerLimitW: 700, tempC: 50, processes: [], jobIds: ['run-1'] }));
    expect((await post('/api/v1/ingest/gpu', { schema: 1, cluster: 'prom', node: 'pn1', samples })).status).toBe(202);
    const readings = Array.from({ length: 11 }, (_, i) => iso(nowMs - 600_000 + i * 60_000)).flatMap((ts) => [
      { ts, meter: 'it', quantity: 'itPowerW', value: 100_000 },
      { ts, meter: 'main', quantity: 'facilityPowerW', value: 120_000 },
      { ts, meter: 'heat', quantity: 'heatReusedW', value: 60_000 },
    ]);
    expect((await post('/api/v1/ingest/facility', { schema: 1, site: 'prom-site', readings })).status).toBe(202);
    const admin = createTokenByCli(server.dbPath, 'e2e-admin', 'admin');
    expect((await post('/api/v1/allocations', { project: 'prom-proj', grantedGpuHours: 1000, periodStart: iso(nowMs - 86_400_000), periodEnd: iso(nowMs + 86_400_000) }, admin)).status).toBe(201);
    expect((await post('/api/v1/ingest/gpu', { schema: 1, cluster: 'prom', node: 'pn1', samples: 'none' })).status).toBe(400);
    exporter = createHttpServer((_req, res) => res.end(readFileSync(dcgmFile)));
    await new Promise<void>((r) => exporter.listen(0, '127.0.0.1', () => r()));
    exporterSince = Date.now();
    const dir = mkdtempSync(join(tmpdir(), 'hl-prom-'));
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    writeFileSync(
      join(dir, 'prometheus.yml'),
      [
        'global:',
        `  scrape_interval: ${SCRAPE_S}s`,
        'scrape_configs:',
        '  - job_name: heatledger',
        '    authorization:',
        `      credentials: ${readToken}`,
        '    static_configs:',
        `      - targets: ['${new URL(server.url).host}']`,
        '  - job_name: dcgm',
        '    static_configs:',
        `      - targets: ['127.0.0.1:${(exporter.address() as { port: number }).port}']`,
        '',
      ].join('\n'),
    );
    prometheus = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
    // Until the target is up and has been scraped for a while.
    for (let i = 0; i < 300; i++) {
      await new Promise((r) => setTimeout(r, 200));
      const r = await promQuery('count_over_time(up{job="heatledger"}[1m])').catch(() => null);
      if (r && Number(r[0]?.value[1] ?? 0) >= 25) return;
    }
    throw new Error('Prometheus did not scrape HeatLedger');
  }, 120_000);

  afterAll(async () => {
    prometheus?.kill('SIGTERM');
    exporter?.close();
    await server?.stop();
  });

  async function promQuery(query: string, time?: number): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
    const params = new URLSearchParams({ query, ...(time === undefined ? {} : { time: String(time / 1000) }) });
    const body = (await (await fetch(`${promUrl}/api/v1/query?${params}`)).json()) as { status: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
    if (body.status !== 'success') throw new Error(JSON.stringify(body));
    return body.data.result;
  }

  it('passes promtool check metrics (the text format; promtool lints no OpenMetrics)', async () => {
    const text = await (await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${readToken}`, accept: 'text/plain' } })).text();
    expect(text).toContain('heatledger_project_gpu_seconds_total{project="prom-proj",partition="gpu"}');
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(`${check.stdout}${check.stderr}`.trim()).toBe('');
    expect(check.status).toBe(0);
  });

  it('is scraped by Prometheus, which asks for OpenMetrics first, with every sample taken', async () => {
    const [up] = await promQuery('up{job="heatledger"}');
    expect(up!.value[1]).toBe('1');
    const [scraped] = await promQuery('scrape_samples_scraped{job="heatledger"}');
    const text = await (await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${readToken}`, accept: 'application/openmetrics-text; version=1.0.0' } })).text();
    // Sample lines of the OpenMetrics answer (its _created lines are samples too).
    const lines = text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
    expect(Number(scraped!.value[1])).toBe(lines);
  });

  it('answers increase() over a window as /api/v1/usage does, within one scrape interval', async () => {
    const at = Date.now() - 2_000;
    const windowS = 20;
    const [series] = await promQuery(`increase(heatledger_project_gpu_seconds_total{project="prom-proj"}[${windowS}s])`, at);
    const usage = (await (
      await fetch(`${server.url}/api/v1/usage?groupBy=project&from=${new Date(at - windowS * 1000).toISOString()}&to=${new Date(at).toISOString()}`, {
        headers: { authorization: `Bearer ${readToken}` },
      })
    ).json()) as { rows: Array<{ key: string; gpuHours: number }> };
    const expected = usage.rows.find((r) => r.key === 'prom-proj')!.gpuHours * 3600;
    // Worked out by hand too: 4 GPUs for the 20 s of the window.
    expect(expected).toBeCloseTo(GPUS * windowS, 6);
    expect(Math.abs(Number(series!.value[1]) - expected)).toBeLessThanOrEqual(GPUS * SCRAPE_S);
  });

  it('shipped Grafana dashboards: every panel query is valid PromQL (promtool), names metrics /metrics exports, and returns data', async () => {
    const dashboards = resolve(import.meta.dirname, '../../deploy/grafana');
    // Grafana's range variables as a short dashboard range would set them.
    const concrete = (expr: string) => expr.replaceAll('$__rate_interval', '15s').replaceAll('$__range', '1m').replaceAll('$__interval', '1s');
    const exprs = readdirSync(dashboards)
      .filter((f) => f.endsWith('.json'))
      .flatMap((f) => (JSON.parse(readFileSync(join(dashboards, f), 'utf8')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> }).panels.flatMap((p) => p.targets.map((t) => ({ file: f, panel: p.title, expr: concrete(t.expr) }))));
    expect(exprs.length).toBeGreaterThanOrEqual(15);
    const dir = mkdtempSync(join(tmpdir(), 'hl-panels-'));
    const rules = ['groups:', '  - name: panels', '    rules:', ...exprs.flatMap((e, i) => [`      - record: panel_${i}`, `        expr: ${JSON.stringify(e.expr)}`])].join('\n');
    writeFileSync(join(dir, 'panels.yml'), `${rules}\n`);
    const check = spawnSync('promtool', ['check', 'rules', join(dir, 'panels.yml')], { encoding: 'utf8' });
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
    const exported = await (await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${readToken}` } })).text();
    for (const e of exprs) {
      for (const name of e.expr.match(/\b(heatledger_[a-z_]+|process_[a-z_]+)\b/g) ?? []) expect(exported, `${e.file} "${e.panel}" names ${name}`).toMatch(new RegExp(`^${name}[{ ]`, 'm'));
      expect((await promQuery(e.expr)).length, `${e.file} "${e.panel}": ${e.expr}`).toBeGreaterThan(0);
    }
  });

  it('backfills GPU samples from the Prometheus that scraped a dcgm-exporter (query_range), as the file holds them', async () => {
    const text = readFileSync(dcgmFile, 'utf8');
    const { out } = captureOutput();
    const code = await gpuCli(['--prometheus', promUrl, '--since', new Date(exporterSince).toISOString(), '--query-range-step', '1s', '--once', '--stdout', '--cluster', 'k8s']);
    vi.restoreAllMocks();
    expect(code).toBe(0);
    const batches = out.join('').trim().split('\n').map((l) => JSON.parse(l) as GpuBatch);
    const samples = batches.flatMap((b) => b.samples);
    // One sample a second from the first scrape to two seconds ago: at least the 20 s the set-up waited.
    expect(samples.length).toBeGreaterThanOrEqual(20);
    expect(new Set(batches.map((b) => b.node))).toEqual(new Set([/Hostname="([^"]+)"/.exec(text)![1]]));
    const line = (metric: string) => Number(new RegExp(`^${metric}\\{.*\\} (\\S+)$`, 'm').exec(text)![1]);
    for (const s of samples) {
      expect(s).toMatchObject({ gpuUuid: /UUID="([^"]+)"/.exec(text)![1], model: 'NVIDIA L4', powerW: line('DCGM_FI_DEV_POWER_USAGE'), utilPct: line('DCGM_FI_DEV_GPU_UTIL'), memUsedMiB: line('DCGM_FI_DEV_FB_USED'), tempC: line('DCGM_FI_DEV_GPU_TEMP') });
    }
    // Each second once, in order.
    const ts = samples.map((s) => Date.parse(s.ts));
    expect(ts.every((t, i) => i === 0 || t - ts[i - 1]! === 1000)).toBe(true);
  });

  it('sends the backfill to the server, keeps a watermark, and resumes from it without sending an instant twice', async () => {
    const spool = mkdtempSync(join(tmpdir(), 'hl-prom-spool-'));
    const ingest = createTokenByCli(server.dbPath, 'e2e-backfill', 'ingest');
    const args = ['--prometheus', promUrl, '--since', new Date(exporterSince).toISOString(), '--query-range-step', '1s', '--once', '--server', server.url, '--token', ingest, '--spool-dir', spool, '--cluster', 'k8s'];
    const { err } = captureOutput();
    const firstCode = await gpuCli(args);
    expect(err.join(''), 'stderr').toBe('');
    expect(firstCode).toBe(0);
    const first = JSON.parse(readFileSync(join(spool, 'prometheus-watermark.state'), 'utf8')) as { untilMs: number };
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await gpuCli(args)).toBe(0);
    vi.restoreAllMocks();
    const second = JSON.parse(readFileSync(join(spool, 'prometheus-watermark.state'), 'utf8')) as { untilMs: number };
    expect(second.untilMs).toBeGreaterThanOrEqual(first.untilMs + 2_000);
    // Stored: one sample per second from the first scrape up to the second watermark, none twice.
    const db = new Database(server.dbPath, { readonly: true });
    const rows = db.prepare("SELECT s.ts FROM gpu_samples s JOIN gpus g ON g.id = s.gpu_id WHERE g.uuid LIKE 'GPU-c2f76b33%' ORDER BY s.ts").all() as Array<{ ts: number }>;
    db.close();
    expect(rows.length).toBeGreaterThanOrEqual(20);
    expect(rows.at(-1)!.ts).toBeLessThan(second.untilMs);
    expect(new Set(rows.map((r) => r.ts)).size).toBe(rows.length);
    expect(rows.map((r, i) => (i === 0 ? 1000 : r.ts - rows[i - 1]!.ts)).filter((d) => d !== 1000)).toEqual([]);
  });
});
