/**
 * Issue 19 point 2: the monthly digest per researcher and per PI, by `heatledger report
 * monthly`, written to files or mailed through a real SMTP server (smtp-server). Job 50
 * (alice) held four GPUs for an hour of November 2026 and used one; job 51 (bob) used its one.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { GpuSample } from '../../collectors/shared/wire.ts';
import { addUser } from '../../server/services/auth.service.ts';
import { monthlyDigests } from '../../server/services/digest.service.ts';
import { H, T0, iso, job, makeApp, sample } from '../support/factories.ts';
import { startSmtpSink } from '../support/smtp.ts';

const repoRoot = resolve(import.meta.dirname, '../..');

async function setUp() {
  const t = makeApp();
  addUser(t.db, { username: 'alice', role: 'researcher', password: 'correct horse', projects: ['proj-a'], email: 'alice@sdu.example' });
  addUser(t.db, { username: 'carol', role: 'pi', password: 'correct horse', projects: ['proj-a'], email: 'carol@sdu.example', lang: 'da' });
  const jobs = [job({ jobId: '50', gpus: 4, user: 'alice' }), job({ jobId: '51', gpus: 1, user: 'bob', startTime: iso(T0 + 2 * H), endTime: iso(T0 + 3 * H), submitTime: iso(T0 + H) })];
  expect((await t.client.api.v1.ingest.jobs.$post({ json: { schema: 1, cluster: 'bitten', jobs } }, t.auth(t.tokens.ingest))).status).toBe(202);
  const samples: GpuSample[] = [];
  for (let m = 0; m <= 60; m++) {
    samples.push(sample({ ts: iso(T0 + m * 60_000), gpuUuid: 'GPU-a', gpuIndex: 0, utilPct: 90, memUsedMiB: 100_000, powerW: 600, jobIds: ['50'] }));
    for (const [i, uuid] of ['GPU-b', 'GPU-c', 'GPU-d'].entries()) samples.push(sample({ ts: iso(T0 + m * 60_000), gpuUuid: uuid, gpuIndex: i + 1, utilPct: 0, memUsedMiB: 100_000, powerW: 100, jobIds: ['50'] }));
    samples.push(sample({ ts: iso(T0 + 2 * H + m * 60_000), gpuUuid: 'GPU-e', gpuIndex: 4, utilPct: 95, memUsedMiB: 100_000, powerW: 700, jobIds: ['51'] }));
  }
  expect((await t.client.api.v1.ingest.gpu.$post({ json: { schema: 1, cluster: 'bitten', node: 'gpu-n01', samples } }, t.auth(t.tokens.ingest))).status).toBe(202);
  return t;
}

const run = (args: string[], env: Record<string, string> = {}) =>
  new Promise<{ code: number | null; stderr: string }>((res) => {
    const child = spawn(process.execPath, [join(repoRoot, 'bin/heatledger.js'), ...args], { cwd: repoRoot, env: { ...process.env, ...env } });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => res({ code, stderr }));
  });

describe('the monthly digest', () => {
  it('gives each researcher their own jobs and flags, and the PI the project’s by member, in the PI’s Danish', async () => {
    const t = await setUp();
    const digests = monthlyDigests(t.db.$client, { publicUrl: null }, '2026-11', T0 + 48 * H);
    expect(digests.map((d) => [d.kind, d.user, d.email, d.lang])).toEqual([
      ['researcher', 'alice', 'alice@sdu.example', 'en'],
      ['researcher', 'bob', null, 'en'],
      ['pi', 'carol', 'carol@sdu.example', 'da'],
    ]);
    const [alice, bob, carol] = digests;
    expect(alice!.subject).toBe('[HeatLedger] Your GPU jobs in November 2026');
    // 4 GPU-hours; 600 W + 3 × 100 W for an hour.
    expect(alice!.text).toContain('Your GPU jobs (1) used 4.0 GPU-hours and 0.9 kWh');
    expect(alice!.text).toContain('- Job 50 (proj-a, 4 GPUs, 4.0 GPU-hours, 0.9 kWh): 3 of 4 GPUs were idle for 100 % of the job: ask for 1 GPU(s)');
    expect(alice!.text).not.toContain('bob');
    expect(bob!.text).toContain('Your GPU jobs (1) used 1.0 GPU-hours and 0.7 kWh');
    expect(bob!.text).toContain('No job with something to change.');
    expect(bob!.text).not.toContain('Job 50');
    expect(carol!.subject).toBe('[HeatLedger] Dine projekters GPU-job i november 2026');
    expect(carol!.text).toContain('proj-a: Projektets GPU-job (2) brugte 5,0 GPU-timer og 1,6 kWh');
    expect(carol!.text).toContain('- Job 50 (proj-a, alice, 4 GPU’er, 4,0 GPU-timer, 0,9 kWh): 3 af 4 GPU’er var ledige i 100 % af jobbet: bed om 1 GPU(er)');
  });

  it('writes files without --send, and mails those with an address through SMTP with --send', async () => {
    const t = await setUp();
    const dir = mkdtempSync(join(tmpdir(), 'hl-digest-'));
    const db = join(dir, 'heatledger.db');
    writeFileSync(db, t.db.$client.serialize());
    const files = await run(['report', 'monthly', '--month', '2026-11', '--out', join(dir, 'files'), '--db', db]);
    expect(files.code, files.stderr).toBe(0);
    expect(files.stderr).toContain('report monthly 2026-11: 2 researchers, 1 PIs; 0 mailed, 3 written to');
    expect(readdirSync(join(dir, 'files')).sort()).toEqual(['pi-carol.txt', 'researcher-alice.txt', 'researcher-bob.txt']);
    expect(readFileSync(join(dir, 'files', 'researcher-alice.txt'), 'utf8')).toMatch(/^Subject: \[HeatLedger\] Your GPU jobs in November 2026\n\nYour GPU jobs \(1\) used 4\.0 GPU-hours/);

    const smtp = await startSmtpSink();
    const { port, mails } = smtp;
    try {
      const sent = await run(['report', 'monthly', '--month', '2026-11', '--send', '--out', join(dir, 'unsent'), '--db', db], { HEATLEDGER_SMTP_URL: `smtp://127.0.0.1:${port}`, HEATLEDGER_MAIL_FROM: 'heatledger@bitten.example' });
      expect(sent.code, sent.stderr).toBe(0);
      expect(sent.stderr).toContain('2 mailed, 1 written');
      expect(mails.map((m) => m.to).sort()).toEqual(['alice@sdu.example', 'carol@sdu.example']);
      expect(readdirSync(join(dir, 'unsent'))).toEqual(['researcher-bob.txt']);
    } finally {
      await smtp.close();
    }
  });

  it('refuses a month that is not one, naming it', async () => {
    const t = await setUp();
    expect(() => monthlyDigests(t.db.$client, { publicUrl: null }, '2026-13', T0)).toThrow('--month: 2026-13 is not a month (YYYY-MM)');
  });
});
