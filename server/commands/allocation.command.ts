/** `heatledger allocation import FILE.csv [--db PATH]`: grants from a CSV, all or nothing, audited. */
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { openDatabase } from '../../db/client.ts';
import { UsageError } from '../../collectors/shared/usage-error.ts';
import { loadConfig } from '../config.ts';
import { importAllocationsCsv } from '../services/allocation.service.ts';
import { parseFlags } from './args.ts';

/** Runs `allocation import`. */
export async function allocationCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, { db: { type: 'string' } });
  if (positionals[0] !== 'import' || !positionals[1]) throw new UsageError('usage: heatledger allocation import FILE.csv [--db PATH]');
  let csv: string;
  try {
    csv = readFileSync(positionals[1], 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${positionals[1]}: ${(error as Error).message}`, { cause: error });
  }
  const config = loadConfig(process.env, values.db ? { dbPath: values.db } : {});
  const db = openDatabase(config.dbPath, { refreshRollups: false });
  try {
    const n = importAllocationsCsv(db.$client, csv, `cli:${userInfo().username}`, Date.now());
    process.stderr.write(`imported ${n} allocations from ${positionals[1]}\n`);
  } finally {
    db.$client.close();
  }
  return 0;
}
