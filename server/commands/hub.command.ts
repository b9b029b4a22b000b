/**
 * The federation hub (issue 18; CONTRACTS.md §4):
 *   heatledger hub serve [--port N] --database-url postgres://…   (HEATLEDGER_HUB_DATABASE_URL)
 *   heatledger hub token create --site NAME --database-url …       (a site's push token, one line)
 *   heatledger hub grant --project P --gpu-hours N --from DATE --to DATE --database-url …   (a national grant)
 *   heatledger hub push [--db PATH]   (HEATLEDGER_HUB_URL, HEATLEDGER_HUB_TOKEN, HEATLEDGER_SITE; once, status 0 only when all was accepted)
 */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { UsageError } from '../../collectors/shared/usage-error.ts';
import { openDatabase } from '../../db/client.ts';
import { createHubToken, setNationalGrant } from '../../db/hub/people.ts';
import { openHub, warmHub, type HubStore } from '../../db/hub/store.ts';
import { createStore } from '../../db/store.ts';
import { loadConfig } from '../config.ts';
import { createHubApp } from '../hub/app.ts';
import { pushToHub } from '../services/hub-push.service.ts';
import { cliActor } from '../services/audit.service.ts';
import { parseFlags } from './args.ts';

const usage =
  'usage: heatledger hub serve [--port N] --database-url postgres://…\n' +
  '       heatledger hub token create --site NAME [--name NAME] --database-url postgres://…\n' +
  '       heatledger hub grant --project P --gpu-hours N --from YYYY-MM-DD --to YYYY-MM-DD --database-url postgres://…\n' +
  '       heatledger hub push [--db PATH]   (with HEATLEDGER_HUB_URL, HEATLEDGER_HUB_TOKEN, HEATLEDGER_SITE)';

/** The hub's database URL: --database-url, else HEATLEDGER_HUB_DATABASE_URL. */
export function hubDatabaseUrl(flag: string | undefined, command: string): string {
  const url = flag ?? process.env.HEATLEDGER_HUB_DATABASE_URL;
  if (!url) throw new UsageError(`${command}: give --database-url postgres://… (or set HEATLEDGER_HUB_DATABASE_URL)`);
  if (!/^postgres(ql)?:\/\//.test(url)) throw new UsageError(`${command}: --database-url must be a postgres:// URL`);
  return url;
}

/** Opens the hub's database for one command and closes it afterwards. */
export async function withHub<T>(url: string, work: (hub: HubStore) => Promise<T>): Promise<T> {
  const hub = await openHub(url, { max: 2 });
  try {
    return await work(hub);
  } finally {
    await hub.close();
  }
}

export async function hubCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    port: { type: 'string' },
    'database-url': { type: 'string' },
    site: { type: 'string' },
    name: { type: 'string' },
    project: { type: 'string' },
    'gpu-hours': { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    db: { type: 'string' },
  });
  const [action, sub] = positionals;
  if (action === 'serve') return hubServe(values.port, hubDatabaseUrl(values['database-url'], 'hub serve'));
  if (action === 'token' && sub === 'create') {
    if (!values.site) throw new UsageError('hub token create: --site NAME is required (the site this token pushes for)');
    const url = hubDatabaseUrl(values['database-url'], 'hub token create');
    const token = await withHub(url, (hub) =>
      createHubToken(hub, { name: values.name ?? `site-${values.site}`, scope: 'push', site: values.site!, expiresTs: null, nowTs: Date.now() }).catch((e: Error) => {
        throw new UsageError(`hub token create: ${e.message}`);
      }),
    );
    process.stdout.write(`${token}\n`);
    return 0;
  }
  if (action === 'grant') {
    const url = hubDatabaseUrl(values['database-url'], 'hub grant');
    const gpuHours = Number(values['gpu-hours']);
    if (!values.project) throw new UsageError('hub grant: --project is required');
    if (!Number.isFinite(gpuHours) || gpuHours < 0) throw new UsageError(`hub grant: --gpu-hours must be a number ≥ 0, not '${values['gpu-hours'] ?? ''}'`);
    const day = (v: string | undefined, flag: string) => {
      if (!v || !/^\d{4}-\d{2}-\d{2}$/.test(v) || Number.isNaN(Date.parse(v))) throw new UsageError(`hub grant: --${flag} must be a date YYYY-MM-DD`);
      return Date.parse(v);
    };
    const fromTs = day(values.from, 'from');
    const toTs = day(values.to, 'to');
    if (toTs <= fromTs) throw new UsageError('hub grant: --to must be after --from');
    await withHub(url, (hub) => setNationalGrant(hub, { project: values.project!, fromTs, toTs, gpuHours, actor: cliActor(), nowTs: Date.now() }));
    process.stderr.write(`national grant of ${gpuHours} GPU-hours to ${values.project} from ${values.from} to ${values.to}, used at every site\n`);
    return 0;
  }
  if (action === 'push') return hubPush(values.db);
  throw new UsageError(usage);
}

async function hubServe(portFlag: string | undefined, url: string): Promise<number> {
  const port = portFlag === undefined ? Number(process.env.HEATLEDGER_PORT ?? 8090) : Number(portFlag);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`hub serve: --port must be 0-65535, not '${portFlag}'`);
  const hub = await openHub(url);
  const app = createHubApp({ hub, config: loadConfig(process.env) });
  // The common windows' pieces and wait runs kept before the first request.
  console.log(`hub warm-up: the last 30 and 365 days, a project's year and the grants read once in ${Math.round(await warmHub(hub, Date.now()))} ms`);
  const server = serve({ fetch: app.fetch, port, hostname: process.env.HEATLEDGER_HOST ?? '0.0.0.0' });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  console.log(`HeatLedger hub listening on http://localhost:${(server.address() as AddressInfo).port} (PostgreSQL ${new URL(url).host}${new URL(url).pathname})`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await hub.close();
  return 0;
}

/** One push of the site's ledger: rollup upkeep first (so the latest complete hours are settled), then every changed day. */
async function hubPush(dbFlag: string | undefined): Promise<number> {
  const config = loadConfig(process.env, dbFlag ? { dbPath: dbFlag } : {});
  if (!config.hub) throw new UsageError('hub push: set HEATLEDGER_HUB_URL, HEATLEDGER_HUB_TOKEN and HEATLEDGER_SITE');
  const db = openDatabase(config.dbPath);
  try {
    createStore(db.$client, config).compact(Date.now());
    const r = await pushToHub(db.$client, { hubUrl: config.hub.url, token: config.hub.token, site: config.hub.site, realNames: config.hub.realNames });
    process.stdout.write(`hub push: ${r.sent} days stored, ${r.unchanged} unchanged, ${r.rows} rows sent\n`);
    if (!r.ok) process.stderr.write(`hub push: not everything was accepted: ${r.error}\n`);
    return r.ok ? 0 : 1;
  } finally {
    db.$client.close();
  }
}
