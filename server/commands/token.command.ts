/**
 * `heatledger token create --name NAME --scope ingest|read|admin [--expires WHEN] [--db PATH]`:
 * prints the token, one line. `token list [--json]` shows every token without its secret;
 * `token revoke NAME|PREFIX` revokes one.
 */
import { openDatabase, type Db } from '../../db/client.ts';
import { UsageError } from '../../collectors/shared/usage-error.ts';
import { loadConfig } from '../config.ts';
import { recordAudit, cliActor } from '../services/audit.service.ts';
import { createToken, listTokens, revokeToken, type TokenInfo, type TokenScope } from '../services/auth.service.ts';
import { parseFlags } from './args.ts';
import { createHubToken, listHubTokens, revokeHubToken } from '../../db/hub/people.ts';
import { hubDatabaseUrl, withHub } from './hub.command.ts';

const scopes: TokenScope[] = ['ingest', 'read', 'admin'];

const usage =
  'usage: heatledger token create --name NAME --scope ingest|read|admin [--expires ISO|90d|12h] [--db PATH]\n' +
  '       heatledger token list [--json] [--db PATH]\n' +
  '       heatledger token revoke NAME|PREFIX [--db PATH]\n' +
  '       (at the federation hub: the same with --database-url postgres://… instead of --db; scopes read or admin)';

const msByUnit: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/**
 * When a token made at `nowMs` with `--expires value` stops working: a duration (`90d`,
 * `12h`, `30m`, `2w`, `45s`), a date (`2027-01-31`: from 00:00 UTC that day) or a date and
 * time with its zone (`2027-01-31T18:00:00+01:00`). A time without a zone is refused rather
 * than guessed, as is a day that does not exist and an instant not in the future.
 */
export function parseExpiry(value: string, nowMs: number): number {
  const duration = /^(\d{1,6})([smhdw])$/.exec(value);
  if (duration) {
    const amount = Number(duration[1]);
    if (amount === 0) throw new UsageError(`token create: --expires ${value}: a duration must be longer than zero`);
    return nowMs + amount * msByUnit[duration[2]!]!;
  }
  const instant = /^(\d{4})-(\d{2})-(\d{2})(T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?)?$/.exec(value);
  if (!instant) throw new UsageError(`token create: --expires ${value}: give a duration (90d, 12h, 30m) or an ISO date or date-time (2027-01-31, 2027-01-31T18:00:00Z)`);
  const [, y, mo, d, time, zone] = instant;
  const day = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
  if (day.toISOString().slice(0, 10) !== `${y}-${mo}-${d}`) throw new UsageError(`token create: --expires ${value}: there is no such day`);
  if (time && !zone) throw new UsageError(`token create: --expires ${value}: give the time zone (Z or +01:00), the server's may not be yours`);
  const ms = time ? Date.parse(value) : day.getTime();
  if (Number.isNaN(ms)) throw new UsageError(`token create: --expires ${value}: not a valid time of day`);
  if (ms <= nowMs) throw new UsageError(`token create: --expires ${value}: that is not in the future`);
  return ms;
}

/** Runs `token create`, `token list` or `token revoke`. */
export async function tokenCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    name: { type: 'string' },
    scope: { type: 'string' },
    expires: { type: 'string' },
    json: { type: 'boolean' },
    db: { type: 'string' },
    'database-url': { type: 'string' },
  });
  const action = positionals[0];
  if (values['database-url'] !== undefined) return hubTokens(action, positionals, values);
  if (action === 'create') {
    if (positionals.length > 1) throw new UsageError(`token create: unexpected argument '${positionals[1]}'`);
    if (!values.name) throw new UsageError('token create: --name is required');
    if (!scopes.includes(values.scope as TokenScope)) throw new UsageError('token create: --scope must be ingest, read or admin');
    const nowMs = Date.now();
    const expiresTs = values.expires === undefined ? null : parseExpiry(values.expires, nowMs);
    const token = withDatabase(values.db, (db) =>
      db.$client
        .transaction(() => {
          const created = createToken(db, values.name!, values.scope as TokenScope, nowMs, expiresTs);
          // The token itself never goes into the log; its prefix, name and scope identify it.
          const prefix = /^hl_[a-z]+_\d+_/.exec(created)![0];
          recordAudit(db.$client, {
            ts: nowMs,
            actor: cliActor(),
            action: 'token.create',
            target: `token:${values.name}`,
            details: { scope: values.scope, prefix, expires: expiresTs === null ? null : new Date(expiresTs).toISOString() },
          });
          return created;
        })
        .immediate(),
    );
    process.stdout.write(`${token}\n`);
    return 0;
  }
  if (action === 'list') {
    if (positionals.length > 1) throw new UsageError(`token list: unexpected argument '${positionals[1]}'`);
    const tokens = withDatabase(values.db, (db) => listTokens(db));
    process.stdout.write(values.json ? `${JSON.stringify(tokens.map(asJson), null, 2)}\n` : table(tokens, Date.now()));
    return 0;
  }
  if (action === 'revoke') {
    const ref = positionals[1];
    if (!ref || positionals.length > 2) throw new UsageError('token revoke: name one token: heatledger token revoke NAME|PREFIX');
    const nowMs = Date.now();
    const revoked = withDatabase(values.db, (db) =>
      db.$client
        .transaction(() => {
          const token = revokeToken(db, ref, nowMs);
          recordAudit(db.$client, { ts: nowMs, actor: cliActor(), action: 'token.revoke', target: `token:${token.name}`, details: { scope: token.scope, prefix: token.prefix } });
          return token;
        })
        .immediate(),
    );
    process.stdout.write(`revoked ${revoked.prefix} (${revoked.name}, ${revoked.scope})\n`);
    return 0;
  }
  throw new UsageError(usage);
}

/** `token create|list|revoke … --database-url URL`: the hub's read and admin tokens (push tokens: `hub token create --site`). */
async function hubTokens(action: string | undefined, positionals: string[], values: { name?: string; scope?: string; expires?: string; json?: boolean; 'database-url'?: string }): Promise<number> {
  const url = hubDatabaseUrl(values['database-url'], `token ${action ?? ''}`.trim());
  const nowMs = Date.now();
  if (action === 'create') {
    if (!values.name) throw new UsageError('token create: --name is required');
    if (values.scope !== 'read' && values.scope !== 'admin') throw new UsageError("token create --database-url: --scope must be read or admin at the hub (a site's push token: heatledger hub token create --site NAME)");
    const expiresTs = values.expires === undefined ? null : parseExpiry(values.expires, nowMs);
    const token = await withHub(url, (hub) =>
      createHubToken(hub, { name: values.name!, scope: values.scope as 'read' | 'admin', site: null, expiresTs, nowTs: nowMs }).catch((e: Error) => {
        throw new UsageError(`token create: ${e.message}`);
      }),
    );
    process.stdout.write(`${token}\n`);
    return 0;
  }
  if (action === 'list') {
    const tokens = await withHub(url, listHubTokens);
    const rows = tokens.map((t) => ({ ...t, scope: t.scope as TokenScope, id: 0, name: t.site ? `${t.name} (site ${t.site})` : t.name }));
    process.stdout.write(values.json ? `${JSON.stringify(rows.map(asJson), null, 2)}\n` : table(rows, nowMs));
    return 0;
  }
  if (action === 'revoke') {
    const ref = positionals[1];
    if (!ref || positionals.length > 2) throw new UsageError('token revoke: name one token: heatledger token revoke NAME|PREFIX --database-url URL');
    const name = await withHub(url, (hub) =>
      revokeHubToken(hub, ref, nowMs).catch((e: Error) => {
        throw new UsageError(`token revoke: ${e.message}`);
      }),
    );
    process.stdout.write(`revoked ${name} at the hub\n`);
    return 0;
  }
  throw new UsageError(usage);
}

/** Opens the database for an administrative command: the server's rollups are left to the server. */
function withDatabase<T>(dbFlag: string | undefined, work: (db: Db) => T): T {
  const config = loadConfig(process.env, dbFlag ? { dbPath: dbFlag } : {});
  const db = openDatabase(config.dbPath, { refreshRollups: false });
  try {
    return work(db);
  } finally {
    db.$client.close();
  }
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function asJson(t: TokenInfo) {
  return { prefix: t.prefix, name: t.name, scope: t.scope, created: iso(t.createdTs), expires: iso(t.expiresTs), revoked: iso(t.revokedTs) };
}

function state(t: TokenInfo, nowMs: number): string {
  if (t.revokedTs !== null) return 'revoked';
  return t.expiresTs !== null && t.expiresTs <= nowMs ? 'expired' : 'live';
}

/** Columns padded to their widest cell; times to the second, in UTC. */
function table(tokens: TokenInfo[], nowMs: number): string {
  const at = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString().slice(0, 19) + 'Z');
  const rows = [
    ['PREFIX', 'NAME', 'SCOPE', 'STATE', 'CREATED', 'EXPIRES', 'REVOKED'],
    ...tokens.map((t) => [t.prefix, t.name, t.scope, state(t, nowMs), at(t.createdTs), at(t.expiresTs), at(t.revokedTs)]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}
