import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { testConfig } from '../../server/config.ts';
import { startServer } from '../../server/main.ts';

describe('the demo facility', () => {
  it('sends its history through the ingest API even when it is longer than the raw retention window', async () => {
    const dbPath = join(mkdtempSync(join(tmpdir(), 'hl-demo-')), 'h.db');
    const lines: string[] = [];
    const server = await startServer({ ...testConfig({ dbPath, webDir: '/nonexistent', demo: true, demoDays: 2, retentionDays: 1 }), port: 0, host: '127.0.0.1' }, (l) => lines.push(l));
    const stats = await server.demo!.history;
    await server.close();
    expect(lines.join('\n')).not.toMatch(/history failed/);
    const db = new Database(dbPath, { readonly: true });
    const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
    // Two days every five minutes, 32 nodes × 4 GPUs, one sample each, inclusive of both ends.
    const steps = count('SELECT COUNT(DISTINCT ts) AS n FROM gpu_samples');
    expect(count('SELECT COUNT(*) AS n FROM gpu_samples')).toBe(steps * 128);
    // The history is every five-minute step of the two days; a live tick may follow before close.
    expect(stats.gpuSamples).toBeGreaterThanOrEqual(2 * 288 * 128);
    expect(stats.gpuSamples % 128).toBe(0);
    expect([stats.gpuSamples / 128, stats.gpuSamples / 128 + 1]).toContain(steps);
    expect(count("SELECT COUNT(*) AS n FROM jobs WHERE state = 'COMPLETED'")).toBeGreaterThan(20);
    expect(count('SELECT COUNT(DISTINCT account) AS n FROM jobs')).toBe(12);
    // A national grant and one sub-allocation per project; the five one-click accounts.
    expect(count('SELECT COUNT(*) AS n FROM allocations')).toBe(13);
    expect(count('SELECT COUNT(*) AS n FROM users WHERE password_hash IS NOT NULL')).toBe(5);
    expect(count("SELECT COUNT(DISTINCT quantity) AS n FROM facility_readings")).toBe(10);
    db.close();
  });
});
