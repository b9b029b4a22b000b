/** `heatledger user add --name NAME --role ROLE [--project P]… [--db PATH]`; the password is one line on stdin. */
import { createInterface } from 'node:readline';
import { openDatabase } from '../../db/client.ts';
import { UsageError } from '../../collectors/shared/usage-error.ts';
import { loadConfig } from '../config.ts';
import { addUser, roles, type Role } from '../services/auth.service.ts';
import { parseFlags } from './args.ts';

async function readLine(): Promise<string> {
  const rl = createInterface({ input: process.stdin, terminal: false });
  for await (const line of rl) {
    rl.close();
    return line;
  }
  return '';
}

/** Runs `user add`. */
export async function userCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    name: { type: 'string' },
    role: { type: 'string' },
    project: { type: 'string', multiple: true },
    db: { type: 'string' },
  });
  if (positionals[0] !== 'add') throw new UsageError('usage: heatledger user add --name NAME --role ROLE [--project P]... [--db PATH]');
  if (!values.name) throw new UsageError('user add: --name is required');
  if (!roles.includes(values.role as Role)) throw new UsageError(`user add: --role must be one of ${roles.join(', ')}`);
  const password = await readLine();
  const config = loadConfig(process.env, values.db ? { dbPath: values.db } : {});
  const db = openDatabase(config.dbPath);
  try {
    addUser(db, { username: values.name, role: values.role as Role, password, projects: values.project ?? [] });
  } finally {
    db.$client.close();
  }
  process.stderr.write(`user ${values.name} added as ${values.role}\n`);
  return 0;
}
