/**
 * What a test file needs from outside the repository (../shared fixtures, Chromium, a real
 * Slurm). Missing on a developer's machine, the tests that need it are skipped; with
 * HEATLEDGER_REQUIRE_FIXTURES=1 (CI sets it) a missing requirement fails the run instead,
 * so CI can never go green by skipping.
 */
export const requireAll = process.env.HEATLEDGER_REQUIRE_FIXTURES === '1';

/**
 * True when the tests that need `what` must be skipped. Throws (failing the file) when it
 * is missing and requirements are switched on.
 */
export function missing(what: string, present: boolean): boolean {
  if (present) return false;
  if (requireAll) throw new Error(`HEATLEDGER_REQUIRE_FIXTURES=1 but this run lacks ${what}`);
  return true;
}
