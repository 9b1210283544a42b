import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    globalSetup: ['src/testing/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // Test files run in parallel, each on its own PGlite copy and its own PostgreSQL database.
    pool: 'forks',
    // vitest's default is one worker fewer than the cores: a single one on a 2-core machine, where
    // the files then ran one after another although much of their time is waiting on service
    // processes, browsers and retry delays. Two at least; vitest starts the largest files first.
    maxWorkers: Math.max(2, availableParallelism() - 1),
  },
});
