import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CircuitState,
  CLOSED_CIRCUIT,
  createCircuitBreaker,
  DEFAULT_CIRCUIT_BREAKER_CONFIG,
} from './circuit-breaker.ts';

const T0 = Date.parse('2026-11-27T10:00:00Z');
const breaker = createCircuitBreaker({
  failureThreshold: 3,
  resetTimeoutMs: 10_000,
  halfOpenMaxCalls: 2,
});

/** The state after `n` failures at T0, starting closed. */
function failed(n: number, b = breaker): CircuitState {
  let state: CircuitState = { ...CLOSED_CIRCUIT };
  for (let i = 0; i < n; i++) state = b.onFailure(state, T0);
  return state;
}

describe('circuit breaker', () => {
  it("has the spec's documented defaults", () => {
    expect(DEFAULT_CIRCUIT_BREAKER_CONFIG).toEqual({
      failureThreshold: 5,
      resetTimeoutMs: 30_000,
      halfOpenMaxCalls: 1,
    });
    const defaults = createCircuitBreaker();
    expect(failed(4, defaults).state).toBe('closed');
    expect(failed(5, defaults).state).toBe('open');
  });

  it('lets every attempt through while closed, counting failures', () => {
    const state = failed(2);
    expect(state).toEqual({
      state: 'closed',
      consecutiveFailures: 2,
      openedAt: null,
      halfOpenInFlight: 0,
    });
    expect(breaker.canAttempt(state, T0)).toEqual({ allowed: true, state });
  });

  it('resets the failure count on a success while closed', () => {
    expect(breaker.onSuccess(failed(2))).toEqual(CLOSED_CIRCUIT);
    expect(breaker.onFailure(breaker.onSuccess(failed(2)), T0).consecutiveFailures).toBe(1);
  });

  it('opens after failureThreshold consecutive failures, recording when', () => {
    expect(failed(3)).toEqual({
      state: 'open',
      consecutiveFailures: 3,
      openedAt: T0,
      halfOpenInFlight: 0,
    });
  });

  it('refuses attempts while open, until resetTimeoutMs has passed, saying when to ask again', () => {
    const open = failed(3);
    expect(breaker.canAttempt(open, T0 + 9_999)).toEqual({
      allowed: false,
      state: open,
      retryAt: T0 + 10_000,
    });
  });

  it('turns half-open after resetTimeoutMs, letting the asking attempt through as a probe', () => {
    const decision = breaker.canAttempt(failed(3), T0 + 10_000);
    expect(decision).toEqual({
      allowed: true,
      state: {
        state: 'half_open',
        consecutiveFailures: 3,
        openedAt: T0 + 10_000,
        halfOpenInFlight: 1,
      },
    });
  });

  it('lets at most halfOpenMaxCalls probes through at once while half-open', () => {
    const first = breaker.canAttempt(failed(3), T0 + 10_000);
    const second = breaker.canAttempt(first.state, T0 + 10_001);
    expect(second).toMatchObject({ allowed: true, state: { halfOpenInFlight: 2 } });
    const third = breaker.canAttempt(second.state, T0 + 10_002);
    expect(third).toEqual({ allowed: false, state: second.state, retryAt: T0 + 20_000 });
  });

  it('closes when a probe succeeds', () => {
    const probing = breaker.canAttempt(failed(3), T0 + 10_000).state;
    const closed = breaker.onSuccess(probing);
    expect(closed).toEqual(CLOSED_CIRCUIT);
    expect(breaker.canAttempt(closed, T0 + 10_001).allowed).toBe(true);
  });

  it('re-opens when a probe fails, for a full timeout from the failure', () => {
    const probing = breaker.canAttempt(failed(3), T0 + 10_000).state;
    const reopened = breaker.onFailure(probing, T0 + 12_000);
    expect(reopened).toEqual({
      state: 'open',
      consecutiveFailures: 4,
      openedAt: T0 + 12_000,
      halfOpenInFlight: 0,
    });
    expect(breaker.canAttempt(reopened, T0 + 21_999).allowed).toBe(false);
    expect(breaker.canAttempt(reopened, T0 + 22_000).allowed).toBe(true);
  });

  it('gives the slots of probes unanswered for a whole timeout to new probes', () => {
    const b = createCircuitBreaker({
      failureThreshold: 1,
      resetTimeoutMs: 10_000,
      halfOpenMaxCalls: 1,
    });
    const probing = b.canAttempt(b.onFailure(CLOSED_CIRCUIT, T0), T0 + 10_000).state;
    expect(b.canAttempt(probing, T0 + 19_999).allowed).toBe(false);
    expect(b.canAttempt(probing, T0 + 20_000)).toEqual({
      allowed: true,
      state: {
        state: 'half_open',
        consecutiveFailures: 1,
        openedAt: T0 + 20_000,
        halfOpenInFlight: 1,
      },
    });
  });

  it('keeps the open period running when a late failure arrives while open', () => {
    const open = failed(3);
    const later = breaker.onFailure(open, T0 + 5_000);
    expect(later).toEqual({ ...open, consecutiveFailures: 4 });
    expect(breaker.canAttempt(later, T0 + 10_000).allowed).toBe(true);
  });

  it('closes on a late success while open: the receiver answered', () => {
    expect(breaker.onSuccess(failed(3))).toEqual(CLOSED_CIRCUIT);
  });

  it('survives a JSON round trip of its state (it is stored in a table)', () => {
    const probing = breaker.canAttempt(failed(3), T0 + 10_000).state;
    const stored = JSON.parse(JSON.stringify(probing)) as CircuitState;
    expect(breaker.canAttempt(stored, T0 + 10_001)).toEqual(
      breaker.canAttempt(probing, T0 + 10_001),
    );
  });

  it('never lets more than halfOpenMaxCalls unanswered probes through within a timeout', () => {
    // Random sequences of asks, successes and failures at increasing times.
    const step = fc.record({
      kind: fc.constantFrom('ask', 'success', 'failure'),
      dt: fc.integer({ min: 0, max: 6_000 }),
    });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        let state: CircuitState = { ...CLOSED_CIRCUIT };
        let now = T0;
        for (const { kind, dt } of steps) {
          now += dt;
          if (kind === 'ask') {
            const decision = breaker.canAttempt(state, now);
            if (decision.allowed && decision.state.state === 'open') return false;
            if (!decision.allowed && decision.state.state === 'closed') return false;
            if (!decision.allowed && decision.retryAt <= now) return false;
            state = decision.state;
          } else {
            state = kind === 'success' ? breaker.onSuccess(state) : breaker.onFailure(state, now);
          }
          if (state.halfOpenInFlight > 2) return false;
          if (state.state === 'closed' && state.consecutiveFailures >= 3) return false;
          if ((state.state === 'closed') !== (state.openedAt === null)) return false;
        }
        return true;
      }),
    );
  });
});
