/**
 * Issue 15 §4: tokens listed, revoked and expiring, with the real `heatledger token` commands
 * run against the database of a real `heatledger serve` in another process. A revocation
 * must hold from the server's very next request, although the server prepares its token
 * lookup once and keeps read answers for a second.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenByCli, startServerProcess, type ServerProcess } from '../support/server-process.ts';

function cli(dbPath: string, ...args: string[]) {
  const run = spawnSync(process.execPath, ['bin/heatledger.js', 'token', ...args, '--db', dbPath], { encoding: 'utf8' });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('heatledger token list / revoke / --expires against a running server', () => {
  let server: ServerProcess;
  const tokens: Record<string, string> = {};
  let shortCreatedBetween: [number, number];
  const get = async (token: string) => {
    const res = await fetch(`${server.url}/api/v1/allocations`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: (await res.json()) as { error?: { code: string; message: string } } };
  };

  beforeAll(async () => {
    server = await startServerProcess();
    tokens.reader = createTokenByCli(server.dbPath, 'reader', 'read');
    tokens.collectorsA = createTokenByCli(server.dbPath, 'collectors', 'ingest');
    tokens.collectorsB = createTokenByCli(server.dbPath, 'collectors', 'ingest');
    const before = Date.now();
    const short = cli(server.dbPath, 'create', '--name', 'short', '--scope', 'read', '--expires', '8s');
    shortCreatedBetween = [before, Date.now()];
    expect(short.status).toBe(0);
    tokens.short = short.stdout.trim();
    // Usable until it expires (each CLI run takes a second or so on a busy machine).
    const fresh = await get(tokens.short);
    expect(Date.now()).toBeLessThan(shortCreatedBetween[0] + 8000);
    expect(fresh.status).toBe(200);
  });
  afterAll(() => server?.stop());

  it('prints each token as one line that begins with its prefix (scope and row id)', () => {
    expect(tokens.reader).toMatch(/^hl_read_1_[A-Za-z0-9_-]{43}$/);
    expect(tokens.collectorsA).toMatch(/^hl_ingest_2_[A-Za-z0-9_-]{43}$/);
    expect(tokens.collectorsB).toMatch(/^hl_ingest_3_[A-Za-z0-9_-]{43}$/);
    expect(tokens.short).toMatch(/^hl_read_4_[A-Za-z0-9_-]{43}$/);
  });

  it('lists name, scope, prefix, times and state, never a token or its hash', () => {
    const listed = cli(server.dbPath, 'list');
    expect(listed.status).toBe(0);
    const rows = listed.stdout.trimEnd().split('\n').map((line) => line.split(/\s{2,}/));
    expect(rows[0]).toEqual(['PREFIX', 'NAME', 'SCOPE', 'STATE', 'CREATED', 'EXPIRES', 'REVOKED']);
    expect(rows.slice(1).map((r) => r.slice(0, 4))).toEqual([
      ['hl_read_1_', 'reader', 'read', 'live'],
      ['hl_ingest_2_', 'collectors', 'ingest', 'live'],
      ['hl_ingest_3_', 'collectors', 'ingest', 'live'],
      ['hl_read_4_', 'short', 'read', 'live'],
    ]);
    expect(rows.slice(1, 4).map((r) => r[5])).toEqual(['-', '-', '-']);

    const json = cli(server.dbPath, 'list', '--json');
    expect(json.status).toBe(0);
    const entries = JSON.parse(json.stdout) as Array<{ prefix: string; name: string; expires: string | null; revoked: string | null }>;
    expect(entries.map((e) => e.name)).toEqual(['reader', 'collectors', 'collectors', 'short']);
    // The CLI made the short token between these two instants; it expires 8 s after.
    const shortExpiresMs = Date.parse(entries[3]!.expires!);
    expect(shortExpiresMs).toBeGreaterThanOrEqual(shortCreatedBetween[0] + 8000);
    expect(shortExpiresMs).toBeLessThanOrEqual(shortCreatedBetween[1] + 8000);
    expect(rows[4]![5]).toBe(entries[3]!.expires!.slice(0, 19) + 'Z');

    for (const token of Object.values(tokens)) {
      const secret = token.slice(token.indexOf('_', 3) + 1);
      const hash = createHash('sha256').update(token).digest('hex');
      for (const out of [listed.stdout, json.stdout]) {
        expect(out).not.toContain(secret.slice(-20));
        expect(out).not.toContain(hash.slice(0, 16));
      }
    }
  });

  it('revokes by name, and the server refuses the token at its next request', async () => {
    // Warm the server: the lookup is prepared and the answer kept for a second.
    expect((await get(tokens.reader!)).status).toBe(200);
    expect((await get(tokens.reader!)).status).toBe(200);
    const revoked = cli(server.dbPath, 'revoke', 'reader');
    expect(revoked.status).toBe(0);
    expect(revoked.stdout).toBe('revoked hl_read_1_ (reader, read)\n');
    const refused = await get(tokens.reader!);
    expect(refused.status).toBe(401);
    expect(refused.body.error!.code).toBe('UNAUTHORIZED');
    // The others are untouched (an ingest token may not read: 403 means it was recognised).
    expect((await get(tokens.collectorsA!)).status).toBe(403);
  });

  it('refuses a name that fits several tokens, revokes none, then revokes one by its prefix', async () => {
    const ambiguous = cli(server.dbPath, 'revoke', 'collectors');
    expect(ambiguous.status).toBe(1);
    expect(ambiguous.stderr).toBe(
      "heatledger token: name 'collectors' fits 2 tokens: hl_ingest_2_ (collectors), hl_ingest_3_ (collectors); nothing revoked; give the prefix of one\n",
    );
    expect((await get(tokens.collectorsA!)).status).toBe(403);
    expect((await get(tokens.collectorsB!)).status).toBe(403);

    const byPrefix = cli(server.dbPath, 'revoke', 'hl_ingest_2');
    expect(byPrefix.status).toBe(0);
    expect(byPrefix.stdout).toBe('revoked hl_ingest_2_ (collectors, ingest)\n');
    expect((await get(tokens.collectorsA!)).status).toBe(401);
    expect((await get(tokens.collectorsB!)).status).toBe(403);

    const gone = cli(server.dbPath, 'revoke', 'hl_ingest_2_');
    expect(gone.status).toBe(1);
    expect(gone.stderr).toMatch(/no unrevoked token is named 'hl_ingest_2_' or begins with it/);
  });

  it('refuses an expired token from the moment it expires', async () => {
    // It answered 200 when made (beforeAll); once past its expiry it is refused.
    const expiresMs = shortCreatedBetween[1] + 8000;
    if (Date.now() <= expiresMs) await new Promise((resolve) => setTimeout(resolve, expiresMs - Date.now() + 50));
    const refused = await get(tokens.short!);
    expect(refused.status).toBe(401);
    expect(refused.body.error!.message).toBe('unknown, revoked or expired token');
    const listed = cli(server.dbPath, 'list');
    expect(listed.stdout).toMatch(/^hl_read_4_\s+short\s+read\s+expired\s/m);
  });

  it('writes each create and revoke to the audit log, without the token', () => {
    const db = new Database(server.dbPath, { readonly: true });
    const rows = db.prepare("SELECT action, target, details FROM audit_log WHERE action LIKE 'token.%' ORDER BY id").all() as Array<{ action: string; target: string; details: string }>;
    db.close();
    expect(rows.map((r) => [r.action, r.target, JSON.parse(r.details).prefix])).toEqual([
      ['token.create', 'token:reader', 'hl_read_1_'],
      ['token.create', 'token:collectors', 'hl_ingest_2_'],
      ['token.create', 'token:collectors', 'hl_ingest_3_'],
      ['token.create', 'token:short', 'hl_read_4_'],
      ['token.revoke', 'token:reader', 'hl_read_1_'],
      ['token.revoke', 'token:collectors', 'hl_ingest_2_'],
    ]);
    const details = rows.map((r) => r.details).join('\n');
    for (const token of Object.values(tokens)) expect(details).not.toContain(token.slice(-20));
  });
});
