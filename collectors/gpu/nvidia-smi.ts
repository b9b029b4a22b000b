/**
 * Runs `nvidia-smi -q -x` through node-nvidia-smi, the project's one way to call it, and
 * turns each way it can fail into one message that names nvidia-smi and the cause.
 *
 * node-nvidia-smi 1.0 calls `child_process.exec('nvidia-smi -q -x', cb)` with exec's
 * defaults: no timeout (a hung driver would hang the collector) and a 1 MiB stdout cap
 * (a Blackwell GPU's document is ~120 KB, so 8–9 of them overflow it). It also reports
 * any stderr output as the error and discards stdout. Because its `exec` looks up
 * `execFile` on the child_process module at call time, we lend it an execFile with a
 * timeout, a larger cap and a callback that keeps stdout/stderr for the message, for
 * the one synchronous call only, and put the original back before anything else runs.
 */
import childProcess, { type ExecFileException } from 'node:child_process';
import nvidiaSmi from 'node-nvidia-smi';

/** nvidia-smi is missing, failed, hung or printed something that is not its XML log. */
export class NvidiaSmiError extends Error {}

export interface NvidiaSmiOptions {
  /** nvidia-smi is killed after this long; it can block for minutes on a sick GPU. */
  timeoutMs?: number;
  maxOutputBytes?: number;
}

interface Captured {
  error: ExecFileException | null;
  stdout: string;
  stderr: string;
}

type ExecFileCallback = (error: ExecFileException | null, stdout: string, stderr: string) => void;

let running = false;

function firstLine(text: string): string {
  return text.split('\n').map((line) => line.trim()).find((line) => line.length > 0)?.slice(0, 300) ?? '';
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(error: Error | string, captured: Captured | null, timeoutMs: number, maxOutputBytes: number): string {
  if (typeof error === 'string') {
    // node-nvidia-smi hands back stderr itself when nvidia-smi exited 0 but wrote to it.
    return `nvidia-smi wrote to stderr (counted as a failure): ${firstLine(error) || '(blank)'}`;
  }
  const exec = captured?.error ?? null;
  if (exec === null) {
    // exec succeeded, so the error is xml2js's: the output is not well-formed XML, or uses
    // entities we refuse to expand.
    return `nvidia-smi printed something that is not XML: ${firstLine(error.message)} (output starts ${JSON.stringify((captured?.stdout ?? '').trimStart().slice(0, 60))})`;
  }
  const detail = firstLine(captured?.stderr ?? '') || firstLine(captured?.stdout ?? '');
  if ((exec as { code?: unknown }).code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') {
    return `nvidia-smi printed more than ${Math.round(maxOutputBytes / 1024 / 1024)} MiB`;
  }
  if (exec.killed || exec.signal) {
    return exec.killed
      ? `nvidia-smi did not answer within ${timeoutMs / 1000} s and was stopped`
      : `nvidia-smi was killed by ${exec.signal}`;
  }
  if (exec.code === 127 || /not found|no such file/i.test(captured?.stderr ?? '')) {
    return 'nvidia-smi was not found on PATH (is the NVIDIA driver installed on this node?)';
  }
  if (exec.code === 126) return `nvidia-smi could not be executed: ${detail || 'permission denied'}`;
  return `nvidia-smi failed with exit code ${String(exec.code)}${detail ? `: ${detail}` : ''}`;
}

/** Runs `nvidia-smi -q -x` via node-nvidia-smi and resolves with xml2js's object. */
export function runNvidiaSmi(options: NvidiaSmiOptions = {}): Promise<unknown> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const maxOutputBytes = options.maxOutputBytes ?? 64 * 1024 * 1024;
  if (running) {
    // The earlier child could not be killed (a GPU in uninterruptible sleep): starting
    // more would only pile them up.
    return Promise.reject(new NvidiaSmiError('nvidia-smi: the previous run has not finished yet'));
  }
  running = true;
  return new Promise<unknown>((resolve, reject) => {
    let settled = false;
    let captured: Captured | null = null;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(guard);
      fn();
    };
    // exec's own timeout kills the child; this one only covers a child that ignores it.
    const guard = setTimeout(() => {
      settle(() => reject(new NvidiaSmiError(`nvidia-smi did not answer within ${timeoutMs / 1000} s`)));
    }, timeoutMs + 5_000);

    const module = childProcess as unknown as { execFile: (...args: unknown[]) => unknown };
    const original = module.execFile;
    module.execFile = function lentExecFile(this: unknown, ...args: unknown[]) {
      const at = args.findIndex((arg) => typeof arg === 'function');
      if (at > 0 && isPlainObject(args[at - 1])) {
        args[at - 1] = { ...(args[at - 1] as object), timeout: timeoutMs, maxBuffer: maxOutputBytes, killSignal: 'SIGKILL' };
      }
      if (at >= 0) {
        const callback = args[at] as ExecFileCallback;
        args[at] = (error: ExecFileException | null, stdout: string, stderr: string) => {
          running = false;
          captured = { error, stdout: String(stdout ?? ''), stderr: String(stderr ?? '') };
          callback(error, stdout, stderr);
        };
      }
      return original.apply(this, args);
    };
    try {
      nvidiaSmi((error, data) => {
        running = false;
        settle(() => {
          if (error) reject(new NvidiaSmiError(describe(error, captured, timeoutMs, maxOutputBytes)));
          else if (data === null || data === undefined) reject(new NvidiaSmiError('nvidia-smi printed no XML document'));
          else resolve(data);
        });
      });
    } catch (error) {
      running = false;
      settle(() => reject(new NvidiaSmiError(`nvidia-smi could not be started: ${(error as Error).message}`)));
    } finally {
      module.execFile = original;
    }
  });
}
