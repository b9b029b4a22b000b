import { describe, expect, it } from 'vitest';
import { gpuBatchSchema } from '../collectors/shared/wire.ts';
import { checkGpuBatch } from './gpu-batch.validation.ts';

const sample = {
  ts: '2026-03-01T12:00:10.250Z',
  gpuUuid: 'GPU-a',
  gpuIndex: 3,
  model: 'NVIDIA H200',
  utilPct: 87,
  memUsedMiB: 1024,
  memTotalMiB: 143771,
  powerW: 512.5,
  powerLimitW: 700,
  tempC: -1,
};

describe('checkGpuBatch (the GPU ingest fast path)', () => {
  it('fills the defaults and drops unknown keys, as the wire schema does', () => {
    const batch = { schema: 1, cluster: 'c', node: 'n1', extra: true, samples: [{ ...sample, unknown: 'x' }] };
    expect(checkGpuBatch(batch)).toEqual({ schema: 1, cluster: 'c', node: 'n1', samples: [{ ...sample, processes: [], jobIds: [] }] });
  });

  it('keeps processes, job ids and MIG slices with their own defaults', () => {
    const full = {
      ...sample,
      processes: [{ pid: 7, usedMemMiB: null, jobId: '42' }, { pid: 8, usedMemMiB: 5 }],
      jobIds: ['42'],
      migDevices: [{ gpuInstanceId: 1, computeInstanceId: null, memUsedMiB: 1, memTotalMiB: 2 }],
      energyJ: 15152422.938,
      smActive: 0.4,
      tensorActive: null,
      grEngineActive: 0,
      dramActive: 1,
    };
    const parsed = checkGpuBatch({ schema: 1, cluster: 'c', node: 'n1', samples: [full] });
    expect(parsed?.samples[0]).toEqual({ ...full, migDevices: [{ gpuInstanceId: 1, computeInstanceId: null, memUsedMiB: 1, memTotalMiB: 2, processes: [] }] });
    // The same answer as zod's for the same input.
    expect(parsed).toEqual(gpuBatchSchema.parse({ schema: 1, cluster: 'c', node: 'n1', samples: [full] }));
  });

  it('declines everything the schema refuses, so zod words the error', () => {
    const bad: Array<Record<string, unknown>> = [
      { ts: '2026-03-01 12:00:10Z' },
      { ts: '2026-02-30T12:00:10Z'.replace('30', '99') },
      { ts: '2026-02-30T12:00:10Z' },
      { ts: '2026-01-01T24:00:00Z' },
      { ts: '+275760-09-13T00:00:00Z' },
      { gpuUuid: '' },
      { gpuIndex: 1.5 },
      { gpuIndex: 1024 },
      { utilPct: 101 },
      { powerW: -1 },
      { powerW: 100_001 },
      { memUsedMiB: -0.5 },
      { tempC: undefined },
      { model: 'x'.repeat(201) },
      { jobIds: [''] },
      { jobIds: null },
      { processes: [{ pid: -1, usedMemMiB: null }] },
      { processes: [{ pid: 1 }] },
      { migDevices: [{ gpuInstanceId: 0, computeInstanceId: 0, memUsedMiB: null }] },
      { energyJ: -1 },
      { energyJ: '5' },
      { smActive: 1.01 },
      { tensorActive: -0.1 },
      { dramActive: Number.NaN },
    ];
    for (const change of bad) {
      const batch = { schema: 1, cluster: 'c', node: 'n', samples: [{ ...sample, ...change }] };
      expect(gpuBatchSchema.safeParse(batch).success, JSON.stringify(change)).toBe(false);
      expect(checkGpuBatch(batch), JSON.stringify(change)).toBeUndefined();
    }
    expect(checkGpuBatch({ schema: 2, cluster: 'c', node: 'n', samples: [] })).toBeUndefined();
    expect(checkGpuBatch({ schema: 1, cluster: '', node: 'n', samples: [] })).toBeUndefined();
    expect(checkGpuBatch([])).toBeUndefined();
  });

  it('accepts exactly the calendar times zod accepts: no 30 February, no 24:00 (issue 15.11)', () => {
    const verdicts: string[] = [];
    for (const year of ['2024', '2025', '2100', '2000']) {
      for (let month = 0; month <= 13; month++) {
        for (const day of ['00', '28', '29', '30', '31', '32']) {
          for (const time of ['00:00:00', '23:59:59', '24:00:00', '23:60:00', '23:59:60']) {
            const ts = `${year}-${String(month).padStart(2, '0')}-${day}T${time}Z`;
            const batch = { schema: 1, cluster: 'c', node: 'n', samples: [{ ...sample, ts }] };
            const zod = gpuBatchSchema.safeParse(batch).success;
            expect(checkGpuBatch(batch) !== undefined, ts).toBe(zod);
            if (zod) verdicts.push(ts);
          }
        }
      }
    }
    // Of 4 years × 14 months × 6 days × 5 times: the real days 28-31 of months 1-12 at 00:00:00 and 23:59:59.
    const realDays = (year: number) => [31, year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31].reduce((n, d) => n + (d - 27), 0);
    expect(verdicts).toHaveLength(2 * (realDays(2024) + realDays(2025) + realDays(2100) + realDays(2000)));
    expect(verdicts).toContain('2024-02-29T23:59:59Z');
    expect(verdicts).not.toContain('2025-02-29T00:00:00Z');
    expect(verdicts).not.toContain('2100-02-29T00:00:00Z');
    expect(verdicts).toContain('2000-02-29T00:00:00Z');
    expect(verdicts).not.toContain('2026-04-31T00:00:00Z');
  });
});
