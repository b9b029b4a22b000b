/** Parsed (post-validation) shapes of the ingest batches, and the check that the store's writers take them. */
import type { z } from 'zod';
import type { associationsBatchSchema, facilityBatchSchema, fairshareBatchSchema, gpuBatchSchema, jobsBatchSchema } from '../../collectors/shared/wire.ts';
import type { FacilityBatchIn, GpuBatchIn, JobsBatchIn } from '../../db/writers/records.ts';

export type GpuBatchParsed = z.output<typeof gpuBatchSchema>;
export type JobsBatchParsed = z.output<typeof jobsBatchSchema>;
export type FacilityBatchParsed = z.output<typeof facilityBatchSchema>;
export type JobParsed = JobsBatchParsed['jobs'][number];
export type AssociationsBatchParsed = z.output<typeof associationsBatchSchema>;
export type FairshareBatchParsed = z.output<typeof fairshareBatchSchema>;

// Compile-time: a parsed batch is what the writers take (a wire change that breaks this fails `tsc`).
type Fits<A, B> = A extends B ? true : never;
export const parsedBatchesFitWriters: [Fits<GpuBatchParsed, GpuBatchIn>, Fits<JobsBatchParsed, JobsBatchIn>, Fits<FacilityBatchParsed, FacilityBatchIn>] = [true, true, true];
