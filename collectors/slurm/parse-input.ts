/**
 * Reads any saved Slurm output the collector accepts and says which format it was:
 * JSON (sacct, squeue, slurmrestd) starts with '{', anything else is sacct -P/-p text.
 */
import { parseSlurmJson, type ParsedJobs } from './parse-json.ts';
import { parseSacctParsable, type ParsableOptions } from './parse-parsable.ts';

/** Parses Slurm output of any supported format, detected from its first character. */
export function parseSlurmOutput(text: string, options: ParsableOptions = {}): ParsedJobs {
  const body = text.replace(/^\uFEFF/, '');
  const start = body.trimStart()[0];
  if (start === undefined) throw new Error('is empty');
  if (start === '{' || start === '[') return parseSlurmJson(body);
  if (!body.includes('|')) throw new Error("is neither Slurm JSON nor sacct -P text (no '{' and no '|')");
  return parseSacctParsable(body, options);
}
