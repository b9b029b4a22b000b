import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../db/client.ts';

describe('schema and migrations', () => {
  it('keeps the raw and rollup tables WITHOUT ROWID (a hand edit drizzle-kit could drop)', () => {
    const db = openDatabase(':memory:');
    const tables = db.$client.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string; sql: string }>;
    const withoutRowid = tables.filter((t) => /WITHOUT ROWID\s*$/.test(t.sql)).map((t) => t.name).sort();
    expect(withoutRowid).toEqual(['change_stamp', 'energy_job', 'energy_job_inferred', 'energy_project_day', 'energy_project_hour', 'energy_project_month', 'facility_interval', 'facility_quantity_day', 'facility_quantity_hour', 'facility_readings', 'gpu_hour', 'gpu_samples', 'job_hour', 'usage_day', 'usage_day_account', 'usage_day_project', 'usage_month', 'usage_month_project']);
  });

  it('applies migrations to a file in WAL mode, and a second open changes nothing', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'hl-schema-')), 'h.db');
    const first = openDatabase(path);
    expect(first.$client.pragma('journal_mode', { simple: true })).toBe('wal');
    const applied = first.$client.prepare('SELECT COUNT(*) AS n FROM __drizzle_migrations').get();
    first.$client.close();
    const second = openDatabase(path);
    expect(second.$client.prepare('SELECT COUNT(*) AS n FROM __drizzle_migrations').get()).toEqual(applied);
    second.$client.close();
  });
});

describe('heatledger CLI', () => {
  const cli = (args: string[], input?: string) =>
    execFileSync(process.execPath, ['bin/heatledger.js', ...args], { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });

  it('prints a new token as one line and stores only its hash', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'hl-cli-')), 'h.db');
    const out = cli(['token', 'create', '--name', 'node-07', '--scope', 'ingest', '--db', path]);
    expect(out).toMatch(/^hl_ingest_1_[A-Za-z0-9_-]{43}\n$/);
    const db = openDatabase(path);
    const row = db.$client.prepare('SELECT name, scope, token_hash FROM api_tokens').get() as { name: string; scope: string; token_hash: string };
    expect(row.name).toBe('node-07');
    expect(row.token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(row.token_hash).not.toContain(out.trim());
    db.$client.close();
  });

  it('adds a person with a password from stdin, hashed with scrypt', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'hl-cli-')), 'h.db');
    cli(['user', 'add', '--name', 'pia', '--role', 'pi', '--project', 'proj-x', '--db', path], 'a long password\n');
    const db = openDatabase(path);
    const row = db.$client.prepare('SELECT username, role, password_hash AS h FROM users').get() as { username: string; role: string; h: string };
    expect([row.username, row.role]).toEqual(['pia', 'pi']);
    expect(row.h).toMatch(/^scrypt\$16384\$8\$1\$/);
    expect(row.h).not.toContain('a long password');
    db.$client.close();
  });

  it('refuses a bad scope with exit code 2 and one line', () => {
    let status = 0;
    let stderr = '';
    try {
      cli(['token', 'create', '--name', 'x', '--scope', 'root']);
    } catch (error) {
      ({ status, stderr } = error as { status: number; stderr: string });
    }
    expect(status).toBe(2);
    expect(stderr).toBe('heatledger token: token create: --scope must be ingest, read or admin\n');
  });
});
