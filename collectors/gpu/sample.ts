/**
 * One sampling round: nvidia-smi → samples → Slurm jobs → a GPU batch (CONTRACTS §2.1).
 */
import type { GpuBatch, GpuSample } from '../shared/wire.ts';
import { attachJobs } from './jobs.ts';
import { NvidiaSmiError, runNvidiaSmi } from './nvidia-smi.ts';
import { NvidiaSmiFormatError, parseNvidiaSmi } from './parse.ts';

export interface SampleOptions {
  procRoot?: string;
  timeoutMs?: number;
  /** The collector's clock: samples are stamped when nvidia-smi was asked, in UTC. */
  now?: () => Date;
  /** Stands in for nvidia-smi in tests that do not exercise the process itself. */
  readDocument?: () => Promise<unknown>;
}

/** Samples every GPU of this node once, with the Slurm job of each process. */
export async function sampleGpus(options: SampleOptions = {}): Promise<GpuSample[]> {
  const ts = (options.now ?? (() => new Date()))().toISOString();
  const doc = await (options.readDocument ?? (() => runNvidiaSmi({ timeoutMs: options.timeoutMs })))();
  let samples: GpuSample[];
  try {
    samples = parseNvidiaSmi(doc, ts);
  } catch (error) {
    if (error instanceof NvidiaSmiFormatError) throw new NvidiaSmiError(`nvidia-smi printed XML that is not its log: ${error.message}`);
    throw error;
  }
  return attachJobs(samples, options.procRoot ?? '/proc');
}

/** Wraps samples into the wire batch for one node. */
export function gpuBatch(cluster: string, node: string, samples: GpuSample[]): GpuBatch {
  return { schema: 1, cluster, node, samples };
}
