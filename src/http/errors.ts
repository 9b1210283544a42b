import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type {
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  HookHandlerDoneFunction,
  RouteOptions,
} from 'fastify';
import { AppError, type ErrorDetail, fieldError, validationError } from '../errors.ts';
import { isUnstorableText } from '../events/payload-limits.ts';
import { ajvErrorsToDetails } from '../schema/error-details.ts';

/** Fastify's own 4xx errors, by code, with the stable codes of our envelope. */
const FRAMEWORK_CODES: Record<string, { status: number; code: string; message?: string }> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    status: 415,
    code: 'unsupported_media_type',
    message: 'Content-Type must be application/json',
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'invalid_request' },
  FST_ERR_CTP_BODY_TOO_LARGE: {
    status: 413,
    code: 'payload_too_large',
    message: 'request body is too large',
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: {
    status: 400,
    code: 'invalid_json',
    message: 'request body is empty',
  },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'invalid_json' },
  FST_ERR_CTP_EMPTY_TYPE: { status: 400, code: 'invalid_request' },
  FST_ERR_CTP_INVALID_TYPE: { status: 400, code: 'invalid_request' },
  FST_ERR_BAD_URL: {
    status: 400,
    code: 'invalid_request',
    message: 'the path is not valid percent-encoding',
  },
  FST_ERR_MAX_PARAM_LENGTH: {
    status: 414,
    code: 'uri_too_long',
    message: 'a path segment is longer than any identifier of the service',
  },
};

export interface ErrorEnvelope {
  error: { code: string; message: string; details: ErrorDetail[] };
}

export const envelope = (
  code: string,
  message: string,
  details: ErrorDetail[] = [],
): ErrorEnvelope => ({
  error: { code, message, details },
});

function validationEnvelope(error: FastifyError): ErrorEnvelope {
  const context = error.validationContext;
  // Body fields are named as the client wrote them; other parts carry their location.
  const prefix = context === 'body' || context === 'querystring' ? '' : (context ?? '');
  const details = ajvErrorsToDetails(error.validation as never, prefix);
  return envelope('validation_error', `invalid ${context ?? 'request'}`, details);
}

function toResponse(error: FastifyError): {
  status: number;
  body: ErrorEnvelope;
  headers: Record<string, string>;
} {
  if (error instanceof AppError) {
    return {
      status: error.status,
      body: envelope(error.code, error.message, error.details),
      headers: error.headers,
    };
  }
  if (error.validation) return { status: 400, body: validationEnvelope(error), headers: {} };
  const known = error.code ? FRAMEWORK_CODES[error.code] : undefined;
  if (known) {
    return {
      status: known.status,
      body: envelope(known.code, known.message ?? error.message),
      headers: {},
    };
  }
  if (error instanceof SyntaxError) {
    return { status: 400, body: envelope('invalid_json', error.message), headers: {} };
  }
  const status = error.statusCode;
  if (status && status >= 400 && status < 500) {
    return { status, body: envelope('invalid_request', error.message), headers: {} };
  }
  return { status: 500, body: envelope('internal_error', 'internal error'), headers: {} };
}

function sendError(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const { status, body, headers } = toResponse(error);
  // A deliberate 503 (overloaded, store unavailable) is the service protecting itself, not a bug.
  if (status >= 500 && !(error instanceof AppError))
    request.log.error({ err: error }, 'request failed');
  else if (status >= 500) request.log.warn({ code: body.error.code }, 'request refused');
  return reply.code(status).headers(headers).send(body);
}

/**
 * Fastify's answers that come before any route (a bad %-encoding, an over-long path segment)
 * go through the same mapping as every other error.
 */
export const frameworkErrors = (
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
) => sendError(error, request, reply);

/**
 * Requests Node's HTTP parser refuses before Fastify sees them (an unknown method, headers too
 * large, a malformed request line) are answered in the envelope too, on the raw socket, and the
 * connection closed: after a parse error its framing can no longer be trusted.
 */
export function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'headers_too_large', 'the request headers are too large']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request_timeout', 'the request was not received in time']
        : error.code === 'HPE_INVALID_METHOD'
          ? [400, 'invalid_request', 'unknown HTTP method']
          : [400, 'invalid_request', 'malformed HTTP request'];
  const body = JSON.stringify(envelope(code, message));
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/** A registered route's path as a pattern: `:param` is one segment, `*` the rest. */
function pathPattern(url: string): RegExp {
  const segments = url
    .replace(/\/+$/, '')
    .split('/')
    .map((segment) =>
      segment === '*'
        ? '.*'
        : segment.startsWith(':')
          ? '[^/]+'
          : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
    );
  return new RegExp(`^${segments.join('/')}/?$`);
}

/**
 * The methods each registered path answers, so that a known path asked with another method is
 * 405 with `Allow` (as RFC 9110 asks), and only an unknown path is 404.
 */
function methodsByPath(app: FastifyInstance): (path: string) => string[] {
  const known = new Map<string, { pattern: RegExp; methods: Set<string> }>();
  app.addHook('onRoute', (route: RouteOptions) => {
    const entry = known.get(route.url) ?? { pattern: pathPattern(route.url), methods: new Set() };
    for (const method of [route.method].flat()) entry.methods.add(method);
    known.set(route.url, entry);
  });
  return (path) => {
    const methods = new Set<string>();
    for (const { pattern, methods: answered } of known.values())
      if (pattern.test(path)) for (const method of answered) methods.add(method);
    return [...methods].sort();
  };
}

/** The 400 details of the path parameters or query values that hold unstorable text. */
function unstorableDetails(part: 'params' | 'query', values: unknown): ErrorDetail[] {
  if (typeof values !== 'object' || values === null) return [];
  const details: ErrorDetail[] = [];
  for (const name of Object.keys(values)) {
    const value = (values as Record<string, unknown>)[name];
    const texts = Array.isArray(value) ? value : [value];
    if (texts.some((text) => typeof text === 'string' && isUnstorableText(text)))
      details.push(
        fieldError(
          part === 'params' ? `params.${name}` : name,
          'unsupported_character',
          'contains U+0000 or an unpaired surrogate',
        ),
      );
  }
  return details;
}

/**
 * Path parameters and query values reach SQL as text: U+0000 and unpaired surrogates (which
 * PostgreSQL refuses) are a 400 naming the parameter, on every route. (JSON bodies are checked
 * by their parser, src/http/json-body.ts.) A callback hook, not an async one: it runs for every
 * request, and an async hook costs a promise and a microtask turn each time.
 */
function refuseUnstorableText(
  request: FastifyRequest,
  _reply: FastifyReply,
  done: HookHandlerDoneFunction,
): void {
  const details = [
    ...unstorableDetails('params', request.params),
    ...unstorableDetails('query', request.query),
  ];
  // Thrown, Fastify answers it as a hook's error (through the one error handler).
  if (details.length > 0) throw validationError('invalid request', details);
  done();
}

/** Every error leaves the service in the spec's envelope, through this one handler. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler(sendError);
  const methodsOf = methodsByPath(app);
  app.addHook('preValidation', refuseUnstorableText);
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    const allowed = methodsOf(path);
    // A route of this method that found nothing (a missing console asset) is a plain 404.
    if (allowed.length > 0 && !allowed.includes(request.method)) {
      return reply
        .code(405)
        .header('allow', allowed.join(', '))
        .send(envelope('method_not_allowed', `${request.method} is not allowed on ${path}`));
    }
    return reply.code(404).send(envelope('not_found', `no route ${request.method} ${path}`));
  });
}
