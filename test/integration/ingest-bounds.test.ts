/**
 * Issue 15 point 11: impossible inputs are refused whole, with a message naming the field
 * and the reason, and nothing of them is stored. Bounds a site may need to move (GPUs per
 * job, the earliest date) come from the configuration.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { finishDraft, type JobDraft } from '../../collectors/slurm/job-draft.ts';
import { jobSchema } from '../../collectors/shared/wire.ts';
import { openDatabase } from '../../db/client.ts';
import { loadConfig, ConfigError } from '../../server/config.ts';
import { importAllocationsCsv } from '../../server/services/allocation.service.ts';
import { H, T0, iso, job, makeApp, series } from '../support/factories.ts';

type App = ReturnType<typeof makeApp>;

async function refusal(res: Response): Promise<string> {
  expect(res.status).toBe(400);
  const { error } = (await res.json()) as { error: { code: string; message: string } };
  expect(error.code).toBe('VALIDATION');
  return error.message;
}

const postJobs = (t: App, jobs: ReturnType<typeof job>[]) =>
  t.app.request('/api/v1/ingest/jobs', {
    method: 'POST',
    headers: { authorization: `Bearer ${t.tokens.ingest}`, 'content-type': 'application/json' },
    body: JSON.stringify({ schema: 1, cluster: 'bitten', jobs }),
  });

const postAllocation = (t: App, body: Record<string, unknown>) =>
  t.app.request('/api/v1/allocations', {
    method: 'POST',
    headers: { authorization: `Bearer ${t.tokens.admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({ project: 'proj-a', parentId: null, grantedGpuHours: 1000, periodStart: '2026-01-01T00:00:00Z', periodEnd: '2026-12-31T00:00:00Z', ...body }),
  });

/** Rows a refused job batch could have left: jobs, their accounts and users, usage. */
const jobRows = (t: App) => {
  const schedulerUsers = (t.db.$client.prepare('SELECT COUNT(*) AS n FROM users WHERE password_hash IS NULL').get() as { n: number }).n;
  return t.count('jobs') + t.count('projects') + t.count('usage_day') + schedulerUsers;
};

describe('impossible job records', () => {
  it('refuses a job that starts before it was submitted (a negative wait), with the rest of its batch', async () => {
    const t = makeApp();
    const res = await postJobs(t, [job({ jobId: '1' }), job({ jobId: '2', submitTime: iso(T0 + H), startTime: iso(T0), endTime: iso(T0 + 2 * H) })]);
    expect(await refusal(res)).toBe(`jobs.1.startTime: ${iso(T0)} is before its submitTime ${iso(T0 + H)}`);
    expect(jobRows(t)).toBe(0);
  });

  it('refuses a job on more GPUs than the site allows, and takes it where the bound is raised', async () => {
    const t = makeApp();
    const huge = job({ jobId: '2', gpus: 100_000 });
    expect(await refusal(await postJobs(t, [job({ jobId: '1' }), huge]))).toBe('jobs.1.gpus: 100000 is more than the 10000 GPUs a job may hold (HEATLEDGER_MAX_GPUS_PER_JOB)');
    expect(jobRows(t)).toBe(0);
    // 10,000 GPUs is still a job.
    expect((await postJobs(t, [job({ jobId: '3', gpus: 10_000 })])).status).toBe(202);

    const big = makeApp({ config: { maxGpusPerJob: 100_000 } });
    expect((await postJobs(big, [huge])).status).toBe(202);
    expect(big.count('jobs')).toBe(1);
  });

  it('refuses a job in 1970 (an unset clock), and takes it where the earliest date is moved', async () => {
    const t = makeApp();
    const epoch = job({ jobId: '1', submitTime: '1970-01-01T00:00:00Z', eligibleTime: null, startTime: '1970-01-01T00:00:05Z', endTime: '1970-01-01T01:00:05Z' });
    expect(await refusal(await postJobs(t, [epoch]))).toBe('jobs.0.submitTime: 1970-01-01T00:00:00Z is before 2000-01-01, the earliest date accepted (HEATLEDGER_EARLIEST_DATE)');
    const lateEnd = job({ jobId: '2', endTime: '1999-12-31T23:59:59Z', startTime: null, state: 'CANCELLED' });
    expect(await refusal(await postJobs(t, [lateEnd]))).toMatch(/^jobs\.0\.endTime: 1999-12-31T23:59:59Z is before 2000-01-01/);
    expect(jobRows(t)).toBe(0);

    const old = makeApp({ config: { earliestAcceptedTs: Date.parse('1965-01-01') } });
    expect((await postJobs(old, [epoch])).status).toBe(202);
  });

  it('refuses 30 February and 24:00 in job records, GPU samples and facility readings instead of rolling them over', async () => {
    const t = makeApp();
    const feb30 = job({ jobId: '1', submitTime: '2026-02-30T10:00:00Z', eligibleTime: null, startTime: null, endTime: null, state: 'PENDING' });
    expect(await refusal(await postJobs(t, [feb30]))).toBe('jobs.0.submitTime: is not a date and time on the calendar');
    const midnight24 = job({ jobId: '2', endTime: iso(T0).slice(0, 11) + '24:00:00Z' });
    expect(await refusal(await postJobs(t, [midnight24]))).toBe('jobs.0.endTime: is not a date and time on the calendar');

    const samples = series(T0, T0 + 20_000, 10);
    samples[1]!.ts = '2026-11-31T10:00:10Z';
    const gpu = await t.client.api.v1.ingest.gpu.$post({ json: { schema: 1, cluster: 'bitten', node: 'n1', samples } }, t.auth(t.tokens.ingest));
    expect(await refusal(gpu as unknown as Response)).toBe('samples.1.ts: is not a date and time on the calendar');

    const facility = await t.client.api.v1.ingest.facility.$post(
      { json: { schema: 1, site: 'bitten', readings: [{ ts: '2026-04-31T00:00:00Z', meter: 'm', quantity: 'itPowerW', value: 1 }] } },
      t.auth(t.tokens.ingest),
    );
    expect(await refusal(facility as unknown as Response)).toBe('readings.0.ts: is not a date and time on the calendar');
    expect(jobRows(t) + t.count('gpu_samples') + t.count('gpus') + t.count('facility_readings')).toBe(0);
  });
});

describe('impossible grants', () => {
  it('refuses 1e308 GPU-hours', async () => {
    const t = makeApp();
    expect(await refusal(await postAllocation(t, { grantedGpuHours: 1e308 }))).toBe('grantedGpuHours: 1e+308 is more than 1000000000 GPU-hours');
    expect(t.count('allocations')).toBe(0);
    expect(t.count('audit_log')).toBe(0);
  });

  it('refuses a period in year 275760, in 2500, or on 30 February, and a change to one', async () => {
    const t = makeApp();
    expect(await refusal(await postAllocation(t, { periodEnd: '+275760-09-13T00:00:00.000Z' }))).toBe(
      'periodEnd: +275760-09-13T00:00:00.000Z is not a date on the calendar (YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ)',
    );
    expect(await refusal(await postAllocation(t, { periodEnd: '2500-01-01T00:00:00Z' }))).toBe('periodEnd: 2500-01-01T00:00:00Z is not in the years 2000-2199');
    expect(await refusal(await postAllocation(t, { periodStart: '2026-02-30T00:00:00Z' }))).toBe(
      'periodStart: 2026-02-30T00:00:00Z is not a date on the calendar (YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ)',
    );
    expect(t.count('allocations')).toBe(0);

    const created = await postAllocation(t, {});
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: number };
    const patch = await t.app.request(`/api/v1/allocations/${id}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${t.tokens.admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ grantedGpuHours: 5e9 }),
    });
    expect(await refusal(patch)).toBe('grantedGpuHours: 5000000000 is more than 1000000000 GPU-hours');
    expect(t.db.$client.prepare('SELECT amount FROM allocations').all()).toEqual([{ amount: 1000 }]);
  });

  it('refuses them in a CSV import, naming the line, and imports nothing', () => {
    const t = makeApp();
    const header = 'project,parent,grantedGpuHours,periodStart,periodEnd';
    const ok = 'proj-a,,1000,2026-01-01,2026-12-31';
    const cases: Array<[string, string]> = [
      ['proj-b,,1e308,2026-01-01,2026-12-31', 'line 3: grantedGpuHours: 1e+308 is more than 1000000000 GPU-hours'],
      ['proj-b,,10,2026-02-30,2026-12-31', "line 3: periodStart '2026-02-30' is not a date on the calendar"],
      ['proj-b,,10,2026-01-01,275760-09-13', "line 3: periodEnd '275760-09-13' is not a date on the calendar"],
    ];
    for (const [line, message] of cases) {
      expect(() => importAllocationsCsv(t.db.$client, [header, ok, line].join('\n'), 'admin', T0)).toThrow(message);
      expect(t.count('allocations')).toBe(0);
    }
  });

  it('refuses them from the command line with one line and status 1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hl-bounds-'));
    const csv = join(dir, 'grants.csv');
    writeFileSync(csv, 'project,parent,grantedGpuHours,periodStart,periodEnd\nproj-a,,1000,2026-02-30,2026-12-31\n');
    const path = join(dir, 'h.db');
    let status = 0;
    let stderr = '';
    try {
      execFileSync(process.execPath, ['bin/heatledger.js', 'allocation', 'import', csv, '--db', path], { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (error) {
      ({ status, stderr } = error as { status: number; stderr: string });
    }
    expect(status).toBe(1);
    expect(stderr).toBe("heatledger allocation: line 2: periodStart '2026-02-30' is not a date on the calendar\n");
    const db = openDatabase(path, { refreshRollups: false });
    expect(db.$client.prepare('SELECT COUNT(*) AS n FROM allocations').get()).toEqual({ n: 0 });
    db.$client.close();
  });
});

describe('configuration of the bounds', () => {
  it('reads them from the environment and refuses an impossible earliest date', () => {
    const c = loadConfig({ HEATLEDGER_MAX_GPUS_PER_JOB: '50000', HEATLEDGER_EARLIEST_DATE: '1995-06-01' });
    expect([c.maxGpusPerJob, c.earliestAcceptedTs]).toEqual([50_000, Date.UTC(1995, 5, 1)]);
    expect([loadConfig({}).maxGpusPerJob, loadConfig({}).earliestAcceptedTs]).toEqual([10_000, Date.UTC(2000, 0, 1)]);
    expect(() => loadConfig({ HEATLEDGER_EARLIEST_DATE: '2026-02-30' })).toThrow(ConfigError);
    expect(() => loadConfig({ HEATLEDGER_EARLIEST_DATE: '2026-02-30' })).toThrow('HEATLEDGER_EARLIEST_DATE: is not a date on the calendar');
  });
});

describe('the Slurm collector and the bounds', () => {
  it('skips, with a warning, a record that starts before its submit time instead of sending a batch the server refuses', () => {
    const warnings: string[] = [];
    const base: JobDraft = {
      jobId: '5', arrayJobId: null, name: 'j', user: 'u', account: 'a', partition: 'gpu', qos: null,
      state: 'COMPLETED', submitS: 1_800_000_000, eligibleS: 1_800_000_000, startS: 1_799_999_000, endS: 1_800_003_600,
      allocGpus: [{ count: 2, type: null }], reqGpus: [], allocCpus: 4, reqCpus: 4, nodes: ['n1'], hasAllocation: true, exitCode: 0, cluster: 'c',
    };
    expect(finishDraft(base, (w) => warnings.push(w))).toEqual([]);
    expect(warnings).toEqual(['job 5: skipped, starts before its submit time']);
    const [ok] = finishDraft({ ...base, startS: 1_800_000_000 }, () => {});
    expect(jobSchema.safeParse(ok!.job).success).toBe(true);
  });
});
