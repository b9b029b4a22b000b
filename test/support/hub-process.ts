/** Starts the real `heatledger hub serve` as a child process on a given port and waits until it listens. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');

export interface HubProcess {
  url: string;
  child: ChildProcess;
  output: () => string;
  /** SIGTERM, and resolves when it has exited. */
  stop(): Promise<void>;
}

export async function startHubProcess(databaseUrl: string, port: number): Promise<HubProcess> {
  const child = spawn(process.execPath, ['bin/heatledger.js', 'hub', 'serve', '--port', String(port), '--database-url', databaseUrl], {
    cwd: repoRoot,
    env: { ...process.env, HEATLEDGER_HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  await new Promise<void>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`hub did not start:\n${log}`)), 30_000);
    child.stdout!.on('data', () => {
      if (/hub listening on http:\/\/localhost:\d+/.test(log)) {
        clearTimeout(timer);
        res();
      }
    });
    child.once('exit', (code) => rej(new Error(`hub exited with ${code}:\n${log}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    child,
    output: () => log,
    stop: () =>
      new Promise<void>((res) => {
        if (child.exitCode !== null || child.signalCode !== null) return res();
        child.once('exit', () => res());
        child.kill('SIGTERM');
      }),
  };
}

/** Runs `heatledger ARGS…` to completion. */
export function heatledger(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, ['bin/heatledger.js', ...args], { cwd: repoRoot, env: { ...process.env, ...env }, encoding: 'utf8' });
}
