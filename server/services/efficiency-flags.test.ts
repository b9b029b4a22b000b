import { describe, expect, it } from 'vitest';
import { efficiencyFlags, type GpuFigures } from './efficiency-flags.ts';

const H200 = 143_771;
const gpu = (idleShare: number, meanUtilPct: number, peakMemMiB = 100_000): GpuFigures => ({ idleShare, meanUtilPct, peakMemMiB, memTotalMiB: H200 });

describe('efficiency flags on constructed jobs', () => {
  it('3 of 4 GPUs idle for 80 % or more: ask for 1 GPU (the least idle of the three sets the percentage)', () => {
    const flags = efficiencyFlags({ gpus: 4, perGpu: [gpu(0.05, 92), gpu(0.8, 4), gpu(0.9, 2), gpu(1, 0)], meanUtilPct: 25, smActivePct: null, sampled: true });
    expect(flags).toEqual([{ code: 'idle-gpus', idle: 3, of: 4, idlePct: 80, ask: 1, message: '3 of 4 GPUs were idle for 80 % of the job: ask for 1 GPU' }]);
  });

  it('a job whose GPUs were all idle is told to check that it uses the GPU, not to ask for fewer', () => {
    const flags = efficiencyFlags({ gpus: 2, perGpu: [gpu(0.97, 1), gpu(0.99, 0)], meanUtilPct: 0.5, smActivePct: null, sampled: true });
    expect(flags.map((f) => f.message)).toEqual(['All 2 GPUs were idle for 97 % of the job: check that the job uses the GPU at all']);
  });

  it('memory that peaked at 9 % of an H200: a smaller GPU or a MIG slice fits', () => {
    const flags = efficiencyFlags({ gpus: 1, perGpu: [gpu(0, 95, 0.09 * H200)], meanUtilPct: 95, smActivePct: null, sampled: true });
    expect(flags).toEqual([{ code: 'low-memory', peakPct: 9, memTotalGB: 140, message: 'GPU memory peaked at 9 % of 140 GB: a smaller GPU or a MIG slice fits' }]);
  });

  it('busy GPUs at 22 % on average: data loading or the CPU; SM activity low while busy: larger batches', () => {
    expect(efficiencyFlags({ gpus: 2, perGpu: [gpu(0.1, 20), gpu(0.2, 24)], meanUtilPct: 22, smActivePct: null, sampled: true }).map((f) => f.code)).toEqual(['low-utilisation']);
    const sm = efficiencyFlags({ gpus: 1, perGpu: [gpu(0, 68)], meanUtilPct: 68, smActivePct: 12, sampled: true });
    expect(sm.map((f) => f.message)).toEqual(['SM activity was 12 % while the GPUs looked busy (68 %): the kernels keep few SMs busy; larger batches may help']);
  });

  it('no flag for a job that used what it asked for; one flag only when no sample named the job', () => {
    expect(efficiencyFlags({ gpus: 4, perGpu: [gpu(0, 90), gpu(0.02, 88), gpu(0.01, 93), gpu(0, 91)], meanUtilPct: 90, smActivePct: 71, sampled: true })).toEqual([]);
    expect(efficiencyFlags({ gpus: 4, perGpu: [], meanUtilPct: null, smActivePct: null, sampled: false }).map((f) => f.code)).toEqual(['no-samples']);
  });
});
