import { describe, expect, it } from 'vitest';
import { baseState, expandTaskIds, finishDraft, type JobDraft } from './job-draft.ts';

const draft = (over: Partial<JobDraft>): JobDraft => ({
  jobId: '1', arrayJobId: null, name: 'j', user: 'u', account: 'a', partition: 'gpu', qos: null,
  state: 'COMPLETED', submitS: 1_000, eligibleS: 1_000, startS: 1_100, endS: 4_700,
  allocGpus: [{ count: 2, type: null }], reqGpus: [{ count: 3, type: null }], allocCpus: 4, reqCpus: 8,
  nodes: ['n1'], hasAllocation: true, exitCode: 0, cluster: 'c', ...over,
});

describe('finishDraft', () => {
  it('keeps the base state word', () => {
    expect(baseState('CANCELLED by 0')).toBe('CANCELLED');
    expect(baseState(['PENDING', 'REQUEUED'])).toBe('PENDING');
    expect(baseState(['RUNNING', 'COMPLETING'])).toBe('RUNNING');
    expect(baseState('FOO')).toBeNull();
  });

  it('uses allocated GPUs for jobs that ran and requested ones for queued jobs', () => {
    expect(finishDraft(draft({}), () => {})[0].job).toMatchObject({ gpus: 2, cpus: 4, startTime: '1970-01-01T00:18:20.000Z' });
    const queued = finishDraft(draft({ state: 'PENDING', endS: 9_000 }), () => {})[0].job;
    expect(queued).toMatchObject({ gpus: 3, cpus: 8, startTime: null, endTime: null, nodes: [] });
  });

  it('drops the projected end of a running job', () => {
    expect(finishDraft(draft({ state: 'RUNNING' }), () => {})[0].job.endTime).toBeNull();
  });

  it('treats a rejected submission as never started', () => {
    const job = finishDraft(draft({ state: 'FAILED', startS: 1_000, endS: 1_000, hasAllocation: false, nodes: [] }), () => {})[0].job;
    expect(job).toMatchObject({ startTime: null, endTime: '1970-01-01T00:16:40.000Z', gpus: 0, cpus: 0 });
  });

  it('warns and drops what the wire cannot carry', () => {
    const warnings: string[] = [];
    expect(finishDraft(draft({ state: 'FOO' }), (m) => warnings.push(m))).toEqual([]);
    expect(finishDraft(draft({ submitS: 0 }), (m) => warnings.push(m))).toEqual([]);
    expect(finishDraft(draft({ user: '' }), (m) => warnings.push(m))).toEqual([]);
    expect(warnings).toEqual(["job 1: skipped, unknown state 'FOO'", 'job 1: skipped, no submit time', 'job 1: skipped, no user']);
  });

  it('expands task lists with steps and limits', () => {
    expect(expandTaskIds('1-3,7%2')).toEqual([1, 2, 3, 7]);
    expect(expandTaskIds('[0-8:4]')).toEqual([0, 4, 8]);
    expect(expandTaskIds('x')).toBeNull();
  });
});
