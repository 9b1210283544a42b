import type { Clock } from '../clock.ts';

/** A clock tests move by hand. */
export class TestClock implements Clock {
  private current: number;

  constructor(start = new Date('2026-01-15T12:00:00.000Z')) {
    this.current = start.getTime();
  }

  now(): Date {
    return new Date(this.current);
  }

  set(time: Date | string): void {
    this.current = new Date(time).getTime();
  }

  advance(ms: number): void {
    this.current += ms;
  }
}
