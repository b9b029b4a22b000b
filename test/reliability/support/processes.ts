/** Child processes for fault tests: the real server on a fixed port and database, the real GPU collector. */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
export const ownDoc = join(repoRoot, 'test/fixtures/nvidia-smi/h200-x2-mig-handwritten.xml');

/** A free loopback port (closed again; the server binds it next). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((res) => server.close(() => res()));
  return port;
}

export interface Child {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function start(args: string[], env: Record<string, string>): Child {
  const child = spawn(process.execPath, [join(repoRoot, 'bin/heatledger.js'), ...args], { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  return { child, output: () => log, exited };
}

/** Starts `heatledger serve` on `port` over `dbPath` and waits until it listens. */
export async function startServerOn(port: number, dbPath: string): Promise<Child> {
  const server = start(['serve', '--port', String(port), '--db', dbPath], { HEATLEDGER_HOST: '127.0.0.1' });
  const deadline = Date.now() + 30_000;
  while (!/listening on/.test(server.output())) {
    if (server.child.exitCode !== null) throw new Error(`server exited: ${server.output()}`);
    if (Date.now() > deadline) throw new Error(`server did not start: ${server.output()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return server;
}

/**
 * A directory with a fake `nvidia-smi` printing the project's H200 document with the
 * board powers replaced by 100+n W and 300+n W on its n-th call, and the call count in
 * `calls` beside it, so a test knows every sample the collector took.
 */
export function countingNvidiaSmi(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const script = `#!/bin/sh
n=$(( $(cat '${dir}/calls' 2>/dev/null || echo 0) + 1 ))
echo $n > '${dir}/calls'
sed "s/612.40 W/$((100 + n)).00 W/; s/233.50 W/$((300 + n)).00 W/" '${ownDoc}'
`;
  writeFileSync(join(dir, 'nvidia-smi'), script);
  chmodSync(join(dir, 'nvidia-smi'), 0o755);
  return dir;
}

/** A fake /proc: pid 4242 in job 12345, 5555 in job 777 (the PIDs in the H200 document). */
export function fakeProc(root: string): string {
  mkdirSync(join(root, '4242'), { recursive: true });
  writeFileSync(join(root, '4242', 'cgroup'), '11:memory:/slurm/uid_1000/job_12345/step_0/task_0\n');
  mkdirSync(join(root, '5555'), { recursive: true });
  writeFileSync(join(root, '5555', 'cgroup'), '0::/system.slice/slurmstepd.scope/job_777/step_0/user/task_0\n');
  return root;
}

/** Starts the GPU collector sending to `server` every `intervalS`, with `pathDir` first on PATH. */
export function startGpuCollector(opts: { server: string; tokenFile: string; spoolDir: string; pathDir: string; procRoot: string; intervalS: number; node?: string }): Child {
  return start(
    ['collect', 'gpu', '--server', opts.server, '--token-file', opts.tokenFile, '--interval', String(opts.intervalS), '--max-backoff', '1',
      '--spool-dir', opts.spoolDir, '--cluster', 'bitten', '--node', opts.node ?? 'gpu-n01', '--proc-root', opts.procRoot],
    { PATH: `${opts.pathDir}:${process.env.PATH ?? ''}` },
  );
}

/** Waits until `what()` holds, polling; throws with `describe()` after `ms`. */
export async function waitFor(what: () => boolean, ms: number, describe: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + ms;
  while (!what()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${describe()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
