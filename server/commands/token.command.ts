/** `heatledger token create --name NAME --scope ingest|read|admin [--db PATH]`: prints the token, one line. */
import { openDatabase } from '../../db/client.ts';
import { UsageError } from '../../collectors/shared/usage-error.ts';
import { loadConfig } from '../config.ts';
import { recordAudit, cliActor } from '../services/audit.service.ts';
import { createToken, type TokenScope } from '../services/auth.service.ts';
import { parseFlags } from './args.ts';

const scopes: TokenScope[] = ['ingest', 'read', 'admin'];

/** Runs `token create`. */
export async function tokenCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, { name: { type: 'string' }, scope: { type: 'string' }, db: { type: 'string' } });
  if (positionals[0] !== 'create') throw new UsageError('usage: heatledger token create --name NAME --scope ingest|read|admin [--db PATH]');
  if (!values.name) throw new UsageError('token create: --name is required');
  if (!scopes.includes(values.scope as TokenScope)) throw new UsageError('token create: --scope must be ingest, read or admin');
  const config = loadConfig(process.env, values.db ? { dbPath: values.db } : {});
  const db = openDatabase(config.dbPath);
  try {
    const token = db.$client.transaction(() => {
      const created = createToken(db, values.name!, values.scope as TokenScope);
      // The token itself never goes into the log; its name and scope identify it.
      recordAudit(db.$client, { ts: Date.now(), actor: cliActor(), action: 'token.create', target: `token:${values.name}`, details: { scope: values.scope } });
      return created;
    }).immediate();
    process.stdout.write(`${token}\n`);
  } finally {
    db.$client.close();
  }
  return 0;
}
