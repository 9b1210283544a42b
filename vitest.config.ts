import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    globalSetup: ['src/testing/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // Test files run in parallel, each on its own PGlite copy and its own PostgreSQL database.
    pool: 'forks',
  },
});
