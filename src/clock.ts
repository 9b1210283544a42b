/** Time source passed to everything that reads the time, so retries and retention are testable. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
