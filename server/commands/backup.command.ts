/** `heatledger backup PATH [--db PATH]`: an online, consistent copy of the database. */
import { UsageError } from '../../collectors/shared/usage-error.ts';
import { loadConfig } from '../config.ts';
import { backupDatabase } from '../services/backup.service.ts';
import { parseFlags } from './args.ts';

/** Runs `backup`; safe while the server is running and ingesting. */
export async function backupCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, { db: { type: 'string' } });
  if (positionals.length !== 1) throw new UsageError('usage: heatledger backup PATH [--db PATH]');
  const config = loadConfig(process.env, values.db ? { dbPath: values.db } : {});
  if (config.dbPath === ':memory:') throw new UsageError('backup: an in-memory database cannot be backed up from another process');
  const result = await backupDatabase(config.dbPath, positionals[0]!);
  process.stderr.write(`backup of ${config.dbPath} written to ${result.path} (${result.pages} pages, integrity ${result.integrity})\n`);
  return 0;
}
