import type { AppError } from '../errors.ts';

/**
 * How the events of a request body become native event inputs, and how errors name their
 * fields for that body's publisher (CloudEvents: `data.amount` rather than `payload.amount`).
 */
export interface EventFormat {
  /** The native input of one event; throws an AppError for an event it cannot map. */
  toInput(event: unknown): unknown;
  /** The error with its fields named as this format's publisher named them. */
  wordError(error: AppError): AppError;
  /** The eventId an event names, to report a refused one of a batch by. */
  eventIdOf(event: unknown): unknown;
}

/** The service's own format: route schemas have checked the envelope already. */
export const NATIVE_FORMAT: EventFormat = {
  toInput: (event) => event,
  wordError: (error) => error,
  eventIdOf: (event) => (event as { eventId?: unknown } | null)?.eventId,
};
