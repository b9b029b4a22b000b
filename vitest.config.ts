import { defineConfig } from 'vitest/config';

// Three tiers by speed (`npm run test:unit`, `test:integration`, `test:e2e`); `npm test` runs all.
export default defineConfig({
  test: {
    exclude: ['node_modules/**', 'web/dist/**'],
    // End-to-end tests start servers and Chromium; on two busy cores that can take a while.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    projects: [
      // Tests beside the code they test: pure rules, parsers, one module at a time.
      { extends: true, test: { name: 'unit', include: ['{server,db,collectors,web}/**/*.test.ts', 'test/support/**/*.test.ts'] } },
      // Through createApp with a real migrated database, and the failure drills.
      { extends: true, test: { name: 'integration', include: ['test/integration/**/*.test.ts', 'test/reliability/**/*.test.ts'] } },
      // Real processes: server, collectors, Slurm, Chromium.
      { extends: true, test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'] } },
    ],
  },
});
