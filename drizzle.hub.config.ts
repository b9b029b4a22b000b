import { defineConfig } from 'drizzle-kit';

/** The federation hub's PostgreSQL schema (`npm run db:generate:hub`); the sites' SQLite one is drizzle.config.ts. */
export default defineConfig({
  dialect: 'postgresql',
  schema: './db/hub/schema.ts',
  out: './db/hub/migrations',
});
