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
});
