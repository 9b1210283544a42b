/**
 * The one error hierarchy of the service. Every error a client can see is an {@link AppError}
 * with a stable `code` and an HTTP status; the HTTP layer maps it to the spec's envelope in one
 * handler. Database error codes are translated into these in the data layer, nowhere else.
 */

export interface ErrorDetail {
  /** Dotted path of the offending input, e.g. `payload.customerId` or `examples[0].amount`. */
  field: string;
  /** Machine-readable reason, e.g. `required`, `pattern`, or a JSON Schema keyword. */
  code: string;
  message: string;
}

export class AppError extends Error {
  override name = 'AppError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: ErrorDetail[] = [],
    /** Extra response headers, e.g. `Retry-After`. */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const validationError = (message: string, details: ErrorDetail[] = []) =>
  new AppError(400, 'validation_error', message, details);

export const notFound = (what: string) => new AppError(404, 'not_found', `${what} not found`);

export const conflict = (message: string, code = 'conflict', details: ErrorDetail[] = []) =>
  new AppError(409, code, message, details);

/**
 * A setting that stops the start: the process prints its one-line message and exits, no client
 * ever sees it. Thrown while the configuration is read (src/config.ts) and by wiring that checks
 * a setting only it can check (a delivery encryption key that does not decrypt).
 */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export const fieldError = (field: string, code: string, message: string): ErrorDetail => ({
  field,
  code,
  message,
});
