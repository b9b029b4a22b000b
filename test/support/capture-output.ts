/** Captures what a CLI function writes to stdout and stderr during a test (restore with vi.restoreAllMocks). */
import { vi } from 'vitest';

/** Starts capturing; the arrays fill as the code under test writes. */
export function captureOutput(): { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => (err.push(String(s)), true));
  return { out, err };
}
