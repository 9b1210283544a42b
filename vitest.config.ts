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
    // processes, browsers and retry delays. Two, whatever the cores: that is what CI runs (a
    // 2-core machine) and what the suite's waits and bounds have been made to hold under; more
    // files at once on a bigger machine is a load no run has tried. VITEST_MAX_WORKERS or
    // --maxWorkers overrides it. vitest starts the largest files first.
    maxWorkers: 2,
  },
});
