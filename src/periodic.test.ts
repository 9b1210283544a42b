import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runPeriodically } from './periodic.ts';

describe('runPeriodically', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  /** A task that records when it ran (ms after the start) and fails its first `failures` runs. */
  const recorded = (runs: string[], name: string, failures = 0) => {
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

  /**
   * The runs of `task` every `intervalMs` over `forMs`, after a start-up run (`startUp`, failing
   * `failures` times) when one is given; `atFirstRun`, the runs once `firstRun` resolved.
   */
  const runsOver = async (
    intervalMs: number,
    forMs: number,
    startUp?: { regularAfterMs: number; failures?: number },
  ) => {
    const runs: string[] = [];
    const periodic = runPeriodically(
      'test',
      intervalMs,
      recorded(runs, 'task'),
      pino({ level: 'silent' }),
      startUp && {
        task: recorded(runs, 'start-up', startUp.failures),
        regularAfterMs: startUp.regularAfterMs,
      },
    );
    await periodic.firstRun();
    const atFirstRun = [...runs];
    await vi.advanceTimersByTimeAsync(forMs);
    await periodic.stop();
    return { atFirstRun, runs };
  };

  it('runs at once, then every interval after the previous run', async () => {
    expect((await runsOver(1000, 2150)).runs).toEqual(['task@0', 'task@1000', 'task@2000']);
  });

  it('runs the start-up task at once, the regular one regularAfterMs later, then every interval', async () => {
    const { atFirstRun, runs } = await runsOver(1000, 2150, { regularAfterMs: 100 });
    expect(atFirstRun).toEqual(['start-up@0']);
    expect(runs).toEqual(['start-up@0', 'task@100', 'task@1100', 'task@2100']);
  });

  it('retries a failed start-up task (backing off from 1 s) until it succeeds, then goes on', async () => {
    const { runs } = await runsOver(10_000, 3150, { regularAfterMs: 100, failures: 2 });
    expect(runs).toEqual(['start-up@0', 'start-up@1000', 'start-up@3000', 'task@3100']);
  });

  it('runs the regular task one interval after start-up at the latest', async () => {
    const { runs } = await runsOver(500, 1050, { regularAfterMs: 60_000 });
    expect(runs).toEqual(['start-up@0', 'task@500', 'task@1000']);
  });
});
