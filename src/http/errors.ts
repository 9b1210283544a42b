import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, type ErrorDetail } from '../errors.ts';
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

/** Every error leaves the service in the spec's envelope, through this one handler. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const { status, body, headers } = toResponse(error);
    // A deliberate 503 (overloaded, store unavailable) is the service protecting itself, not a bug.
    if (status >= 500 && !(error instanceof AppError))
      request.log.error({ err: error }, 'request failed');
    else if (status >= 500) request.log.warn({ code: body.error.code }, 'request refused');
    return reply.code(status).headers(headers).send(body);
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .send(envelope('not_found', `no route ${request.method} ${request.url.split('?')[0]}`)),
  );
}
