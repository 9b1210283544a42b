import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runPeriodically } from './periodic.ts';

describe('runPeriodically', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('runs at once, then after secondRunAfterMs once, then every interval', async () => {
    const runAt: number[] = [];
    const started = Date.now();
    const periodic = runPeriodically(
      'test',
      1000,
      async () => runAt.push(Date.now() - started),
      pino({ level: 'silent' }),
      100,
    );
    await periodic.firstRun();
    await vi.advanceTimersByTimeAsync(2150);
    await periodic.stop();
    expect(runAt).toEqual([0, 100, 1100, 2100]);
  });
});
