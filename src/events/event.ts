import { hash } from 'node:crypto';

/** The spec's EventInstance: the wire format of events, in and out. */
export interface EventSource {
  type: string;
  id: string;
  name?: string;
}

export interface EventMetadata {
  correlationId: string;
  causationId?: string;
  traceId?: string;
  userId?: string;
  context?: { type: string; id: string };
  tags: Record<string, string>;
  [extra: string]: unknown;
}

export interface EventInstance {
  eventId: string;
  pattern: string;
  version: string;
  source?: EventSource;
  /** ISO 8601, UTC, millisecond precision, `Z`. */
  timestamp: string;
  payload: Record<string, unknown>;
  metadata: EventMetadata;
}

/** What a publisher sends: pattern and payload, the rest optional. */
export interface EventInput {
  eventId?: string;
  pattern: string;
  version?: string;
  source?: EventSource;
  timestamp?: string;
  payload: Record<string, unknown>;
  metadata?: Partial<EventMetadata> & { source?: EventSource };
}

/** A validated, normalised event ready for the store. */
export interface NormalizedEvent {
  /** Row id (UUIDv7). */
  id: string;
  instance: EventInstance;
  /** `timestamp(6)` text in UTC, microseconds kept. */
  storedTimestamp: string;
  /** W3C traceparent of the span that received the event: the parent of its routing spans. */
  receiveTraceparent?: string;
  partitionKey: string;
  /** Identifies the publisher's body, to tell a retry (same body) from a conflict. */
  bodyHash: string;
  definitionId: string;
  /** True when the resolved version is deprecated (producers are recorded). */
  deprecated: boolean;
}

/** JSON Schema of {@link EventSource}. */
export const eventSourceSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'id'],
  properties: {
    type: { type: 'string', minLength: 1, maxLength: 255 },
    id: { type: 'string', minLength: 1, maxLength: 255 },
    name: { type: 'string', maxLength: 255 },
  },
} as const;

const shortText = { type: 'string', minLength: 1, maxLength: 255 } as const;

/** JSON Schema of {@link EventInput}; used by the routes (and so the OpenAPI document). */
export const eventInputSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['pattern', 'payload'],
  properties: {
    eventId: { ...shortText, description: 'any string; a UUIDv7 is generated when absent' },
    pattern: { type: 'string', minLength: 1, maxLength: 255 },
    version: {
      type: 'string',
      minLength: 1,
      maxLength: 50,
      description: 'defaults to the highest active version',
    },
    source: eventSourceSchema,
    timestamp: {
      type: 'string',
      maxLength: 64,
      description: 'ISO 8601 with zone; defaults to the time of receipt',
    },
    payload: { type: 'object' },
    metadata: {
      type: 'object',
      description:
        'free-form besides the fields below; a `source` here is used when the top-level one is absent',
      properties: {
        correlationId: shortText,
        causationId: shortText,
        traceId: shortText,
        userId: shortText,
        context: {
          type: 'object',
          additionalProperties: false,
          required: ['type', 'id'],
          properties: { type: shortText, id: shortText },
        },
        tags: {
          type: 'object',
          maxProperties: 64,
          propertyNames: { maxLength: 128 },
          additionalProperties: { type: 'string', maxLength: 1024 },
        },
        source: eventSourceSchema,
      },
    },
  },
} as const;

/**
 * JSON Schema of {@link EventInstance} as answers carry it: every field the receiver fills in is
 * there (`metadata.correlationId` defaults to the eventId, `tags` to `{}`); `source` only when
 * the publisher gave one; `metadata` keeps any further fields the publisher sent.
 */
export const eventInstanceSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['eventId', 'pattern', 'version', 'timestamp', 'payload', 'metadata'],
  properties: {
    eventId: { type: 'string' },
    pattern: { type: 'string' },
    version: { type: 'string' },
    source: {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'id'],
      properties: { type: { type: 'string' }, id: { type: 'string' }, name: { type: 'string' } },
    },
    timestamp: { type: 'string', format: 'date-time' },
    payload: { type: 'object', additionalProperties: true },
    metadata: {
      type: 'object',
      additionalProperties: true,
      required: ['correlationId', 'tags'],
      properties: {
        correlationId: { type: 'string' },
        causationId: { type: 'string' },
        traceId: { type: 'string', description: 'the trace of the span that received the event' },
        userId: { type: 'string' },
        context: {
          type: 'object',
          additionalProperties: false,
          required: ['type', 'id'],
          properties: { type: { type: 'string' }, id: { type: 'string' } },
        },
        tags: { type: 'object', additionalProperties: { type: 'string' } },
      },
    },
  },
} as const;

/**
 * JSON with sorted keys, so two spellings of one body hash alike. Built by appending to one
 * string (no arrays of entries joined per object): it runs for every received event.
 */
function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) {
    let text = '[';
    for (let i = 0; i < value.length; i++) {
      // As `join` spelled it: an undefined item is empty.
      text += `${i > 0 ? ',' : ''}${canonicalJson(value[i]) ?? ''}`;
    }
    return `${text}]`;
  }
  const keys = Object.keys(value).sort();
  let text = '{';
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    text += `${i > 0 ? ',' : ''}${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`;
  }
  return `${text}}`;
}

/**
 * The body's fingerprint for idempotency (same eventId: a duplicate when equal, a conflict
 * otherwise): SHA-256 of its canonical JSON, base64url. Stored with each claimed eventId, so it
 * must never change for a body (a test pins one). `hash` is the one-shot form of `createHash`,
 * several times cheaper for a body this small.
 */
export const bodyHash = (input: EventInput) => hash('sha256', canonicalJson(input), 'base64url');
