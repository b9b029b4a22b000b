/** Flag parsing shared by the administrative commands. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../../collectors/shared/usage-error.ts';

/** parseArgs that reports unknown or malformed flags as a UsageError. */
export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}
