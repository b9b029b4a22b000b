import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { missing } from './requirements.ts';

describe('required fixtures switch', () => {
  it('skips what is missing unless requirements are switched on, then fails', () => {
    expect(missing('x', true)).toBe(false);
    const run = (require: string) =>
      spawnSync(process.execPath, ['--import', 'tsx', '-e', "import { missing } from './test/support/requirements.ts'; console.log(missing('the moon', false))"], {
        encoding: 'utf8',
        env: { ...process.env, HEATLEDGER_REQUIRE_FIXTURES: require },
      });
    const lax = run('0');
    expect(lax.stdout.trim()).toBe('true');
    const strict = run('1');
    expect(strict.status).not.toBe(0);
    expect(strict.stderr).toContain('this run lacks the moon');
  });
});
