import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{server,db,collectors,web,test}/**/*.test.ts'],
    exclude: ['node_modules/**', 'web/dist/**'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
