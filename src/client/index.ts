import createClient, { type Client } from 'openapi-fetch';
import type { components, paths } from './generated/openapi.ts';

/**
 * The typed client of the service's HTTP API: openapi-fetch over the types generated from the
 * routes' OpenAPI document (`npm run client:generate`). Paths, parameters, bodies and answers are
 * checked by the compiler; the CLI and the console talk to the service through it.
 *
 * ```ts
 * const eps = createEpsClient({ baseUrl: 'http://127.0.0.1:8080', apiKey: process.env.EPS_API_KEY });
 * const { data, error } = await eps.GET('/v1/event-definitions/{ref}', {
 *   params: { path: { ref: 'bookings.created' } },
 * });
 * ```
 */
export type { components, paths };

export type EpsClient = Client<paths>;

export interface EpsClientOptions {
  /** The service's address. Default `http://127.0.0.1:8080`. */
  baseUrl?: string;
  /** Sent as `X-API-Key` on every request when given (needed unless authentication is off). */
  apiKey?: string;
  /** Headers added to every request (e.g. `user-agent`). */
  headers?: Record<string, string>;
  /** A fetch of one's own (tests, proxies). Default: the global fetch. */
  fetch?: (request: Request) => Promise<Response>;
}

export const DEFAULT_BASE_URL = 'http://127.0.0.1:8080';

export function createEpsClient(options: EpsClientOptions = {}): EpsClient {
  const headers: Record<string, string> = { ...options.headers };
  if (options.apiKey) headers['x-api-key'] = options.apiKey;
  return createClient<paths>({
    baseUrl: (options.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, ''),
    headers,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
}

/** The service's error envelope, as every non-2xx answer carries it. */
export interface ErrorEnvelope {
  error: {
    code: string;
    message: string;
    details?: { field?: string; code?: string; message?: string }[];
  };
}

/** Whether an answer body is the error envelope (rather than, say, a proxy's HTML page). */
export function isErrorEnvelope(body: unknown): body is ErrorEnvelope {
  const error = (body as { error?: unknown } | null)?.error as { code?: unknown } | undefined;
  return typeof error === 'object' && error !== null && typeof error.code === 'string';
}
