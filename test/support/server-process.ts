/** Starts the real `heatledger serve` as a child process and waits until it listens. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ServerProcess {
  url: string;
  dbPath: string;
  child: ChildProcess;
  output: () => string;
  stop(): Promise<void>;
}

/** Spawns `node bin/heatledger.js serve --port 0 …` and resolves with its URL. */
export async function startServerProcess(args: string[] = [], env: Record<string, string> = {}): Promise<ServerProcess> {
  const dbPath = join(mkdtempSync(join(tmpdir(), 'hl-e2e-')), 'heatledger.db');
  const child = spawn(process.execPath, ['bin/heatledger.js', 'serve', '--port', '0', '--db', dbPath, ...args], {
    // A week of demo history keeps end-to-end tests quick on a busy two-core machine; the
    // full month is measured by `npm run bench`.
    env: { ...process.env, HEATLEDGER_HOST: '127.0.0.1', HEATLEDGER_DEMO_DAYS: '7', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${log}`)), 30_000);
    const onData = () => {
      const m = /listening on http:\/\/localhost:(\d+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(`http://127.0.0.1:${m[1]}`);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`server exited with ${code}:\n${log}`)));
  });
  return {
    url,
    dbPath,
    child,
    output: () => log,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');

/** A new API token from the real `heatledger token create` on the database at `dbPath`. */
export function createTokenByCli(dbPath: string, name: string, scope: 'ingest' | 'read' | 'admin'): string {
  const run = spawnSync(process.execPath, [join(repoRoot, 'bin', 'heatledger.js'), 'token', 'create', '--name', name, '--scope', scope, '--db', dbPath], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  if (run.status !== 0) throw new Error(`token create failed: ${run.stderr}`);
  return run.stdout.trim();
}

/** Resolves with a child's exit code once it has exited (at once if it already has). */
export function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((res) => {
    if (child.exitCode !== null || child.signalCode !== null) return res(child.exitCode);
    child.once('exit', (code) => res(code));
  });
}
