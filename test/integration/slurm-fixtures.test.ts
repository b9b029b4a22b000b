/**
 * Conformance over every saved Slurm sample in ../shared/fixtures/slurm. The expected
 * values were read from the files by hand (epochs converted to UTC, TRES lists counted)
 * and are written here as literals; a new file without expectations fails the test.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseSlurmOutput } from '../../collectors/slurm/parse-input.ts';
import { jobsBatchSchema, type JobRecord } from '../../collectors/shared/wire.ts';
import { missing } from '../support/requirements.ts';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const sharedDir = join(repoRoot, '..', 'shared', 'fixtures', 'slurm');

type Expect = Partial<JobRecord> & { jobId: string };
interface FileExpectation {
  format: string;
  cluster: string | null;
  count: number;
  jobs: Expect[];
  warnings?: string[];
}

// The one-node CI cluster's workload (recipe demo-jobs.sh), as sacct -P printed it in UTC.
const live = (id: string, fields: Omit<Expect, 'jobId'>): Expect => ({ jobId: id, ...fields });
const liveCommon = { submitTime: '2026-11-28T10:56:59.000Z' };
const liveFinished: Expect[] = [
  live('1', { ...liveCommon, name: 'a-gpu1', user: 'alice', account: 'proj-a', partition: 'gpu', state: 'COMPLETED', startTime: '2026-11-28T10:57:01.000Z', endTime: '2026-11-28T10:57:06.000Z', gpus: 2, arrayJobId: null }),
  live('2', { ...liveCommon, user: 'alice', account: 'proj-a', partition: 'gpu', state: 'COMPLETED', startTime: '2026-11-28T10:57:01.000Z', endTime: '2026-11-28T10:57:06.000Z', gpus: 2 }),
  live('3', { ...liveCommon, user: 'alice', account: 'proj-a', partition: 'gpu', state: 'COMPLETED', startTime: '2026-11-28T10:57:07.000Z', endTime: '2026-11-28T10:57:12.000Z', gpus: 2 }),
  live('4', { ...liveCommon, user: 'bob', account: 'proj-b', partition: 'batch', state: 'COMPLETED', startTime: '2026-11-28T10:57:07.000Z', endTime: '2026-11-28T10:57:10.000Z', gpus: 0 }),
  live('5', { ...liveCommon, user: 'bob', account: 'proj-b', partition: 'batch', state: 'COMPLETED', startTime: '2026-11-28T10:57:11.000Z', endTime: '2026-11-28T10:57:14.000Z', gpus: 0 }),
  live('6', { ...liveCommon, name: 'b-fail', user: 'bob', account: 'proj-b', partition: 'gpu', state: 'FAILED', startTime: '2026-11-28T10:57:14.000Z', endTime: '2026-11-28T10:57:15.000Z', gpus: 1 }),
  live('7', { ...liveCommon, name: 'b-cancel', user: 'bob', account: 'proj-b', partition: 'gpu', state: 'CANCELLED', startTime: '2026-11-28T10:57:17.000Z', endTime: '2026-11-28T10:57:18.000Z', gpus: 4 }),
  // Rejected (8 GPUs on a 4-GPU node): start = end = submit and nothing allocated.
  live('9', { ...liveCommon, name: 'too-big', user: 'alice', account: 'proj-a', partition: 'gpu', state: 'FAILED', startTime: null, endTime: '2026-11-28T10:56:59.000Z', gpus: 0, nodes: [] }),
  live('8_1', { ...liveCommon, arrayJobId: '8', user: 'root', account: 'proj-a', partition: 'batch', state: 'COMPLETED', eligibleTime: '2026-11-28T10:57:01.000Z', startTime: '2026-11-28T10:57:17.000Z', endTime: '2026-11-28T10:57:19.000Z', gpus: 0 }),
  live('8_2', { ...liveCommon, arrayJobId: '8', user: 'root', account: 'proj-a', partition: 'batch', state: 'COMPLETED', eligibleTime: '2026-11-28T10:57:01.000Z', startTime: '2026-11-28T10:57:18.000Z', endTime: '2026-11-28T10:57:20.000Z', gpus: 0 }),
];
const withNodes = (jobs: Expect[]) => jobs.map((j) => (j.jobId === '9' ? j : { ...j, nodes: ['c1'], cpus: 1 }));
// sacct -P on 22.05 has the exit codes right; its JSON says 0 for every job (recipe gotcha 7).
const psvExit: Record<string, number> = { '6': 3, '9': 1 };

const xdmodCommon = {
  arrayJobId: '4103947', user: 'unknown', account: 'anon', partition: 'general-compute', qos: 'qos', state: 'TIMEOUT' as const,
  submitTime: '2015-06-26T13:57:00.000Z', eligibleTime: '2015-06-26T13:57:00.000Z',
  startTime: '2015-06-28T02:55:50.000Z', endTime: '2015-07-01T02:55:50.000Z', gpus: 0, cpus: 256, exitCode: 1, name: '1AbC-2-3',
};

const expectations: Record<string, FileExpectation> = {
  'rivos_squeue-json_slurm-21.08.5_openapi-v0.0.37.json': {
    format: 'squeue-json', cluster: 'rivos', count: 11,
    jobs: [
      // RUNNING: end_time 1686633833 is the projected end, so no end yet.
      { jobId: '26515966', arrayJobId: null, name: 'job_name', user: 'bkd', account: 'account1', partition: 'hw-l', qos: 'normal', state: 'RUNNING', submitTime: '2023-05-15T01:41:40.000Z', startTime: '2023-05-15T01:42:01.000Z', endTime: null, gpus: 0, cpus: 1, nodes: ['cs75'] },
      // A pending array "1-10" becomes its ten tasks.
      { jobId: '58948420_1', arrayJobId: '58948420', state: 'PENDING', submitTime: '2024-10-23T20:37:28.000Z', eligibleTime: null, startTime: null, endTime: null, gpus: 0, nodes: [], partition: 'hw-m' },
      { jobId: '58948420_10', arrayJobId: '58948420', state: 'PENDING', user: 'bkd', account: 'account1' },
    ],
  },
  'sarc_sacct-json_slurm-21.08.8_openapi-dbv0.0.37_cedar.json': {
    format: 'sacct-json', cluster: 'cedar', count: 1,
    jobs: [{ jobId: '55978384', arrayJobId: null, name: 'submitit', user: 'purah', account: 'rrg-bengioy-ad_gpu', partition: 'gpubackfill', qos: 'normal', state: 'REQUEUED', submitTime: '2023-01-09T14:37:03.000Z', startTime: '2023-01-09T14:37:03.000Z', endTime: '2023-01-10T16:49:46.000Z', gpus: 1, gpuType: null, cpus: 4, nodes: ['cdr896'] }],
  },
  'sarc_sacct-json_slurm-22.05.9_openapi-dbv0.0.38_narval.json': {
    format: 'sacct-json', cluster: 'narval', count: 1,
    jobs: [{ jobId: '20247445_100', arrayJobId: '20247445', user: 'hudson', account: 'rrg-bengioy-ad_gpu', partition: 'gpubase_bynode_b4', state: 'FAILED', submitTime: '2023-08-16T04:40:13.000Z', eligibleTime: '2023-08-16T04:40:14.000Z', startTime: '2023-09-03T11:30:41.000Z', endTime: '2023-09-04T22:04:04.000Z', gpus: 16, cpus: 96, nodes: ['ng30103', 'ng30203', 'ng30706', 'ng30707'], exitCode: null }],
  },
  'sarc_sacct-json_slurm-23.11.5_data-parser-v0.0.40_mila.json': {
    format: 'sacct-json', cluster: 'mila', count: 1,
    jobs: [{ jobId: '4', name: 'sh', user: 'masterkohga', account: 'mila', partition: 'main', state: 'RUNNING', submitTime: '2021-02-19T09:00:09.000Z', startTime: '2021-02-19T09:00:09.000Z', endTime: null, gpus: 2, cpus: 4, nodes: ['mila02'], exitCode: 0 }],
  },
  'slurmweb_slurmrestd-slurm-job_gpus-running_25.11_v0.0.44.json': {
    format: 'squeue-json', cluster: 'hpc', count: 1,
    // tres_alloc_str has no gres/gpu; gres_detail "gpu:h100:4(IDX:0-3)" does.
    jobs: [{ jobId: '5557', user: 'jbeck', account: 'biology', partition: 'gpu', state: 'RUNNING', submitTime: '2025-11-10T14:24:06.000Z', startTime: '2025-11-10T14:24:06.000Z', endTime: null, gpus: 4, gpuType: 'h100', nodes: ['gpu2'] }],
  },
  'slurmweb_slurmrestd-slurm-jobs_25.05_v0.0.41.json': {
    format: 'squeue-json', cluster: 'hpc', count: 14,
    jobs: [
      { jobId: '1', user: 'emendoza', account: 'biology', partition: 'standard', state: 'TIMEOUT', submitTime: '2025-05-20T15:22:58.000Z', startTime: '2025-05-20T15:23:01.000Z', endTime: '2025-05-20T15:24:07.000Z', gpus: 0, nodes: ['cn1'] },
      { jobId: '3', user: 'tmcgrath', account: 'admin', state: 'FAILED', exitCode: 1 },
      { jobId: '4', state: 'RUNNING', startTime: '2025-05-20T15:24:08.000Z', endTime: null, cpus: 128, nodes: ['cn1', 'cn2'] },
      // Pending: start_time 1747758199 is only Slurm's forecast.
      { jobId: '14', user: 'tnixon', state: 'PENDING', submitTime: '2025-05-20T15:23:19.000Z', eligibleTime: '2025-05-20T16:23:19.000Z', startTime: null, endTime: null, gpus: 0, cpus: 4, nodes: [] },
    ],
  },
  'slurmweb_slurmrestd-slurmdb-job_gpus-completed_24.05_v0.0.41.json': {
    format: 'sacct-json', cluster: 'hpc', count: 1,
    // No gres/gpu TRES on this cluster; the submit line says --gpus 4.
    jobs: [{ jobId: '10', user: 'acuevas', account: 'acoustic', partition: 'gpu', state: 'COMPLETED', submitTime: '2025-11-07T15:34:14.000Z', startTime: '2025-11-07T15:34:15.000Z', endTime: '2025-11-07T15:34:45.000Z', gpus: 4, cpus: 1, nodes: ['gpu1'], exitCode: 0 }],
  },
  'slurmweb_slurmrestd-slurmdb-job_gpus-completed_25.11_v0.0.44.json': {
    format: 'sacct-json', cluster: 'hpc', count: 1,
    jobs: [{ jobId: '5141', user: 'acuevas', account: 'acoustic', partition: 'gpu', state: 'COMPLETED', submitTime: '2025-11-10T14:19:19.000Z', startTime: '2025-11-10T14:19:19.000Z', endTime: '2025-11-10T14:19:50.000Z', gpus: 4, nodes: ['gpu1'] }],
  },
  'xdmod_sacct-parsable2-noheader_accounting-logs-with-job-arrays.log': {
    format: 'sacct-parsable-xdmod', cluster: 'ub-hpc', count: 6,
    jobs: [
      { ...xdmodCommon, jobId: '4103947_100' },
      // Bracketed ids of jobs that are not pending stay as Slurm printed them.
      { ...xdmodCommon, jobId: '4103947_[1-3]' },
      { ...xdmodCommon, jobId: '4103947_[9-11,13,16-20]' },
    ],
  },
  'xdmod_sacct-parsable2-noheader_accounting-logs.log': {
    format: 'sacct-parsable-xdmod', cluster: 'ub-hpc', count: 4,
    jobs: [
      { ...xdmodCommon, jobId: '4103947', arrayJobId: null },
      { jobId: '4107166', user: 'hanx', account: 'dspumpkins', state: 'CANCELLED', submitTime: '2015-06-26T19:51:25.000Z', eligibleTime: '2015-06-26T19:51:26.000Z', startTime: '2015-06-28T15:14:49.000Z', endTime: '2015-07-01T13:17:53.000Z', cpus: 36, nodes: ['k10n26s01', 'k13n36s01', 'k13n37s01'], exitCode: 0, name: '100-Floors-of-Frights' },
      { jobId: '4107219', user: 'anonuser', account: 'anonacct', state: 'COMPLETED', gpus: 0, cpus: 48 },
      { jobId: '5692623', user: 'xms', account: 'ccr', partition: null, state: 'COMPLETED', submitTime: '2016-08-01T06:01:08.000Z', eligibleTime: null, startTime: '2016-08-01T07:04:09.000Z', endTime: '2016-08-01T07:04:09.000Z', gpus: 2, nodes: ['cpn-k16-35-01', 'cpn-k16-37-01'] },
    ],
  },
  'xdmod_sacct-parsable2-noheader_non-ended-job-state.log': {
    format: 'sacct-parsable-xdmod', cluster: 'phillips', count: 2,
    jobs: [
      { jobId: '3451067', user: 'noror', account: 'chaff', partition: 'focaccia', state: 'RUNNING', startTime: '2020-06-30T19:24:08.000Z', endTime: null, cpus: 12 },
      { jobId: '3483276', user: 'honbu', account: 'taifl', partition: 'black', state: 'PENDING', submitTime: '2020-07-01T15:28:17.000Z', startTime: null, endTime: null, cpus: 40, nodes: [] },
    ],
  },
  'xdmod_sacct-parsable2-noheader_unknown-job-state.log': {
    format: 'sacct-parsable-xdmod', cluster: null, count: 0, jobs: [],
    warnings: ["job 3451067: skipped, unknown state 'FOO'", "job 3483276: skipped, unknown state 'BAR'"],
  },
  'debian-22.05-live/sacct.json': {
    format: 'sacct-json', cluster: 'ci', count: 10,
    // 22.05's JSON says SUCCESS/0 for the failed jobs: unknown, so null.
    jobs: withNodes(liveFinished).map((j) => ({ ...j, exitCode: j.state === 'FAILED' ? null : 0 })),
  },
  'debian-22.05-live/restd-slurmdb-jobs.json': {
    format: 'sacct-json', cluster: 'ci', count: 10,
    jobs: withNodes(liveFinished).map((j) => ({ ...j, exitCode: j.state === 'FAILED' ? null : 0 })),
  },
  'debian-22.05-live/restd-slurm-jobs.json': {
    format: 'squeue-json', cluster: 'ci', count: 10,
    // The controller's exit_code is a wait status: 768 = exit 3.
    jobs: withNodes(liveFinished).map((j) => (j.jobId === '6' ? { ...j, exitCode: 3 } : j)),
  },
  'debian-22.05-live/sacct.psv': {
    format: 'sacct-parsable', cluster: null, count: 10,
    jobs: liveFinished.map((j) => ({ ...j, eligibleTime: null })),
  },
  'debian-22.05-live/sacct-steps.psv': {
    format: 'sacct-parsable', cluster: null, count: 10,
    jobs: liveFinished.map((j) => ({ ...j, exitCode: psvExit[j.jobId] ?? 0, eligibleTime: j.eligibleTime ?? '2026-11-28T10:56:59.000Z' })),
  },
  'debian-22.05-live/squeue.json': {
    format: 'squeue-json', cluster: 'ci', count: 10,
    jobs: [
      // Taken right after submission: all queued, GPUs requested via tres_per_node "gres:gpu:2".
      { jobId: '1', user: 'alice', account: 'proj-a', partition: 'gpu', state: 'PENDING', submitTime: '2026-11-28T10:56:59.000Z', startTime: null, endTime: null, gpus: 2, nodes: [] },
      { jobId: '4', user: 'bob', account: 'proj-b', partition: 'batch', state: 'PENDING', gpus: 0 },
      { jobId: '7', user: 'bob', state: 'PENDING', gpus: 4 },
      { jobId: '8_1', arrayJobId: '8', user: 'root', state: 'PENDING', eligibleTime: null },
      { jobId: '8_2', arrayJobId: '8', user: 'root', state: 'PENDING' },
      { jobId: '9', state: 'FAILED', startTime: null, endTime: '2026-11-28T10:56:59.000Z', gpus: 0, nodes: [] },
    ],
  },
};
// Not job data: squeue's default table and sreport have no times or TRES to read.
const rejected: Record<string, RegExp> = {
  'debian-22.05-live/squeue.txt': /neither Slurm JSON nor sacct -P/,
  'debian-22.05-live/sreport.txt': /line 1 has 1 fields/,
};

describe.skipIf(missing('../shared/fixtures/slurm', existsSync(sharedDir)))('Slurm samples in ../shared/fixtures/slurm', () => {
  const files = existsSync(sharedDir)
    ? readdirSync(sharedDir, { recursive: true }).map(String).filter((f) => statSync(join(sharedDir, f)).isFile()).sort()
    : [];

  it('has an expectation for every file', () => {
    expect(files.length).toBe(20);
    for (const f of files) expect(f in expectations || f in rejected, `no expectation for ${f}`).toBe(true);
  });

  for (const [file, want] of Object.entries(expectations)) {
    it(`${file}: ${want.count} jobs`, () => {
      const parsed = parseSlurmOutput(readFileSync(join(sharedDir, file), 'utf8'));
      expect(parsed.format).toBe(want.format);
      expect(parsed.jobs).toHaveLength(want.count);
      expect(parsed.warnings).toEqual(want.warnings ?? []);
      for (const { cluster } of parsed.jobs) expect(cluster).toBe(want.cluster);
      const byId = new Map(parsed.jobs.map(({ job }) => [job.jobId, job]));
      expect(byId.size, 'job ids are unique').toBe(want.count);
      for (const job of want.jobs) expect(byId.get(job.jobId), `job ${job.jobId}`).toMatchObject(job);
      // Whatever the source, the batch must pass the server's own schema.
      const batch = { schema: 1, cluster: want.cluster ?? 'x', jobs: parsed.jobs.map((j) => j.job) };
      expect(jobsBatchSchema.safeParse(batch).success).toBe(true);
    });
  }

  for (const [file, message] of Object.entries(rejected)) {
    it(`${file}: refused with a reason`, () => {
      expect(() => parseSlurmOutput(readFileSync(join(sharedDir, file), 'utf8'))).toThrow(message);
    });
  }

  it('reads every file it was given', () => {
    expect(Object.keys(expectations).length + Object.keys(rejected).length).toBe(files.length);
  });
});
