/**
 * Ingest wire format v1 (CONTRACTS.md §2): the zod schemas that the server validates
 * against and the types collectors build. Collectors and server share only this file.
 */
import { z } from 'zod';

/** Earliest and latest instants the server accepts for a sample, relative to now. */
export const MAX_PAST_MS = 400 * 24 * 3600 * 1000;
export const MAX_FUTURE_MS = 10 * 60 * 1000;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const twoDigits = (s: string, at: number) => (s.charCodeAt(at) - 48) * 10 + (s.charCodeAt(at + 1) - 48);

/**
 * Whether a time in the wire's form (`YYYY-MM-DDThh:mm:ss[.f]Z`) names a real instant:
 * Date.parse rolls `2026-02-30` over to 2 March and `24:00` to the next day instead of
 * refusing them. Digit arithmetic, no Date: it runs for every GPU sample.
 */
export function isCalendarTime(s: string): boolean {
  const month = twoDigits(s, 5);
  const day = twoDigits(s, 8);
  if (month < 1 || month > 12 || day < 1 || twoDigits(s, 11) > 23 || twoDigits(s, 14) > 59 || twoDigits(s, 17) > 59) return false;
  if (day <= 28) return true;
  if (month !== 2) return day <= DAYS_IN_MONTH[month - 1]!;
  const year = Number(s.slice(0, 4));
  return day <= (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28);
}

/** A wire time: exactly `YYYY-MM-DDThh:mm:ss[.f]Z`. */
export const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

const isoUtc = z
  .string()
  .regex(ISO_UTC, 'must be an ISO 8601 UTC time ending in Z')
  .refine(isCalendarTime, 'is not a date and time on the calendar');

const name = z.string().min(1).max(200);
const nonNegative = z.number().finite().nonnegative();
const nullableNumber = z.number().finite().nullable();
const ratio = z.number().finite().min(0).max(1);

export const gpuProcessSchema = z.object({
  pid: z.number().int().nonnegative(),
  usedMemMiB: nonNegative.nullable(),
  jobId: z.string().min(1).max(64).nullable().optional(),
});

/** One MIG slice of a GPU (CONTRACTS §2.1, `migDevices`). */
export const migDeviceSchema = z.object({
  gpuInstanceId: z.number().int().nonnegative(),
  computeInstanceId: z.number().int().nonnegative().nullable(),
  memUsedMiB: nonNegative.nullable(),
  memTotalMiB: nonNegative.nullable(),
  processes: z.array(gpuProcessSchema).max(1024).default([]),
});

export const gpuSampleSchema = z.object({
  ts: isoUtc,
  gpuUuid: z.string().min(1).max(128),
  gpuIndex: z.number().int().nonnegative().max(1023),
  model: z.string().max(200).nullable(),
  utilPct: z.number().finite().min(0).max(100).nullable(),
  memUsedMiB: nonNegative.nullable(),
  memTotalMiB: nonNegative.nullable(),
  powerW: z.number().finite().min(0).max(100_000).nullable(),
  powerLimitW: nonNegative.nullable(),
  tempC: nullableNumber,
  processes: z.array(gpuProcessSchema).max(4096).default([]),
  jobIds: z.array(z.string().min(1).max(64)).max(256).default([]),
  migDevices: z.array(migDeviceSchema).max(64).optional(),
  /** The GPU's energy counter, J since its driver loaded (DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION ÷ 1000). */
  energyJ: nonNegative.nullable().optional(),
  /** DCGM profiling activities, ratios 0–1 (DCGM_FI_PROF_SM_ACTIVE, _PIPE_TENSOR_ACTIVE, _GR_ENGINE_ACTIVE, _DRAM_ACTIVE). */
  smActive: ratio.nullable().optional(),
  tensorActive: ratio.nullable().optional(),
  grEngineActive: ratio.nullable().optional(),
  dramActive: ratio.nullable().optional(),
});

/** The optional activity fields of a GPU sample, in the integrator's order (db/rules/integrate.ts Activity). */
export const activityFields = ['smActive', 'tensorActive', 'grEngineActive', 'dramActive'] as const;

export const gpuBatchSchema = z.object({
  schema: z.literal(1),
  cluster: name,
  node: name,
  samples: z.array(gpuSampleSchema).max(100_000),
});

export const jobStateSchema = z.enum([
  'PENDING', 'RUNNING', 'SUSPENDED', 'COMPLETED', 'CANCELLED', 'FAILED', 'TIMEOUT',
  'NODE_FAIL', 'PREEMPTED', 'BOOT_FAIL', 'DEADLINE', 'OUT_OF_MEMORY', 'REQUEUED',
  'RESIZING', 'REVOKED', 'SPECIAL_EXIT', 'COMPLETING', 'CONFIGURING', 'STOPPED',
]);

export const jobSchema = z
  .object({
    jobId: z.string().min(1).max(64),
    arrayJobId: z.string().max(64).nullable().default(null),
    name: z.string().max(1024).nullable().default(null),
    user: z.string().min(1).max(200),
    account: z.string().min(1).max(200),
    partition: z.string().max(200).nullable().default(null),
    qos: z.string().max(200).nullable().default(null),
    state: jobStateSchema,
    submitTime: isoUtc,
    eligibleTime: isoUtc.nullable().default(null),
    startTime: isoUtc.nullable(),
    endTime: isoUtc.nullable(),
    gpus: z.number().int().nonnegative().max(100_000),
    gpuType: z.string().max(100).nullable().default(null),
    cpus: z.number().int().nonnegative().nullable().default(null),
    nodes: z.array(name).max(100_000).default([]),
    exitCode: z.number().int().nullable().default(null),
  })
  .superRefine((job, ctx) => {
    // A job starts after it was submitted: an earlier start would make a negative wait.
    if (job.startTime !== null && Date.parse(job.startTime) < Date.parse(job.submitTime)) {
      ctx.addIssue({ code: 'custom', path: ['startTime'], message: `${job.startTime} is before its submitTime ${job.submitTime}` });
    }
  });

export const jobsBatchSchema = z.object({
  schema: z.literal(1),
  cluster: name,
  jobs: z.array(jobSchema).max(100_000),
});

export const facilityQuantities = [
  'itPowerW', 'facilityPowerW', 'coolingPowerW', 'heatRemovedW', 'heatReusedW',
  'supplyTempC', 'returnTempC', 'flowLpm', 'waterL', 'gridCo2GPerKWh',
  'itEnergyKWh', 'facilityEnergyKWh', 'heatReusedKWh',
] as const;
export const facilityQuantitySchema = z.enum(facilityQuantities);

export const facilityReadingSchema = z.object({
  ts: isoUtc,
  meter: name,
  quantity: facilityQuantitySchema,
  // Within ±1e12 (a terawatt, a billion MWh): beyond it no meter reads, and the energy
  // integral of such values overflows to Infinity (refused at store time as a 500).
  value: z.number().finite().min(-1e12).max(1e12),
});

export const facilityBatchSchema = z.object({
  schema: z.literal(1),
  site: name,
  readings: z.array(facilityReadingSchema).max(100_000),
});

/**
 * Slurm associations of one cluster (issue 16): who may charge which account (`user` null:
 * the account's own association, with its parent and its GrpTRESMins `gres/gpu` grant in
 * GPU-minutes), and each account's coordinators. A batch replaces everything stored for its
 * cluster: a user left out has lost the association.
 */
export const associationsBatchSchema = z.object({
  schema: z.literal(1),
  cluster: name,
  associations: z
    .array(
      z.object({
        account: name,
        user: name.nullable(),
        parent: name.nullable().default(null),
        gpuMinutes: z.number().int().nonnegative().max(1e12).nullable().default(null),
      }),
    )
    .max(500_000),
  coordinators: z.array(z.object({ account: name, user: name })).max(100_000).default([]),
});

/**
 * Fair share of one cluster (issue 19, point 3): `sshare -a -l -P` taken at `takenAt`, one
 * row per account (`user` null) and per user within an account, each (account, user) once.
 * Shares and usage are fractions of the row's level in Slurm's tree (its siblings). A batch
 * replaces everything stored for its cluster; one taken before the stored one changes nothing.
 */
export const fairshareBatchSchema = z.object({
  schema: z.literal(1),
  cluster: name,
  takenAt: isoUtc,
  rows: z
    .array(
      z.object({
        account: name,
        user: name.nullable(),
        parent: name.nullable().default(null),
        rawShares: z.number().int().nonnegative().max(4_294_967_295).nullable(),
        sharesFromParent: z.boolean().default(false),
        normShares: ratio.nullable(),
        rawUsage: nonNegative,
        effectvUsage: nonNegative.nullable(),
        fairShare: ratio.nullable(),
        levelFs: nonNegative.nullable().default(null),
        grpTresMins: z.string().max(2000).nullable().default(null),
        grpTresRaw: z.string().max(2000).nullable().default(null),
      }),
    )
    .max(500_000)
    .superRefine((rows, ctx) => {
      const seen = new Set<string>();
      rows.forEach((r, i) => {
        const key = `${r.account}\u0000${r.user ?? ''}`;
        if (seen.has(key)) ctx.addIssue({ code: 'custom', path: [i, 'user'], message: `account ${r.account}${r.user === null ? '' : ` user ${r.user}`} is listed twice` });
        seen.add(key);
      });
    }),
});

/**
 * A grid CO2 forecast (Energinet `CO2EmisProg`) of one price area, kept apart from the
 * measured intensity: a value sent again for the same 5 minutes replaces the older forecast.
 */
export const co2ForecastBatchSchema = z.object({
  schema: z.literal(1),
  priceArea: z.string().regex(/^[A-Z]{2}\d?$/, 'must be a price area such as DK1'),
  values: z.array(z.object({ ts: isoUtc, gPerKWh: z.number().finite().nonnegative().max(5000) })).min(1).max(100_000),
});

export type GpuProcess = z.infer<typeof gpuProcessSchema>;
export type MigDevice = z.infer<typeof migDeviceSchema>;
export type GpuSample = z.input<typeof gpuSampleSchema>;
export type GpuBatch = z.input<typeof gpuBatchSchema>;
export type JobState = z.infer<typeof jobStateSchema>;
export type JobRecord = z.input<typeof jobSchema>;
export type JobsBatch = z.input<typeof jobsBatchSchema>;
export type FacilityQuantity = z.infer<typeof facilityQuantitySchema>;
export type FacilityReading = z.infer<typeof facilityReadingSchema>;
export type FacilityBatch = z.input<typeof facilityBatchSchema>;
export type AssociationsBatch = z.input<typeof associationsBatchSchema>;
export type Co2ForecastBatch = z.input<typeof co2ForecastBatchSchema>;
export type FairshareBatch = z.input<typeof fairshareBatchSchema>;

/** Ingest endpoints by batch kind, relative to the server URL. */
export const ingestPaths = {
  gpu: '/api/v1/ingest/gpu',
  jobs: '/api/v1/ingest/jobs',
  facility: '/api/v1/ingest/facility',
  associations: '/api/v1/ingest/associations',
  co2Forecast: '/api/v1/ingest/co2-forecast',
  fairshare: '/api/v1/ingest/fairshare',
} as const;
export type IngestKind = keyof typeof ingestPaths;

/** The server's answer to an accepted batch. */
export interface IngestResult {
  accepted: number;
  duplicates: number;
}
