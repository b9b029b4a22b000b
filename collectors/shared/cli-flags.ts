/** Flag helpers shared by the collectors' command lines; errors name the command and flag. */
import { readFileSync } from 'node:fs';
import { UsageError } from './usage-error.ts';

/** A positive number from a flag's text, or `fallback` when the flag was not given. */
export function positiveFlag(command: string, name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new UsageError(`${command}: --${name} must be a positive number, not '${raw}'`);
  return value;
}

/** An http(s) address from a flag's text. */
export function httpUrlFlag(command: string, name: string, raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`${command}: --${name} '${raw}' is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`${command}: --${name} must be http:// or https://, not ${url.protocol}`);
  return url;
}

/** The ingest token from `--token` or `--token-file` (one of them, not both). */
export function tokenFlag(command: string, values: { token?: string; 'token-file'?: string }): string {
  if (values.token && values['token-file']) throw new UsageError(`${command}: give --token or --token-file, not both`);
  if (values['token-file']) {
    let token: string;
    try {
      token = readFileSync(values['token-file'], 'utf8').trim();
    } catch (error) {
      throw new UsageError(`${command}: cannot read --token-file ${values['token-file']}: ${(error as Error).message}`, { cause: error });
    }
    if (!token) throw new UsageError(`${command}: --token-file ${values['token-file']} is empty`);
    return token;
  }
  if (values.token) return values.token;
  throw new UsageError(`${command}: --server needs --token or --token-file`);
}
