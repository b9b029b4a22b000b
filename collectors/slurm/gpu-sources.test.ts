import { describe, expect, it } from 'vitest';
import {
  gpusFromGresDetail,
  gpusFromSubmitLine,
  gpusFromTresList,
  gpusFromTresPer,
  gpusFromTresString,
} from './gpu-sources.ts';

describe('GPU sources', () => {
  it('reads TRES strings, typed and untyped, without double counting', () => {
    expect(gpusFromTresString('billing=1,cpu=1,gres/gpu=2,node=1')).toEqual({ count: 2, type: null });
    expect(gpusFromTresString('cpu=8,gres/gpu=4,gres/gpu:h200=4')).toEqual({ count: 4, type: 'h200' });
    expect(gpusFromTresString('gres/gpu:a100=2,gres/gpu:h100=1')).toEqual({ count: 3, type: null });
    expect(gpusFromTresString('cpu=1,mem=1000M')).toBeNull();
    expect(gpusFromTresString('')).toBeNull();
  });

  it('reads JSON TRES lists and ignores the -2 "not set" counts', () => {
    expect(gpusFromTresList([{ type: 'cpu', count: 4 }, { type: 'gres', name: 'gpu', count: 16 }])).toEqual({ count: 16, type: null });
    expect(gpusFromTresList([{ type: 'gres', name: 'gpu:l40s', count: 2 }])).toEqual({ count: 2, type: 'l40s' });
    expect(gpusFromTresList([{ type: 'energy', count: -2 }])).toBeNull();
  });

  it('sums gres_detail over nodes', () => {
    expect(gpusFromGresDetail(['gpu:h100:4(IDX:0-3)'])).toEqual({ count: 4, type: 'h100' });
    expect(gpusFromGresDetail(['gpu:2(IDX:0-1)', 'gpu:2(IDX:2-3)'])).toEqual({ count: 4, type: null });
    expect(gpusFromGresDetail(['gpu(IDX:0,2)'])).toEqual({ count: 2, type: null });
    expect(gpusFromGresDetail([])).toBeNull();
  });

  it('reads tres_per_* in both spellings, multiplied per node', () => {
    expect(gpusFromTresPer('gres/gpu:4')).toEqual({ count: 4, type: null });
    expect(gpusFromTresPer('gres:gpu:2', 3)).toEqual({ count: 6, type: null });
    expect(gpusFromTresPer('gres/gpu:h100:2,gres/shard:1', 2)).toEqual({ count: 4, type: 'h100' });
    expect(gpusFromTresPer('gres/gpu')).toEqual({ count: 1, type: null });
    expect(gpusFromTresPer('')).toBeNull();
  });

  it('falls back to the submit line', () => {
    expect(gpusFromSubmitLine('sbatch --time 1 --wrap sleep 30 && true --partition gpu --gpus 4', 1)).toEqual({ count: 4, type: null });
    expect(gpusFromSubmitLine('sbatch --gres=gpu:a100:2 -N 2 x.sh', 2)).toEqual({ count: 4, type: 'a100' });
    expect(gpusFromSubmitLine('sbatch --gpus-per-node=4 x.sh', 3)).toEqual({ count: 12, type: null });
    expect(gpusFromSubmitLine('sbatch -p cpu x.sh', 1)).toBeNull();
  });
});
