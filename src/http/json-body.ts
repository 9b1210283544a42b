import type { FastifyInstance, FastifyRequest } from 'fastify';
import { validationError } from '../errors.ts';
import { checkPayloadLimits } from '../events/payload-limits.ts';

/**
 * What no JSON body may carry, whichever route it is sent to: nesting deeper than the one body
 * limit (serialising and validating deep values recurses), and text PostgreSQL cannot store
 * (U+0000, an unpaired UTF-16 surrogate). Both are found in one pass over the body's text,
 * before it is parsed, so no route (and no JSON field on its way to the database) can forget
 * the check.
 */
export type BodyBreach = 'max_depth' | 'unsupported_character' | undefined;

const BACKSLASH = 0x5c;
const QUOTE = 0x22;
const OPEN_OBJECT = 0x7b;
const OPEN_ARRAY = 0x5b;
const CLOSE_OBJECT = 0x7d;
const CLOSE_ARRAY = 0x5d;

const hex4 = (text: string, at: number): number => {
  const digits = text.slice(at, at + 4);
  return /^[0-9a-fA-F]{4}$/.test(digits) ? Number.parseInt(digits, 16) : -1;
};

const isHigh = (unit: number) => unit >= 0xd800 && unit <= 0xdbff;
const isLow = (unit: number) => unit >= 0xdc00 && unit <= 0xdfff;

/**
 * The first breach in a JSON text. Malformed JSON is left to the parser (it answers
 * `invalid_json`); only well-formed texts matter here. Raw (unescaped) U+0000 is not valid JSON
 * and raw surrogates cannot come out of UTF-8 decoding, so inside strings only `\u` escapes are
 * looked at.
 */
export function scanJsonText(text: string, maxDepth: number): BodyBreach {
  let depth = 0;
  let inString = false;
  // The unit of the previous `\u` escape when it was a high surrogate (its pair must follow).
  let pendingHigh = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) {
        const next = text.charCodeAt(i + 1);
        if (next === 0x75 /* u */) {
          const unit = hex4(text, i + 2);
          if (unit === 0) return 'unsupported_character';
          if (pendingHigh && !isLow(unit)) return 'unsupported_character';
          if (!pendingHigh && isLow(unit)) return 'unsupported_character';
          pendingHigh = !pendingHigh && isHigh(unit);
          i += 5;
          continue;
        }
        if (pendingHigh) return 'unsupported_character';
        i += 1;
        continue;
      }
      if (pendingHigh) return 'unsupported_character';
      if (c === QUOTE) inString = false;
      continue;
    }
    if (c === QUOTE) inString = true;
    else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      depth += 1;
      if (depth > maxDepth) return 'max_depth';
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) depth -= 1;
  }
  return undefined;
}

/**
 * Installs the one JSON parser of the service (for `application/json` and CloudEvents' JSON
 * media types): the body's text is scanned by {@link scanJsonText}, then parsed by Fastify's
 * own parser (which refuses `__proto__` and `constructor.prototype` keys). A breach answers 400
 * `validation_error` naming the field, found by walking the parsed value (only on refusal).
 */
export function installJsonBodyParser(app: FastifyInstance, maxDepth: number): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(
    ['application/json', 'application/cloudevents+json', 'application/cloudevents-batch+json'],
    { parseAs: 'string' },
    (request: FastifyRequest, text: string | Buffer, done) => {
      const body = typeof text === 'string' ? text : text.toString('utf8');
      const breach = scanJsonText(body, maxDepth);
      if (breach === undefined) return parse(request, body, done);
      parse(request, body, (error, value) => {
        // Malformed as well: the parser's answer (invalid_json) says more.
        if (error) return done(error, undefined);
        done(bodyRefusal(value, maxDepth), undefined);
      });
    },
  );
}

function bodyRefusal(value: unknown, maxDepth: number) {
  const details = checkPayloadLimits(value, '', {
    maxDepth,
    maxKeys: Number.POSITIVE_INFINITY,
  }).map((detail) => ({ ...detail, field: detail.field.replace(/^\./, '') || '(root)' }));
  return validationError('invalid body', details);
}
