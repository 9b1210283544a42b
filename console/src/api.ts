import { createEpsClient, type ErrorEnvelope, isErrorEnvelope } from '../../src/client/index.ts';

/**
 * The console's only way to the API: the typed client generated from /openapi.json, on this
 * page's origin. The key lives in sessionStorage only (gone when the tab closes) and is added to
 * each request as it is sent, so entering a new key needs no new client.
 */
const KEY_STORAGE = 'eps.apiKey';

export const apiKey = {
  get: (): string | null => sessionStorage.getItem(KEY_STORAGE),
  set: (key: string) => sessionStorage.setItem(KEY_STORAGE, key),
  clear: () => sessionStorage.removeItem(KEY_STORAGE),
};

type Listener = (status: 401 | 403) => void;
const authListeners = new Set<Listener>();

/** Called with 401/403 whenever the API refuses the key, so the key prompt can come back. */
export function onAuthRefused(listener: Listener): () => void {
  authListeners.add(listener);
  return () => authListeners.delete(listener);
}

export const eps = createEpsClient({ baseUrl: window.location.origin });
eps.use({
  onRequest({ request }) {
    const key = apiKey.get();
    if (key) request.headers.set('x-api-key', key);
    return request;
  },
  onResponse({ response }) {
    if (response.status === 401 || response.status === 403) {
      for (const listener of authListeners) listener(response.status);
    }
    return response;
  },
});

/** A refused call, with the API's envelope (code, message and the fields it names). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly envelope: ErrorEnvelope['error'],
  ) {
    super(envelope.message);
  }

  /** The messages the API gave for `field` (or anything under it, e.g. `payload_schema#/…`). */
  fieldMessages(field: string): string[] {
    return (this.envelope.details ?? [])
      .filter(
        (d) =>
          d.field === field || d.field?.startsWith(`${field}.`) || d.field?.startsWith(`${field}#`),
      )
      .map((d) => d.message ?? d.code ?? 'invalid');
  }
}

interface Answer {
  data?: unknown;
  error?: unknown;
  response: Response;
}

/**
 * The data of a successful answer, typed as the OpenAPI document describes it (the route's
 * response schema), or throws {@link ApiError}.
 */
export async function call<R extends Answer>(request: Promise<R>): Promise<NonNullable<R['data']>> {
  const { data, error, response } = await request;
  if (!response.ok || error !== undefined) {
    const envelope = isErrorEnvelope(error)
      ? error.error
      : { code: 'http_error', message: `${response.status} ${response.statusText}` };
    throw new ApiError(response.status, envelope);
  }
  return data as NonNullable<R['data']>;
}

export const errorMessage = (error: unknown): string =>
  error instanceof ApiError
    ? `${error.envelope.message} (${error.envelope.code})`
    : error instanceof Error
      ? error.message
      : String(error);
