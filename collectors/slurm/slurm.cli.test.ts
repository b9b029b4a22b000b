import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { captureOutput } from '../../test/support/capture-output.ts';
import type { JobsBatch } from '../shared/wire.ts';
import { backoffS, createPoller, slurmCli, type BatchSender } from './slurm.cli.ts';
import { mergeJobs, SlurmCommandError, type RunCommand } from './slurm-source.ts';

const dir = mkdtempSync(join(tmpdir(), 'heatledger-slurm-cli-'));

afterEach(() => vi.restoreAllMocks());

const psv = [
  'JobID|Cluster|User|Account|Partition|Submit|Start|End|State|AllocTRES|ElapsedRaw',
  '11|tiny|ann|slurm-acct-1|gpu|2026-02-01T10:00:00|2026-02-01T10:00:30|2026-02-01T11:00:30|COMPLETED|cpu=4,gres/gpu=2|3600',
  '12|tiny|bo|other|cpu|2026-02-01T10:00:00|2026-02-01T10:01:00|2026-02-01T10:02:00|CANCELLED by 1000|cpu=1|60',
].join('\n');

describe('collect slurm --from-file', () => {
  it('prints the jobs batch with accounts renamed by the map', async () => {
    const file = join(dir, 'jobs.psv');
    writeFileSync(file, psv);
    const map = join(dir, 'map.json');
    writeFileSync(map, JSON.stringify({ 'slurm-acct-1': 'proj-alpha' }));
    const { out, err } = captureOutput();
    expect(await slurmCli(['--from-file', file, '--stdout', '--account-map', map])).toBe(0);
    expect(err).toEqual([]);
    const batch = JSON.parse(out.join('')) as JobsBatch;
    expect(batch).toMatchObject({ schema: 1, cluster: 'tiny' });
    expect(batch.jobs.map((j) => [j.jobId, j.account, j.state, j.gpus])).toEqual([
      ['11', 'proj-alpha', 'COMPLETED', 2],
      ['12', 'other', 'CANCELLED', 0],
    ]);
  });

  it('uses --cluster when the data names none', async () => {
    const file = join(dir, 'nocluster.psv');
    writeFileSync(file, 'JobID|User|Account|Submit|State\n1|u|a|2026-01-01T00:00:00|PENDING\n');
    const { out } = captureOutput();
    expect(await slurmCli(['--from-file', file, '--stdout', '--cluster', 'bitten'])).toBe(0);
    expect(JSON.parse(out.join('')).cluster).toBe('bitten');
  });

  it('exits non-zero naming the file and the problem', async () => {
    const { err } = captureOutput();
    expect(await slurmCli(['--from-file', join(dir, 'missing.json'), '--stdout'])).toBe(1);
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{"jobs": [');
    expect(await slurmCli(['--from-file', broken, '--stdout'])).toBe(1);
    const other = join(dir, 'other.json');
    writeFileSync(other, '{"nodes": []}');
    expect(await slurmCli(['--from-file', other, '--stdout'])).toBe(1);
    expect(err[0]).toMatch(/cannot read .*missing\.json: ENOENT/);
    expect(err[1]).toMatch(/broken\.json not valid JSON/);
    expect(err[2]).toMatch(/other\.json not Slurm job JSON: there is no top-level 'jobs' array/);
  });

  it('refuses a bad account map and bad options as usage errors', async () => {
    const bad = join(dir, 'bad-map.json');
    writeFileSync(bad, '["x"]');
    await expect(slurmCli(['--from-file', 'x', '--stdout', '--account-map', bad])).rejects.toThrow(/expected a JSON object/);
    await expect(slurmCli(['--interval'])).rejects.toThrow(/collect slurm/);
    await expect(slurmCli([])).rejects.toThrow(/say what to do/);
  });
});

const sacctJson = (jobs: unknown[]) => JSON.stringify({ meta: { slurm: { version: { major: '24', minor: '05' }, cluster: 'tiny' } }, errors: [], jobs });
const dbJob = (id: number, state: string, start: number, end: number) => ({
  job_id: id, name: 'w', user: 'ann', account: 'acct', partition: 'gpu', qos: 'normal', cluster: 'tiny',
  state: { current: [state] }, time: { submission: 1_800_000_000, eligible: 1_800_000_000, start, end },
  tres: { allocated: start ? [{ type: 'cpu', count: 1 }, { type: 'gres', name: 'gpu', count: 2 }] : [], requested: [{ type: 'gres', name: 'gpu', count: 2 }] },
  nodes: start ? 'g1' : 'None assigned', array: { job_id: 0, task_id: { set: false } }, exit_code: { status: ['SUCCESS'], return_code: { set: true, number: 0 } },
});
const queueJob = (id: number, state: string) => ({
  job_id: id, name: 'w', user_name: 'ann', account: 'acct', partition: 'gpu', cluster: 'tiny', job_state: [state],
  submit_time: { set: true, number: 1_800_000_000 }, start_time: { set: true, number: state === 'PENDING' ? 0 : 1_800_000_100 },
  end_time: { set: true, number: 1_800_003_700 }, tres_per_job: 'gres/gpu:1', tres_alloc_str: state === 'PENDING' ? '' : 'cpu=1,gres/gpu=1',
  nodes: state === 'PENDING' ? '' : 'g2', node_count: 1, array_job_id: { set: true, number: 0 }, array_task_id: { set: false },
});

function fakeSender() {
  const sent: JobsBatch[] = [];
  const sender: BatchSender = {
    send: async (_kind, batch) => (sent.push(batch as JobsBatch), { status: 'sent', result: { accepted: 1, duplicates: 0 } }),
  };
  return { sender, sent };
}

describe('polling', () => {
  it('asks sacct from the watermark minus the overlap, sends, and keeps the watermark', async () => {
    const calls: string[][] = [];
    const run: RunCommand = async (cmd, args) => {
      calls.push([cmd, ...args]);
      return cmd === 'sacct' ? sacctJson([dbJob(1, 'COMPLETED', 1_800_000_100, 1_800_003_700)]) : sacctJson([queueJob(2, 'PENDING')]);
    };
    const { sender, sent } = fakeSender();
    const stateFile = join(dir, 'poll1', 'state');
    let nowMs = Date.parse('2026-03-01T12:00:00Z');
    const poller = createPoller({
      sender, stateFile, overlapMs: 10 * 60_000, initialSince: new Date('2026-03-01T00:00:00Z'), cluster: 'x',
      accountMap: { acct: 'proj-z' }, timeoutMs: 1000, run, now: () => new Date(nowMs), log: () => {},
    });
    await poller.pollOnce();
    expect(calls[0]).toEqual(['sacct', '--json', '-a', '-S', '2026-02-28T23:50:00']);
    expect(sent).toHaveLength(1);
    expect(sent[0].cluster).toBe('tiny');
    expect(sent[0].jobs.map((j) => [j.jobId, j.state, j.gpus, j.account])).toEqual([['1', 'COMPLETED', 2, 'proj-z'], ['2', 'PENDING', 1, 'proj-z']]);
    expect(JSON.parse(readFileSync(stateFile, 'utf8'))).toEqual({ watermark: '2026-03-01T12:00:00.000Z' });

    // A new poller (a restart) continues from the state file, 10 minutes back.
    nowMs += 60_000;
    calls.length = 0;
    const again = createPoller({
      sender, stateFile, overlapMs: 10 * 60_000, initialSince: null, cluster: 'x', accountMap: {}, timeoutMs: 1000, run,
      now: () => new Date(nowMs), log: () => {},
    });
    await again.pollOnce();
    expect(calls[0]).toContain('2026-03-01T11:50:00');
  });

  it('keeps the watermark when sacct fails, and still sends when only squeue fails', async () => {
    const { sender, sent } = fakeSender();
    const logs: string[] = [];
    let sacctFails = true;
    const run: RunCommand = async (cmd) => {
      if (cmd === 'sacct' && sacctFails) throw new SlurmCommandError("'sacct --json' did not finish within 1 s");
      if (cmd === 'squeue') throw new SlurmCommandError("'squeue' was not found on PATH");
      return sacctJson([dbJob(3, 'RUNNING', 1_800_000_100, 0)]);
    };
    const poller = createPoller({
      sender, stateFile: join(dir, 'poll2', 'state'), overlapMs: 0, initialSince: new Date('2026-03-01T00:00:00Z'),
      cluster: 'x', accountMap: {}, timeoutMs: 1000, run, now: () => new Date('2026-03-01T12:00:00Z'), log: (m) => logs.push(m),
    });
    await expect(poller.pollOnce()).rejects.toThrow(/did not finish within 1 s/);
    expect(poller.watermark().toISOString()).toBe('2026-03-01T00:00:00.000Z');
    expect(sent).toHaveLength(0);
    sacctFails = false;
    await poller.pollOnce();
    expect(sent[0].jobs.map((j) => [j.jobId, j.state, j.endTime])).toEqual([['3', 'RUNNING', null]]);
    expect(logs.some((l) => /pending jobs not read: 'squeue' was not found/.test(l))).toBe(true);
  });

  it('sends the cluster’s associations each round, and still the jobs when sacctmgr cannot be asked', async () => {
    const recorded = (f: string) => readFileSync(join(import.meta.dirname, '../../test/fixtures/slurm-assoc', f), 'utf8');
    const calls: string[][] = [];
    let sacctmgrDenied = false;
    const run: RunCommand = async (cmd, args) => {
      calls.push([cmd, ...args]);
      if (cmd === 'sacctmgr') {
        if (sacctmgrDenied) throw new SlurmCommandError("'sacctmgr show associations' failed (exit 1): Access/permission denied");
        return args.includes('withcoord') ? recorded('sacctmgr-22.05.8_show-account-withcoord-P.txt') : recorded('sacctmgr-22.05.8_show-associations-P_format.txt');
      }
      return cmd === 'sacct' ? sacctJson([dbJob(7, 'COMPLETED', 1_800_000_100, 1_800_003_700)]) : sacctJson([]);
    };
    const sent: Array<[string, unknown]> = [];
    const sender: BatchSender = { send: async (kind, batch) => (sent.push([kind, batch]), { status: 'sent', result: { accepted: 1, duplicates: 0 } }) };
    const logs: string[] = [];
    const poller = createPoller({
      sender, stateFile: join(dir, 'poll-assoc', 'state'), overlapMs: 0, initialSince: new Date('2026-03-01T00:00:00Z'),
      cluster: 'ci', accountMap: {}, timeoutMs: 1000, run, now: () => new Date('2026-03-01T12:00:00Z'), log: (m) => logs.push(m),
    });
    await poller.pollOnce();
    expect(calls.filter((c) => c[0] === 'sacctmgr')).toEqual([
      ['sacctmgr', 'show', 'associations', '-P', 'cluster=ci', 'format=Cluster,Account,User,Partition,ParentName,GrpTRESMins'],
      ['sacctmgr', 'show', 'account', 'withcoord', '-P'],
    ]);
    const assoc = sent.find(([kind]) => kind === 'associations')![1] as { cluster: string; associations: Array<{ account: string; user: string | null; gpuMinutes: number | null }>; coordinators: unknown[] };
    expect(assoc.cluster).toBe('ci');
    expect(assoc.associations.filter((a) => a.account === 'proj-a').map((a) => a.user)).toEqual([null, 'alice', 'carol', 'root']);
    expect(assoc.associations.find((a) => a.account === 'proj-a' && a.user === null)!.gpuMinutes).toBe(6000);
    expect(assoc.coordinators).toEqual([{ account: 'proj-a', user: 'alice' }, { account: 'proj-a', user: 'carol' }]);
    sacctmgrDenied = true;
    sent.length = 0;
    const d = await poller.pollOnce();
    expect(sent.map(([kind]) => kind)).toEqual(['jobs']);
    expect(d.failed).toBe(0);
    expect(logs.some((l) => /associations not read: .*permission denied/.test(l))).toBe(true);
  });

  it('sends the cluster’s fair share each round (sshare -M for --cluster), and still the jobs when sshare fails', async () => {
    const recorded = readFileSync(join(import.meta.dirname, '../../test/fixtures/slurm-assoc/sshare-22.05.8_a-l-P-M-fs_multifactor.txt'), 'utf8');
    const calls: string[][] = [];
    let sshare: () => string = () => recorded;
    const run: RunCommand = async (cmd, args) => {
      calls.push([cmd, ...args]);
      if (cmd === 'sshare') return sshare();
      return cmd === 'sacct' ? sacctJson([dbJob(8, 'COMPLETED', 1_800_000_100, 1_800_003_700)]) : sacctJson([]);
    };
    const sent: Array<[string, unknown]> = [];
    const sender: BatchSender = { send: async (kind, batch) => (sent.push([kind, batch]), { status: 'sent', result: { accepted: 1, duplicates: 0 } }) };
    const logs: string[] = [];
    const options = {
      sender, stateFile: join(dir, 'poll-fairshare', 'state'), overlapMs: 0, initialSince: new Date('2026-03-01T00:00:00Z'), cluster: 'fs',
      accountMap: { 'proj-a': 'bitten-a' }, timeoutMs: 1000, run, now: () => new Date('2026-03-01T12:00:00Z'), log: (m: string) => logs.push(m), associations: false,
    };
    const poller = createPoller(options);
    const d = await poller.pollOnce();
    expect(calls.filter((c) => c[0] === 'sshare')).toEqual([['sshare', '-a', '-l', '-P', '-M', 'fs']]);
    expect(sent.map(([kind]) => kind)).toEqual(['jobs', 'fairshare']);
    expect(d).toEqual({ sent: 2, spooled: 0, failed: 0, refused: 0 });
    const batch = sent[1]![1] as { cluster: string; takenAt: string; rows: Array<{ account: string; user: string | null; parent: string | null; normShares: number | null }> };
    expect([batch.cluster, batch.takenAt, batch.rows.length]).toEqual(['fs', '2026-03-01T12:00:00.000Z', 10]);
    // The file's line "  proj-a||3|0.750000|…", renamed by the account map as jobs are.
    expect(batch.rows.find((r) => r.account === 'bitten-a' && r.user === null)).toMatchObject({ parent: 'proj-parent', normShares: 0.75 });
    expect(logs).toContain('sent the fair share of fs (10 rows)');

    // sshare of another shape: named in the log, nothing sent for it, the jobs still delivered.
    sshare = () => 'Account|User|RawShares\nproj-a|alice|1\n';
    sent.length = 0;
    const d2 = await poller.pollOnce();
    expect(sent.map(([kind]) => kind)).toEqual(['jobs']);
    expect(d2.failed + d2.refused).toBe(0);
    expect(logs).toContain('fair share not read: sshare -a -l -P -M fs: no NormShares column in the header "Account|User|RawShares" (another Slurm version or -o?): run sshare -a -l -P');
    sshare = () => {
      throw new SlurmCommandError("'sshare' was not found on PATH");
    };
    await poller.pollOnce();
    expect(logs.at(-1)).toBe("fair share not read: 'sshare' was not found on PATH");

    // --no-fairshare: sshare is not asked.
    calls.length = 0;
    await createPoller({ ...options, fairshare: false }).pollOnce();
    expect(calls.some((c) => c[0] === 'sshare')).toBe(false);
  });

  it('backs off by doubling up to 15 minutes', () => {
    expect([0, 1, 2, 3, 10].map((f) => backoffS(60, f))).toEqual([60, 120, 240, 480, 900]);
  });

  it('keeps the record that is further along when queue and database disagree', () => {
    const rec = (id: string, state: 'PENDING' | 'RUNNING' | 'COMPLETED', gpus: number) => ({
      cluster: 'c', job: { jobId: id, user: 'u', account: 'a', state, submitTime: '2026-01-01T00:00:00Z', startTime: null, endTime: null, gpus },
    });
    const merged = mergeJobs([rec('1', 'PENDING', 1), rec('2', 'COMPLETED', 2), rec('3', 'RUNNING', 3)], [rec('1', 'RUNNING', 4), rec('2', 'RUNNING', 5), rec('3', 'RUNNING', 6), rec('4', 'PENDING', 7)]);
    expect(merged.map((m) => [m.job.jobId, m.job.state, m.job.gpus])).toEqual([['1', 'RUNNING', 4], ['2', 'COMPLETED', 2], ['3', 'RUNNING', 3], ['4', 'PENDING', 7]]);
  });
});
