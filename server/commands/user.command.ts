/**
 * `heatledger user add --name NAME --role ROLE [--project P]… [--email ADDRESS] [--lang en|da] [--db PATH]`; the password is one line on stdin.
 * `heatledger user export USER` prints everything stored about the person as JSON;
 * `heatledger user forget USER` deletes the account and pseudonymises their job records.
 * With `--database-url postgres://…` instead of `--db`, the same at the federation hub.
 */
import { createInterface } from 'node:readline';
import { openDatabase } from '../../db/client.ts';
import { UsageError } from '../../collectors/shared/usage-error.ts';
import { loadConfig } from '../config.ts';
import { cliActor, recordAudit } from '../services/audit.service.ts';
import { addUser, hashPassword, roles, type Role } from '../services/auth.service.ts';
import { exportHubPerson, forgetHubPerson, putHubUser } from '../../db/hub/people.ts';
import { hubDatabaseUrl, withHub } from './hub.command.ts';
import { exportPerson, forgetPerson } from '../services/privacy.service.ts';
import { parseFlags } from './args.ts';

async function readLine(): Promise<string> {
  const rl = createInterface({ input: process.stdin, terminal: false });
  for await (const line of rl) {
    rl.close();
    return line;
  }
  return '';
}

/** Runs `user add`, `user export` or `user forget`. */
export async function userCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    name: { type: 'string' },
    role: { type: 'string' },
    project: { type: 'string', multiple: true },
    email: { type: 'string' },
    lang: { type: 'string' },
    db: { type: 'string' },
    'database-url': { type: 'string' },
  });
  if (positionals[0] === 'export' || positionals[0] === 'forget') {
    if (values['database-url'] !== undefined) return hubPersonRequest(positionals[0], positionals.slice(1), hubDatabaseUrl(values['database-url'], `user ${positionals[0]}`));
    return personRequest(positionals[0], positionals.slice(1), values.db);
  }
  if (positionals[0] !== 'add') throw new UsageError('usage: heatledger user add --name NAME --role ROLE [--project P]... [--email ADDRESS] [--lang en|da] [--db PATH] | user export USER | user forget USER (each with --db PATH, or --database-url URL at the hub)');
  if (!values.name) throw new UsageError('user add: --name is required');
  if (!roles.includes(values.role as Role)) throw new UsageError(`user add: --role must be one of ${roles.join(', ')}`);
  if (values.email !== undefined && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(values.email)) throw new UsageError(`user add: --email '${values.email}' is not an email address`);
  if (values.lang !== undefined && values.lang !== 'en' && values.lang !== 'da') throw new UsageError('user add: --lang must be en or da');
  const password = await readLine();
  if (values['database-url'] !== undefined) {
    // The federation hub's people: the same roles; researchers and PIs see their projects at every site.
    const url = hubDatabaseUrl(values['database-url'], 'user add');
    if (password.length < 8) throw new UsageError('user add: the password (one line on stdin) must be at least 8 characters');
    await withHub(url, (hub) =>
      putHubUser(hub, { username: values.name!, role: values.role as Role, passwordHash: hashPassword(password), projects: values.project ?? [], nowTs: Date.now() }),
    );
    process.stderr.write(`user ${values.name} added at the hub as ${values.role}\n`);
    return 0;
  }
  const config = loadConfig(process.env, values.db ? { dbPath: values.db } : {});
  const db = openDatabase(config.dbPath, { refreshRollups: false });
  try {
    db.$client.transaction(() => {
      addUser(db, { username: values.name!, role: values.role as Role, password, projects: values.project ?? [], email: values.email ?? null, lang: (values.lang as 'en' | 'da' | undefined) ?? null });
      recordAudit(db.$client, { ts: Date.now(), actor: cliActor(), action: 'user.add', target: `user:${values.name}`, details: { role: values.role, projects: values.project ?? [] } });
    }).immediate();
  } finally {
    db.$client.close();
  }
  process.stderr.write(`user ${values.name} added as ${values.role}\n`);
  return 0;
}

/** `user export USER` (JSON on stdout) and `user forget USER` (summary on stderr). */
async function personRequest(action: 'export' | 'forget', args: string[], dbPath: string | undefined): Promise<number> {
  if (args.length !== 1 || !args[0]) throw new UsageError(`usage: heatledger user ${action} USER [--db PATH]`);
  const username = args[0];
  const config = loadConfig(process.env, dbPath ? { dbPath } : {});
  const db = openDatabase(config.dbPath, { refreshRollups: false });
  try {
    if (action === 'export') {
      process.stdout.write(`${JSON.stringify(exportPerson(db.$client, username, Date.now()), null, 2)}\n`);
    } else {
      const r = forgetPerson(db.$client, username, { nowMs: Date.now(), actor: cliActor() });
      process.stderr.write(
        `user ${username} forgotten: account ${r.account ? 'deleted' : 'absent'}, ${r.sessions} session(s) and ${r.memberships} membership(s) deleted, ${r.jobs} job record(s) now under ${r.pseudonym}\n`,
      );
    }
  } finally {
    db.$client.close();
  }
  return 0;
}

/** `user export|forget USER --database-url URL`: the same at the federation hub. */
async function hubPersonRequest(action: 'export' | 'forget', args: string[], url: string): Promise<number> {
  if (args.length !== 1 || !args[0]) throw new UsageError(`usage: heatledger user ${action} USER --database-url postgres://…`);
  const username = args[0];
  return withHub(url, async (hub) => {
    if (action === 'export') {
      process.stdout.write(`${JSON.stringify(await exportHubPerson(hub, username), null, 2)}\n`);
      return 0;
    }
    const r = await forgetHubPerson(hub, username, { nowTs: Date.now(), actor: cliActor() });
    process.stderr.write(
      `user ${username} forgotten at the hub: account ${r.account ? 'deleted' : 'absent'}, ${r.sessions} session(s) and ${r.memberships} membership(s) deleted, ${r.jobs} job record(s) and ${r.usageRows} usage row(s) now under ${r.pseudonym}\n`,
    );
    if (r.sites.length > 0) process.stderr.write(`sites that pushed the name: ${r.sites.join(', ')}; forget the person there too (heatledger user forget ${username} --db …), or a later push brings the name back\n`);
    return 0;
  });
}
