/**
 * What the writers take: a batch as it arrives on the wire, already parsed and checked by
 * the server (collectors/shared/wire.ts holds the schemas). Written out here so that the
 * storage layer depends on nothing above it; server/services/ingest-types.ts asserts at
 * compile time that the parsed wire types fit these.
 */

export interface GpuProcessIn {
  pid: number;
  usedMemMiB: number | null;
  jobId?: string | null | undefined;
}

export interface GpuSampleIn {
  ts: string;
  gpuUuid: string;
  gpuIndex: number;
  model: string | null;
  utilPct: number | null;
  memUsedMiB: number | null;
  memTotalMiB: number | null;
  powerW: number | null;
  powerLimitW: number | null;
  tempC: number | null;
  processes: GpuProcessIn[];
  jobIds: string[];
  migDevices?: Array<{ gpuInstanceId: number; computeInstanceId: number | null; memUsedMiB: number | null; memTotalMiB: number | null; processes: GpuProcessIn[] }> | undefined;
  /** The GPU's energy counter (J); its differences replace integrated power where both ends have it. */
  energyJ?: number | null | undefined;
  /** DCGM profiling activities (ratios 0–1). */
  smActive?: number | null | undefined;
  tensorActive?: number | null | undefined;
  grEngineActive?: number | null | undefined;
  dramActive?: number | null | undefined;
}

export interface GpuBatchIn {
  cluster: string;
  node: string;
  samples: GpuSampleIn[];
}

export type JobState =
  | 'PENDING' | 'RUNNING' | 'SUSPENDED' | 'COMPLETED' | 'CANCELLED' | 'FAILED' | 'TIMEOUT'
  | 'NODE_FAIL' | 'PREEMPTED' | 'BOOT_FAIL' | 'DEADLINE' | 'OUT_OF_MEMORY' | 'REQUEUED'
  | 'RESIZING' | 'REVOKED' | 'SPECIAL_EXIT' | 'COMPLETING' | 'CONFIGURING' | 'STOPPED';

export interface JobIn {
  jobId: string;
  arrayJobId: string | null;
  name: string | null;
  user: string;
  account: string;
  partition: string | null;
  qos: string | null;
  state: JobState;
  submitTime: string;
  eligibleTime: string | null;
  startTime: string | null;
  endTime: string | null;
  gpus: number;
  gpuType: string | null;
  cpus: number | null;
  nodes: string[];
  exitCode: number | null;
}

export interface JobsBatchIn {
  cluster: string;
  jobs: JobIn[];
}

export type FacilityQuantity =
  | 'itPowerW' | 'facilityPowerW' | 'coolingPowerW' | 'heatRemovedW' | 'heatReusedW'
  | 'supplyTempC' | 'returnTempC' | 'flowLpm' | 'waterL' | 'gridCo2GPerKWh'
  | 'itEnergyKWh' | 'facilityEnergyKWh' | 'heatReusedKWh';

export interface FacilityBatchIn {
  site: string;
  readings: Array<{ ts: string; meter: string; quantity: FacilityQuantity; value: number }>;
}
