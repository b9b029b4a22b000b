import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{server,db,collectors,web,test}/**/*.test.ts'],
    exclude: ['node_modules/**', 'web/dist/**'],
    // End-to-end tests start servers and Chromium; on two busy cores that can take a while.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
