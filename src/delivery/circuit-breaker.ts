/**
 * A circuit breaker per subscription, as a pure state machine over a plain, serialisable state
 * (so it can live in a table row beside the subscription). While the circuit is open no attempt
 * is made, and so none of a delivery's attempts is used up on a receiver known to be down.
 *
 *   closed --(failureThreshold consecutive failures)--> open
 *   open --(resetTimeoutMs elapsed, at the next canAttempt)--> half_open
 *   half_open: at most halfOpenMaxCalls probes at a time; a success closes, a failure re-opens
 */

/** The spec's `CircuitBreakerConfig`. */
export interface CircuitBreakerConfig {
  /** Consecutive failures that open the circuit. Default 5. */
  failureThreshold: number;
  /**
   * How long the circuit stays open before probes may go, in ms; also how long a half-open
   * probe may stay unanswered before its slot is given to another (a worker may have died with
   * it). Keep it above the delivery timeout. Default 30,000.
   */
  resetTimeoutMs: number;
  /** Probes allowed at once while half-open. Default 1. */
  halfOpenMaxCalls: number;
}

export const DEFAULT_CIRCUIT_BREAKER_CONFIG: Readonly<CircuitBreakerConfig> = Object.freeze({
  failureThreshold: 5,
  resetTimeoutMs: 30_000,
  halfOpenMaxCalls: 1,
});

export interface CircuitState {
  state: 'closed' | 'open' | 'half_open';
  /** Failures since the last success. */
  consecutiveFailures: number;
  /**
   * Epoch ms when the current open or half-open period began (the circuit opened, or it turned
   * half-open); null while closed.
   */
  openedAt: number | null;
  /** Probes let through in the current half-open period and not yet answered. */
  halfOpenInFlight: number;
}

export const CLOSED_CIRCUIT: Readonly<CircuitState> = Object.freeze({
  state: 'closed',
  consecutiveFailures: 0,
  openedAt: null,
  halfOpenInFlight: 0,
});

export type AttemptDecision =
  | { allowed: true; state: CircuitState }
  /** `retryAt`: epoch ms when asking again may succeed; reschedule the delivery for then. */
  | { allowed: false; state: CircuitState; retryAt: number };

export interface CircuitBreaker {
  /**
   * Whether an attempt may be made now. The returned state must be stored: letting a probe
   * through in half-open takes one of its slots, and an open circuit past its timeout turns
   * half-open here.
   */
  canAttempt(state: CircuitState, now: number): AttemptDecision;
  /** After a delivered attempt: the circuit closes, from any state. */
  onSuccess(state: CircuitState): CircuitState;
  /** After a failed attempt. */
  onFailure(state: CircuitState, now: number): CircuitState;
}

export function createCircuitBreaker(
  config: CircuitBreakerConfig = DEFAULT_CIRCUIT_BREAKER_CONFIG,
): CircuitBreaker {
  const { failureThreshold, resetTimeoutMs, halfOpenMaxCalls } = config;
  // A new half-open period with one probe (the caller's) already let through.
  const halfOpen = (state: CircuitState, now: number): CircuitState => ({
    state: 'half_open',
    consecutiveFailures: state.consecutiveFailures,
    openedAt: now,
    halfOpenInFlight: 1,
  });

  return {
    canAttempt(state, now) {
      if (state.state === 'closed') return { allowed: true, state };
      const since = state.openedAt ?? now;
      const timedOut = now - since >= resetTimeoutMs;
      if (state.state === 'open') {
        if (!timedOut) return { allowed: false, state, retryAt: since + resetTimeoutMs };
        return { allowed: true, state: halfOpen(state, now) };
      }
      // Half-open, and every slot taken for a whole timeout: those probes are presumed lost.
      if (timedOut) return { allowed: true, state: halfOpen(state, now) };
      if (state.halfOpenInFlight < halfOpenMaxCalls) {
        return { allowed: true, state: { ...state, halfOpenInFlight: state.halfOpenInFlight + 1 } };
      }
      return { allowed: false, state, retryAt: since + resetTimeoutMs };
    },

    onSuccess() {
      return { ...CLOSED_CIRCUIT };
    },

    onFailure(state, now) {
      const consecutiveFailures = state.consecutiveFailures + 1;
      switch (state.state) {
        case 'half_open':
          // The probe failed: the receiver is still down, wait a full timeout again.
          return { state: 'open', consecutiveFailures, openedAt: now, halfOpenInFlight: 0 };
        case 'open':
          // A late answer to an attempt made before the circuit opened: the timeout keeps running.
          return { ...state, consecutiveFailures };
        case 'closed':
          return consecutiveFailures >= failureThreshold
            ? { state: 'open', consecutiveFailures, openedAt: now, halfOpenInFlight: 0 }
            : { ...state, consecutiveFailures };
      }
    },
  };
}
