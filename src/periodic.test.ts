import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runPeriodically } from './periodic.ts';

describe('runPeriodically', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  /** Runs of the start-up and regular tasks, named with when they ran (ms after the start). */
  const record = (runs: string[], name: string, failures = 0) => {
    const started = Date.now();
    let failed = 0;
    return async () => {
      runs.push(`${name}@${Date.now() - started}`);
      if (failed < failures) {
        failed += 1;
        throw new Error('not now');
      }
    };
  };
  const silent = pino({ level: 'silent' });

  it('runs at once, then every interval after the previous run', async () => {
    const runs: string[] = [];
    const periodic = runPeriodically('test', 1000, record(runs, 'task'), silent);
    await periodic.firstRun();
    await vi.advanceTimersByTimeAsync(2150);
    await periodic.stop();
    expect(runs).toEqual(['task@0', 'task@1000', 'task@2000']);
  });

  it('runs the start-up task at once, the regular one regularAfterMs later, then every interval', async () => {
    const runs: string[] = [];
    const periodic = runPeriodically('test', 1000, record(runs, 'task'), silent, {
      task: record(runs, 'start-up'),
      regularAfterMs: 100,
    });
    await periodic.firstRun();
    expect(runs).toEqual(['start-up@0']);
    await vi.advanceTimersByTimeAsync(2150);
    await periodic.stop();
    expect(runs).toEqual(['start-up@0', 'task@100', 'task@1100', 'task@2100']);
  });

  it('retries a failed start-up task (backing off from 1 s) until it succeeds, then goes on', async () => {
    const runs: string[] = [];
    const periodic = runPeriodically('test', 10_000, record(runs, 'task'), silent, {
      task: record(runs, 'start-up', 2),
      regularAfterMs: 100,
    });
    await periodic.firstRun();
    await vi.advanceTimersByTimeAsync(3150);
    await periodic.stop();
    expect(runs).toEqual(['start-up@0', 'start-up@1000', 'start-up@3000', 'task@3100']);
  });

  it('runs the regular task one interval after start-up at the latest', async () => {
    const runs: string[] = [];
    const periodic = runPeriodically('test', 500, record(runs, 'task'), silent, {
      task: record(runs, 'start-up'),
      regularAfterMs: 60_000,
    });
    await periodic.firstRun();
    await vi.advanceTimersByTimeAsync(1050);
    await periodic.stop();
    expect(runs).toEqual(['start-up@0', 'task@500', 'task@1000']);
  });
});
