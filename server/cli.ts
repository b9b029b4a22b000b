/**
 * `heatledger` command line (CONTRACTS.md §1). Each command returns an exit code; a
 * command that meets input it cannot use prints one clear line on stderr, never only a
 * stack trace.
 */
import { pathToFileURL } from 'node:url';
import { UsageError } from '../collectors/shared/usage-error.ts';

export { UsageError };

const usage = `usage: heatledger <command>
  serve [--port N] [--db PATH] [--demo]
  token create --name NAME --scope ingest|read|admin [--expires ISO|90d|12h] [--db PATH]
  token list [--json] [--db PATH]   (prefix, name, scope, state, dates; never the token)
  token revoke NAME|PREFIX [--db PATH]   (refused at once; a name or prefix that fits several revokes none)
  user add --name NAME --role researcher|pi|committee|facility|admin [--project P]... [--email ADDRESS] [--lang en|da] [--db PATH]
  user export USER [--db PATH]      (JSON of everything stored about the person)
  user forget USER [--db PATH]      (delete the account; pseudonymise their job records)
  backup PATH [--db PATH]           (online, consistent copy of the database)
  job report JOBID [--cluster NAME] [--json] [--db PATH]   (one job's efficiency report and flags)
  report monthly --month YYYY-MM [--send] [--out DIR] [--db PATH]   (each researcher's and PI's jobs, flags and costs; --send mails them)
  allocation import FILE.csv [--db PATH]   (header: project,parent,grantedGpuHours,periodStart,periodEnd)
  collect gpu|slurm|facility ...   (heatledger collect <kind> --help)
  hub serve [--port N] --database-url postgres://…   (the federation hub on PostgreSQL; env HEATLEDGER_HUB_DATABASE_URL)
  hub token create --site NAME --database-url URL    (a site's push token, one line)
  hub grant --project P --gpu-hours N --from DATE --to DATE --database-url URL   (a national grant, used at every site)
  hub push [--db PATH]   (push this site's complete hours; HEATLEDGER_HUB_URL, HEATLEDGER_HUB_TOKEN, HEATLEDGER_SITE)
  token create|list|revoke … --database-url URL and user add|export|forget … --database-url URL: the hub's tokens and people`;

type Command = (argv: string[]) => Promise<number>;

const commands: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./commands/serve.command.ts')).serveCommand,
  token: async () => (await import('./commands/token.command.ts')).tokenCommand,
  user: async () => (await import('./commands/user.command.ts')).userCommand,
  allocation: async () => (await import('./commands/allocation.command.ts')).allocationCommand,
  backup: async () => (await import('./commands/backup.command.ts')).backupCommand,
  job: async () => (await import('./commands/job.command.ts')).jobCommand,
  report: async () => (await import('./commands/report.command.ts')).reportCommand,
  hub: async () => (await import('./commands/hub.command.ts')).hubCommand,
  collect: async () => async (argv) => {
    const kind = argv[0];
    if (kind === 'gpu') return (await import('../collectors/gpu/gpu.cli.ts')).gpuCli(argv.slice(1));
    if (kind === 'slurm') return (await import('../collectors/slurm/slurm.cli.ts')).slurmCli(argv.slice(1));
    if (kind === 'facility') return (await import('../collectors/facility/facility.cli.ts')).facilityCli(argv.slice(1));
    throw new UsageError(`collect: unknown collector '${kind ?? ''}' (gpu, slurm or facility)`);
  },
};

/** Runs one command line and returns its exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    process.stdout.write(`${usage}\n`);
    return name ? 0 : 2;
  }
  const load = commands[name];
  if (!load) {
    process.stderr.write(`heatledger: unknown command '${name}'\n${usage}\n`);
    return 2;
  }
  try {
    return await (await load())(rest);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`heatledger ${name}: ${message}\n`);
    // Read directly, not through server/config.ts: the configuration may be what failed.
    if (process.env.HEATLEDGER_DEBUG === '1' && error instanceof Error) process.stderr.write(`${error.stack}\n`);
    return error instanceof UsageError ? 2 : 1;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await main(process.argv.slice(2));
}
