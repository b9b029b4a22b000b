/** Parsed (post-validation) shapes of the ingest batches. */
import type { z } from 'zod';
import type { facilityBatchSchema, gpuBatchSchema, jobsBatchSchema } from '../../collectors/shared/wire.ts';

export type GpuBatchParsed = z.output<typeof gpuBatchSchema>;
export type JobsBatchParsed = z.output<typeof jobsBatchSchema>;
export type FacilityBatchParsed = z.output<typeof facilityBatchSchema>;
export type JobParsed = JobsBatchParsed['jobs'][number];
