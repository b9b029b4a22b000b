/** The one typed client the dashboard uses to talk to the server (Hono RPC). */
import { hc } from 'hono/client';
import type { AppType } from '../../../server/app.ts';

export const api = hc<AppType>('/', { init: { credentials: 'same-origin' } });

/** Raised when the server answers with an error body. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Returns the JSON body of a successful response, or throws an ApiError with the server's message. */
export async function unwrap<R extends { ok: boolean; status: number; json(): Promise<unknown> }>(
  response: Promise<R>,
): Promise<Awaited<ReturnType<R['json']>>> {
  const res = await response;
  if (!res.ok) {
    const body = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
    throw new ApiError(res.status, body?.error?.message ?? `HTTP ${res.status}`);
  }
  return (await res.json()) as Awaited<ReturnType<R['json']>>;
}
