/**
 * Issue 15 point 16: a client that writes its whole body before reading (Python's urllib,
 * or any request with `Connection: close`) must read the 413, not a broken pipe. A real
 * listening server and real sockets: app.request() has no socket to close.
 */
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../../server/config.ts';
import { startServer, type RunningServer } from '../../server/main.ts';
import { createToken } from '../../server/services/auth.service.ts';
import { openDatabase } from '../../db/client.ts';
import { mkdtempSync } from 'node:fs';
import { job } from '../support/factories.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const LIMIT = 1000;
let server: RunningServer;
let token: string;

beforeAll(async () => {
  const dbPath = join(mkdtempSync(join(tmpdir(), 'hl-413-')), 'h.db');
  const db = openDatabase(dbPath);
  token = createToken(db, 'ingest', 'ingest');
  db.$client.close();
  server = await startServer({ ...testConfig({ dbPath, webDir: '/nonexistent', maxBodyBytes: LIMIT }), port: 0, host: '127.0.0.1' }, () => {});
});
afterAll(() => server.close());

/** Writes the request whole, then reads until the server closes: what came back, and any socket error. */
function sendAllThenRead(port: number, head: string, body: Buffer | Buffer[]): Promise<{ text: string; error: string | null }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    let error: string | null = null;
    socket.on('data', (d) => got.push(d));
    socket.on('error', (e) => (error = (e as NodeJS.ErrnoException).code ?? e.message));
    socket.on('close', () => resolve({ text: Buffer.concat(got).toString(), error }));
    socket.write(head);
    for (const b of Array.isArray(body) ? body : [body]) socket.write(b);
    socket.end();
  });
}

const statusLine = (text: string) => text.split('\r\n')[0];
const jsonOf = (text: string) => JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { error: { code: string; message: string } };

describe('a refused body (413) reaches a client that sends it all before reading', () => {
  it('with Content-Length and Connection: close, a body 5,000 times the limit', async () => {
    const bytes = 5_000_000;
    const head = `POST /api/v1/ingest/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${bytes}\r\nConnection: close\r\n\r\n`;
    const r = await sendAllThenRead(server.port, head, Buffer.alloc(bytes, 0x20));
    expect(r.error).toBeNull();
    expect(statusLine(r.text)).toBe('HTTP/1.1 413 Payload Too Large');
    expect(jsonOf(r.text).error).toEqual({ code: 'TOO_LARGE', message: `request body larger than ${LIMIT} bytes` });
  });

  it('chunked, with Connection: close', async () => {
    const chunk = Buffer.from(`c350\r\n${' '.repeat(50_000)}\r\n`);
    const head = `POST /api/v1/ingest/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`;
    const r = await sendAllThenRead(server.port, head, [...Array.from({ length: 100 }, () => chunk), Buffer.from('0\r\n\r\n')]);
    expect(r.error).toBeNull();
    expect(statusLine(r.text)).toBe('HTTP/1.1 413 Payload Too Large');
    expect(jsonOf(r.text).error.code).toBe('TOO_LARGE');
  });

  it('a chunked body within the limit is still read and ingested', async () => {
    const json = JSON.stringify({ schema: 1, cluster: 'c', jobs: [job({ jobId: '1' })] });
    expect(json.length).toBeLessThan(LIMIT);
    const head = `POST /api/v1/ingest/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`;
    const r = await sendAllThenRead(server.port, head, Buffer.from(`${json.length.toString(16)}\r\n${json}\r\n0\r\n\r\n`));
    expect(statusLine(r.text)).toBe('HTTP/1.1 202 Accepted');
  });

  it("with Python's urllib (body sent whole before the answer is read)", async () => {
    const script = [
      'import sys, urllib.request, urllib.error',
      "req = urllib.request.Request(sys.argv[1] + '/api/v1/ingest/jobs', data=b' ' * 5000000, headers={'Content-Type': 'application/json', 'Authorization': 'Bearer ' + sys.argv[2]}, method='POST')",
      'try:',
      '    urllib.request.urlopen(req)',
      "    print('accepted')",
      'except urllib.error.HTTPError as e:',
      "    print(e.code, e.read().decode())",
      'except Exception as e:',
      "    print('failed', repr(e))",
    ].join('\n');
    const out = await new Promise<string>((resolve, reject) =>
      execFile('python3', ['-c', script, server.url, token], (error, stdout) => (error ? reject(error) : resolve(stdout.trim()))),
    );
    expect(out).toBe(`413 {"error":{"code":"TOO_LARGE","message":"request body larger than ${LIMIT} bytes"}}`);
  });
});
