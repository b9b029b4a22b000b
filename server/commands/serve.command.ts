/** `heatledger serve [--port N] [--db PATH] [--demo]`: the API and dashboard, optionally with the demo facility. */
import { loadConfig, type Config } from '../config.ts';
import { startServer } from '../main.ts';
import { parseFlags } from './args.ts';
import { UsageError } from '../../collectors/shared/usage-error.ts';

/** Runs `serve` until SIGINT or SIGTERM. */
export async function serveCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { port: { type: 'string' }, db: { type: 'string' }, demo: { type: 'boolean' } });
  const overrides: Partial<Config> = {};
  if (values.port !== undefined) {
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`serve: --port must be 0-65535, not '${values.port}'`);
    overrides.port = port;
  }
  if (values.db) overrides.dbPath = values.db;
  if (values.demo) overrides.demo = true;
  const running = await startServer(loadConfig(process.env, overrides));
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await running.close();
  return 0;
}
