import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { testConfig } from '../../server/config.ts';
import { startServer } from '../../server/main.ts';
import { jobReport } from '../../server/services/job-report.service.ts';

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

    // A few wasteful jobs for the efficiency report: flagged, and each flag checked against job_gpu read here.
    const ended = db.prepare("SELECT cluster, job_id AS jobId FROM jobs WHERE end_ts IS NOT NULL AND start_ts IS NOT NULL AND gpus > 0").all() as Array<{ cluster: string; jobId: string }>;
    const deps = { sqlite: db, config: testConfig(), now: () => Date.now() };
    const admin = { accounts: null, users: null, perUser: true, role: 'admin' as const };
    const flagged = new Map<string, string[]>();
    for (const j of ended) flagged.set(j.jobId, jobReport(deps, j.cluster, j.jobId, admin).flags.map((f) => f.code));
    const withFlag = (code: string) => [...flagged].filter(([, codes]) => codes.includes(code)).map(([id]) => id);
    const perGpu = (jobId: string) => db.prepare('SELECT x.idle_s / x.gpu_s AS idle, x.mem_peak_mib / g.mem_total_mib AS mem FROM job_gpu x JOIN gpus g ON g.id = x.gpu_id WHERE x.job_id = ?').all(jobId) as Array<{ idle: number; mem: number }>;
    expect(withFlag('idle-gpus').length).toBeGreaterThan(0);
    for (const id of withFlag('idle-gpus')) {
      const gpus = perGpu(id);
      expect(gpus.filter((g) => g.idle >= 0.8).length).toBeGreaterThan(0);
      expect(gpus.filter((g) => g.idle < 0.8).length).toBeGreaterThan(0);
    }
    expect(withFlag('low-memory').length).toBeGreaterThan(0);
    for (const id of withFlag('low-memory')) expect(Math.max(...perGpu(id).map((g) => g.mem))).toBeLessThan(0.25);
    for (const id of withFlag('all-idle')) expect(perGpu(id).every((g) => g.idle >= 0.8)).toBe(true);
    // Jobs that used what they asked for carry no flag: the demo's LLM training mostly does.
    const llm = db.prepare("SELECT job_id AS id FROM jobs WHERE account = 'dtu-llm' AND end_ts IS NOT NULL AND start_ts IS NOT NULL").all() as Array<{ id: string }>;
    const clean = llm.filter((j) => flagged.get(j.id)?.length === 0);
    expect(clean.length).toBeGreaterThan(llm.length / 2);
    db.close();
  });
});
