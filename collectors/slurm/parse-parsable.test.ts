import { describe, expect, it } from 'vitest';
import { parseSacctParsable, parseSacctTime } from './parse-parsable.ts';

describe('parseSacctParsable', () => {
  it('reads a header in any order and case, and skips steps', () => {
    const text = [
      'state|JOBID|user|Account|Submit|Start|End|AllocTRES|NodeList|ExitCode|Partition',
      'COMPLETED|41|ann|p1|2026-01-02T03:04:05|2026-01-02T03:05:05|2026-01-02T04:05:05|cpu=2,gres/gpu:h200=2|g[01-02]|0:0|gpu',
      'COMPLETED|41.batch|||2026-01-02T03:05:05|2026-01-02T03:05:05|2026-01-02T04:05:05|cpu=2|g01|0:0|',
      'COMPLETED|41.extern|||2026-01-02T03:05:05|2026-01-02T03:05:05|2026-01-02T04:05:05|cpu=2|g01|0:0|',
    ].join('\n');
    const { jobs, format } = parseSacctParsable(text);
    expect(format).toBe('sacct-parsable');
    expect(jobs).toHaveLength(1);
    expect(jobs[0].job).toMatchObject({
      jobId: '41', user: 'ann', account: 'p1', partition: 'gpu', state: 'COMPLETED', gpus: 2, gpuType: 'h200',
      submitTime: '2026-01-02T03:04:05.000Z', startTime: '2026-01-02T03:05:05.000Z', endTime: '2026-01-02T04:05:05.000Z',
      nodes: ['g01', 'g02'], exitCode: 0,
    });
  });

  it("reads -p output whose lines end with '|'", () => {
    const text = 'JobID|User|Account|Submit|State|ReqTRES|\n7_[1-3%1]|bo|p2|2026-01-02T00:00:00|PENDING|cpu=1,gres/gpu=1|\n';
    const { jobs } = parseSacctParsable(text);
    // A pending array record becomes one record per task, each asking for one GPU.
    expect(jobs.map((j) => j.job.jobId)).toEqual(['7_1', '7_2', '7_3']);
    expect(jobs.every((j) => j.job.gpus === 1 && j.job.arrayJobId === '7' && j.job.startTime === null)).toBe(true);
  });

  it('reads local times in the given zone', () => {
    const text = 'JobID|User|Account|Submit|Start|End|State\n5|u|a|2026-07-01T12:00:00|Unknown|Unknown|PENDING\n';
    const { jobs } = parseSacctParsable(text, { timeZone: 'Europe/Berlin' });
    expect(jobs[0].job.submitTime).toBe('2026-07-01T10:00:00.000Z'); // CEST is UTC+2
  });

  it('converts across DST and keeps explicit offsets', () => {
    expect(parseSacctTime('2026-01-15T12:00:00', 'America/New_York')).toBe(Date.parse('2026-01-15T17:00:00Z') / 1000);
    expect(parseSacctTime('2026-07-15T12:00:00', 'America/New_York')).toBe(Date.parse('2026-07-15T16:00:00Z') / 1000);
    expect(parseSacctTime('2026-07-15T12:00:00+02:00', 'UTC')).toBe(Date.parse('2026-07-15T10:00:00Z') / 1000);
    expect(parseSacctTime('Unknown')).toBeNull();
    expect(parseSacctTime('None')).toBeNull();
    expect(() => parseSacctTime('yesterday')).toThrow(/not a time/);
  });

  it('names the line and the expected layout when the columns do not fit', () => {
    expect(() => parseSacctParsable('1|2|3\n')).toThrow(/line 1 has 3 fields, expected the 26 columns/);
    expect(() => parseSacctParsable('JobID|User|Submit|State\n1|u|2026-01-01T00:00:00\n')).toThrow(/line 2 has 3 fields/);
    expect(() => parseSacctParsable('JobID|User|Submit|State\n', { timeZone: 'Mars/Olympus' })).toThrow(/unknown time zone/);
  });
});
