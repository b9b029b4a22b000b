/**
 * `heatledger collect gpu --dcgm-exporter URL…`: recorded dcgm-exporter scrapes served over
 * HTTP; one batch per node, an exporter that times out or serves something else named on
 * stderr while the others' samples still go through, and a real server storing them.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { serve } from '@hono/node-server';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { captureOutput } from '../../test/support/capture-output.ts';
import { missing } from '../../test/support/requirements.ts';
import { makeApp } from '../../test/support/factories.ts';
import { UsageError } from '../shared/usage-error.ts';
import type { GpuBatch } from '../shared/wire.ts';
import { gpuCli } from './gpu.cli.ts';

const dir = resolve(import.meta.dirname, '../../../shared/fixtures/dcgm-exporter');
const L4 = 'cncf-k8s-ai-conformance_kops_l4_580.105.08.prom';
const A800 = 'johns-blog_a800-sxm4-80gb_x8_mig-2g.20gb_power-energy_EXCERPT.prom';

afterEach(() => vi.restoreAllMocks());

describe.skipIf(missing('../shared/fixtures/dcgm-exporter', existsSync(dir)))('collect gpu --dcgm-exporter', () => {
  let exporters: Server;
  let base: string;
  beforeAll(async () => {
    exporters = createServer((req, res) => {
      if (req.url === '/slow') return void setTimeout(() => res.end('late'), 1_500);
      if (req.url === '/html') return void res.end('<html><body>login</body></html>\n');
      const file = req.url!.slice(1);
      if (!existsSync(resolve(dir, file))) return void res.writeHead(404).end();
      res.setHeader('content-type', 'text/plain; version=0.0.4');
      res.end(readFileSync(resolve(dir, file)));
    });
    await new Promise<void>((r) => exporters.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(exporters.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => exporters.close(() => r())));

  it('prints one batch per node from several exporters, and names the ones that fail', async () => {
    const { out, err } = captureOutput();
    const code = await gpuCli(['--once', '--stdout', '--cluster', 'k8s', '--scrape-timeout', '1', '--dcgm-exporter', `${base}/${L4}`, `${base}/${A800}`, `${base}/slow`, `${base}/html`]);
    expect(code).toBe(0);
    const batches = out.join('').trim().split('\n').map((l) => JSON.parse(l) as GpuBatch);
    const l4 = readFileSync(resolve(dir, L4), 'utf8');
    const a800 = readFileSync(resolve(dir, A800), 'utf8');
    expect(batches.map((b) => b.node).sort()).toEqual([/Hostname="([^"]+)"/.exec(l4)![1], /Hostname="([^"]+)"/.exec(a800)![1]].sort());
    expect(batches.every((b) => b.cluster === 'k8s' && b.schema === 1)).toBe(true);
    const a800Batch = batches.find((b) => b.node === /Hostname="([^"]+)"/.exec(a800)![1])!;
    // The file's GPUs, each once: distinct UUIDs of its power lines.
    const uuids = new Set([...a800.matchAll(/DCGM_FI_DEV_POWER_USAGE\{[^}]*UUID="([^"]+)"/g)].map((m) => m[1]));
    expect(a800Batch.samples.map((s) => s.gpuUuid).sort()).toEqual([...uuids].sort());
    const stderr = err.join('');
    expect(stderr).toContain(`dcgm-exporter ${base}/slow: no answer within 1 s`);
    expect(stderr).toMatch(new RegExp(`dcgm-exporter ${base}/html: .*not a dcgm-exporter scrape|dcgm-exporter ${base}/html: line 1`));
  });

  it('sends the batches to a server, which stores the GPUs and their power', async () => {
    const t = makeApp({ now: Date.now() });
    const http = serve({ fetch: t.app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise<void>((ok) => (http.listening ? ok() : http.once('listening', () => ok())));
    try {
      const { err } = captureOutput();
      const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
      const spool = mkdtempSync(join(tmpdir(), 'hl-dcgm-spool-'));
      const code = await gpuCli(['--once', '--server', url, '--token', t.tokens.ingest, '--spool-dir', spool, '--dcgm-exporter', `${base}/${L4}`]);
      expect(err.join('')).toBe('');
      expect(code).toBe(0);
      const l4 = readFileSync(resolve(dir, L4), 'utf8');
      const power = Number(/^DCGM_FI_DEV_POWER_USAGE\{.*\} (\S+)$/m.exec(l4)![1]);
      const row = t.db.$client.prepare('SELECT g.uuid, g.model, c.power_w AS powerW FROM gpus g JOIN gpu_cursor c ON c.gpu_id = g.id').get() as { uuid: string; model: string; powerW: number };
      expect(row).toEqual({ uuid: /UUID="([^"]+)"/.exec(l4)![1], model: 'NVIDIA L4', powerW: power });
    } finally {
      await new Promise<void>((ok) => http.close(() => ok()));
    }
  });

  it('refuses an exporter address that is not a URL, and a job label it does not know', async () => {
    await expect(gpuCli(['--once', '--stdout', '--dcgm-exporter', 'not a url'])).rejects.toThrow(UsageError);
    await expect(gpuCli(['--once', '--stdout', '--dcgm-exporter', `${base}/${L4}`, '--job-label', 'slurm'])).rejects.toThrow(/--job-label must be hpc_job or pod/);
  });
});
