/**
 * A real PostgreSQL for the federation hub's tests: the server `.ci/pg/start.sh` runs
 * (Debian's postgresql, initdb + pg_ctl as the postgres user), found at
 * HEATLEDGER_TEST_PG_URL. Each test file gets a database of its own, dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const testPgUrl = process.env.HEATLEDGER_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:55432/postgres';

/** Whether the test server answers (checked once, at collection time, by the file that needs it). */
export async function hasPostgres(): Promise<boolean> {
  const client = new pg.Client({ connectionString: testPgUrl, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** A new, empty database on the test server; `drop()` removes it (closing what still uses it). */
export async function freshDatabase(prefix = 'hl'): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: testPgUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(testPgUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: testPgUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
