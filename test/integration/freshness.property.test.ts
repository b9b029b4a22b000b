/**
 * Issue 14 point 6: whatever writes, and from wherever, a connection's kept answers are
 * never behind. Random short sequences of writes through every entry point (GPU and job
 * ingest, late and duplicate samples, corrected job records, facility readings, `user
 * forget`, grant changes, the compactor, each of them also from a second process on the
 * same file) with the clock moving on; after each step every read through the server's
 * long-lived connection equals the same read on a connection opened for it, which has kept
 * nothing. The writers' own lookups are checked too: they do not change what a read says
 * but what is stored, so at the end of each sequence the file equals, read for read, a
 * reference file that got the same writes, each through a connection opened for it.
 */
import fc from 'fast-check';
import { afterAll, describe, it } from 'vitest';
import { Run, comparable, firstDifference, makeTemplate, removeTemplate, scenario } from '../support/freshness-model.ts';

/** Sequences run in CI: each is a few commands over a few hours of two nodes. */
const NUM_RUNS = Number(process.env.FRESH_RUNS ?? 300);

const template = makeTemplate();
afterAll(() => removeTemplate(template));

/** Throws naming the first read whose two answers differ, and where. */
function expectSame(what: string, a: Map<string, unknown>, b: Map<string, unknown>): void {
  for (const [path, answer] of a) {
    const difference = firstDifference(answer, b.get(path));
    if (difference !== null) throw new Error(`${what}: GET ${path} differs at ${difference}`);
  }
}

const comparableAll = (answers: Map<string, unknown>) => new Map([...answers].map(([path, answer]) => [path, comparable(answer)]));

describe('kept answers after writes from anywhere', () => {
  it('equal a fresh connection after every step, and the writers keep nothing stale', async () => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const run = Run.start(template, runs++, s.startMin);
        try {
          await run.prelude(s.prelude);
          let cached = await run.readCached();
          let fresh = await run.readFresh(run.path);
          expectSame('after the prelude: cached vs fresh', cached, fresh);
          for (const [i, cmd] of s.commands.entries()) {
            await run.apply(cmd);
            cached = await run.readCached();
            fresh = await run.readFresh(run.path);
            expectSame(`after step ${i} ${JSON.stringify(cmd)}: cached vs fresh`, cached, fresh);
          }
          expectSame('at the end: the file vs the reference', comparableAll(fresh), comparableAll(await run.readFresh(run.referencePath)));
        } finally {
          run.close();
        }
      }),
      { numRuns: NUM_RUNS, seed: 20261201 },
    );
  });
});
