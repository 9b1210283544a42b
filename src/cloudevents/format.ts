import { Ajv } from 'ajv';
import { AppError, type ErrorDetail, fieldError, validationError } from '../errors.ts';
import type { EventInput, EventInstance, EventMetadata, EventSource } from '../events/event.ts';
import type { EventFormat } from '../events/format.ts';
import { ajvErrorsToDetails } from '../schema/error-details.ts';

/**
 * CloudEvents 1.0 (JSON event format, HTTP and NATS bindings) mapped onto the service's own
 * event model, both ways, as pure functions. The mapping is the README's table ("CloudEvents").
 *
 * Written here rather than taken from the `cloudevents` SDK (used by the tests, to prove we
 * interoperate with it): the SDK checks a whole event and throws one message for it, whereas a
 * publisher here gets every problem as a field of the error envelope, named as it sent it; and
 * the receiver's own checks (definitions, payload schemas, limits) must run exactly as for
 * native events, on the mapped event.
 */

export const CLOUDEVENTS_JSON = 'application/cloudevents+json';
export const CLOUDEVENTS_BATCH_JSON = 'application/cloudevents-batch+json';
export const SPEC_VERSION = '1.0';

/** A CloudEvent in the JSON event format (structured mode): attributes, extensions, data. */
export type CloudEvent = Record<string, unknown>;

/** `dataschema` of an event of `pattern` at `version`: the definition that checked its data. */
export const DATASCHEMA_PREFIX = 'urn:eps:event-definition:';
export const dataschemaOf = (pattern: string, version: string) =>
  `${DATASCHEMA_PREFIX}${pattern}:${version}`;

/** Context attributes with a meaning of their own; every other attribute is an extension. */
const ATTRIBUTES = new Set([
  'specversion',
  'id',
  'source',
  'type',
  'time',
  'datacontenttype',
  'dataschema',
  'subject',
  'data',
  'data_base64',
]);

/** Extensions that carry native metadata (and `sourcename`, the source's name). */
const METADATA_EXTENSIONS = {
  correlationid: 'correlationId',
  causationid: 'causationId',
  userid: 'userId',
} as const;
const SOURCE_NAME = 'sourcename';
const TRACEPARENT = 'traceparent';

/** CloudEvents extension names: lower-case letters and digits (the spec asks for ≤ 20). */
const EXTENSION_NAME = /^[a-z0-9]{1,20}$/;

/** JSON Schema of a structured-mode CloudEvent (the route's schema, and so the OpenAPI's). */
export const cloudEventSchema = {
  type: 'object',
  description:
    'a CloudEvents 1.0 event in the JSON format; `data` (or `data_base64` of JSON) is the payload',
  required: ['specversion', 'id', 'source', 'type'],
  properties: {
    specversion: { type: 'string', const: SPEC_VERSION },
    id: { type: 'string', minLength: 1, maxLength: 255 },
    source: { type: 'string', minLength: 1, maxLength: 1024 },
    type: { type: 'string', minLength: 1, maxLength: 255 },
    time: { type: 'string', maxLength: 64 },
    datacontenttype: { type: 'string', maxLength: 255 },
    dataschema: { type: 'string', maxLength: 1024 },
    subject: { type: 'string', maxLength: 1024 },
    data: { description: 'the payload: a JSON object' },
    data_base64: { type: 'string' },
  },
} as const;

/** Our own schema, compiled once (no publisher text becomes code). */
const checkCloudEvent = new Ajv({ allErrors: true, strict: false }).compile(cloudEventSchema);

/** Structured CloudEvents as the receiver reads them (single, batch, or binary made structured). */
export const CLOUDEVENTS_FORMAT: EventFormat = {
  toInput(event) {
    if (!checkCloudEvent(event))
      throw validationError('cloud event is invalid', ajvErrorsToDetails(checkCloudEvent.errors));
    return cloudEventToInput(event as unknown as CloudEvent);
  },
  wordError: asCloudEventError,
  eventIdOf: (event) => (event as { id?: unknown } | null)?.id,
};

/** A CloudEvent already mapped onto a native input (binary mode): only its errors are worded. */
export const MAPPED_CLOUDEVENT_FORMAT: EventFormat = {
  toInput: (input) => input,
  wordError: asCloudEventError,
  eventIdOf: (input) => (input as { eventId?: unknown } | null)?.eventId,
};

const isJsonContentType = (value: string) => {
  const essence = value.split(';')[0]!.trim().toLowerCase();
  return essence === 'application/json' || essence === 'text/json' || essence.endsWith('+json');
};

/**
 * `/type/id` → `{ type, id }` (each part percent-decoded; the id may hold further slashes);
 * `/` → no source; any other URI reference (`https://…`, `urn:…`) → `{ type: 'uri', id: it }`.
 */
export function sourceFromUri(uri: string, name?: string): EventSource | undefined {
  if (uri === '/') return undefined;
  const match = /^\/([^/]+)\/(.+)$/.exec(uri);
  const source: EventSource = match
    ? { type: safeDecode(match[1]!), id: safeDecode(match[2]!) }
    : { type: 'uri', id: uri };
  return name === undefined ? source : { ...source, name };
}

/** The `source` attribute of a native source (its inverse, {@link sourceFromUri}). */
export const sourceUri = (source: EventSource | undefined) =>
  source ? `/${encodeURIComponent(source.type)}/${encodeURIComponent(source.id)}` : '/';

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The trace id inside a W3C traceparent, when well formed. */
function traceIdOfParent(value: unknown): string | undefined {
  const match =
    typeof value === 'string'
      ? /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(value.trim())
      : null;
  return match && !/^0+$/.test(match[1]!) ? match[1] : undefined;
}

/**
 * A structured-mode CloudEvent as a native event input, or a 400 naming CloudEvents fields.
 * What is checked here is what the native envelope cannot express (spec version, data content
 * type, data schema, extension names); everything else is checked by the receiver, as for any
 * event, on the result.
 */
export function cloudEventToInput(event: CloudEvent): EventInput {
  const details: ErrorDetail[] = [];
  if (event.specversion !== SPEC_VERSION)
    details.push(fieldError('specversion', 'const', `must be "${SPEC_VERSION}"`));
  const version = versionOf(event, details);
  const payload = payloadOf(event, details);
  const metadata: Record<string, unknown> = {};
  const extensions: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(event)) {
    if (ATTRIBUTES.has(name) || value === null || value === undefined) continue;
    if (!EXTENSION_NAME.test(name)) {
      details.push(fieldError(name, 'extension_name', 'extension names are 1 to 20 of a-z, 0-9'));
    } else if (!['string', 'number', 'boolean'].includes(typeof value)) {
      details.push(fieldError(name, 'type', 'an extension is a string, number or boolean'));
    } else if (name in METADATA_EXTENSIONS) {
      metadata[METADATA_EXTENSIONS[name as keyof typeof METADATA_EXTENSIONS]] = value;
    } else if (name === TRACEPARENT) {
      const traceId = traceIdOfParent(value);
      if (traceId) metadata.traceId = traceId;
    } else if (name !== SOURCE_NAME) {
      extensions[name] = value;
    }
  }
  if (details.length > 0) throw validationError('cloud event is invalid', details);
  if (typeof event.subject === 'string') metadata.subject = event.subject;
  if (Object.keys(extensions).length > 0) metadata.extensions = extensions;
  const sourceName = typeof event[SOURCE_NAME] === 'string' ? event[SOURCE_NAME] : undefined;
  const source = sourceFromUri(String(event.source), sourceName);
  return {
    eventId: String(event.id),
    pattern: String(event.type),
    ...(version === undefined ? {} : { version }),
    ...(source ? { source } : {}),
    ...(typeof event.time === 'string' ? { timestamp: event.time } : {}),
    payload: payload as Record<string, unknown>,
    ...(Object.keys(metadata).length > 0 ? { metadata } : {}),
  };
}

/** The version a `dataschema` names (it must name this service's definition of `type`). */
function versionOf(event: CloudEvent, details: ErrorDetail[]): string | undefined {
  const schema = event.dataschema;
  if (schema === undefined || schema === null) return undefined;
  const named = typeof schema === 'string' && schema.startsWith(DATASCHEMA_PREFIX);
  const rest = named ? schema.slice(DATASCHEMA_PREFIX.length) : '';
  const split = rest.lastIndexOf(':');
  if (!named || split <= 0 || split === rest.length - 1) {
    details.push(
      fieldError(
        'dataschema',
        'format',
        `must name an event definition of this service: ${DATASCHEMA_PREFIX}<type>:<version>`,
      ),
    );
    return undefined;
  }
  if (rest.slice(0, split) !== event.type) {
    details.push(fieldError('dataschema', 'mismatch', 'names the definition of another type'));
    return undefined;
  }
  return rest.slice(split + 1);
}

/** `data`, or `data_base64` holding JSON; the content type, when given, must be JSON. */
function payloadOf(event: CloudEvent, details: ErrorDetail[]): unknown {
  const contentType = event.datacontenttype;
  if (typeof contentType === 'string' && !isJsonContentType(contentType)) {
    details.push(
      fieldError('datacontenttype', 'unsupported', 'must be application/json: payloads are JSON'),
    );
    return undefined;
  }
  const hasData = event.data !== undefined && event.data !== null;
  if (typeof event.data_base64 !== 'string') return hasData ? event.data : undefined;
  if (hasData) {
    details.push(fieldError('data_base64', 'exclusive', 'data and data_base64 exclude each other'));
    return undefined;
  }
  try {
    return JSON.parse(Buffer.from(event.data_base64, 'base64').toString('utf8'));
  } catch {
    details.push(fieldError('data_base64', 'format', 'must be base64 of a JSON object'));
    return undefined;
  }
}

/**
 * A binary-mode HTTP message as a structured CloudEvent: `ce-*` headers are the attributes
 * and extensions (percent-decoded, as the HTTP binding encodes them), `content-type` is
 * `datacontenttype`, the body is `data`.
 */
export function cloudEventFromBinary(
  headers: Record<string, string | string[] | undefined>,
  body: unknown,
): CloudEvent {
  const event: CloudEvent = {};
  for (const [name, raw] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (!lower.startsWith('ce-') || raw === undefined) continue;
    event[lower.slice(3)] = safeDecode(Array.isArray(raw) ? raw.join(',') : raw);
  }
  const contentType = headers['content-type'];
  if (typeof contentType === 'string') event.datacontenttype = contentType;
  if (body !== undefined) event.data = body;
  return event;
}

/** Is this request a binary-mode CloudEvent (it carries `ce-specversion`)? */
export const isBinaryCloudEvent = (headers: Record<string, unknown>) =>
  headers['ce-specversion'] !== undefined;

/** The native field an error names, as a CloudEvents publisher named it. */
export function cloudEventField(field: string): string {
  const renames: Array<[string, string]> = [
    ['eventId', 'id'],
    ['pattern', 'type'],
    ['version', 'dataschema'],
    ['timestamp', 'time'],
    ['payload', 'data'],
    ['source.name', SOURCE_NAME],
    ['source', 'source'],
    ['metadata.correlationId', 'correlationid'],
    ['metadata.causationId', 'causationid'],
    ['metadata.userId', 'userid'],
    ['metadata.traceId', TRACEPARENT],
    ['metadata.subject', 'subject'],
    ['metadata.extensions', ''],
  ];
  for (const [native, ce] of renames) {
    if (field === native) return ce || field;
    if (field.startsWith(`${native}.`) || field.startsWith(`${native}[`)) {
      const rest = field.slice(native.length);
      if (native === 'source') return 'source';
      return ce ? `${ce}${rest}` : rest.replace(/^\./, '');
    }
  }
  return field;
}

/** The same error, its fields named as in CloudEvents. */
export function asCloudEventError(error: AppError): AppError {
  return new AppError(
    error.status,
    error.code,
    error.message,
    error.details.map((d) => ({ ...d, field: cloudEventField(d.field) })),
    error.headers,
  );
}

/**
 * A stored event as a CloudEvent (JSON format). Native-only metadata — tags, context, fields
 * beyond those of the README's table — has no CloudEvents attribute and is left out.
 */
export function instanceToCloudEvent(instance: EventInstance, traceparent?: string): CloudEvent {
  const metadata = instance.metadata as EventMetadata & {
    subject?: unknown;
    extensions?: unknown;
  };
  const event: CloudEvent = {
    specversion: SPEC_VERSION,
    id: instance.eventId,
    source: sourceUri(instance.source),
    type: instance.pattern,
    time: instance.timestamp,
    datacontenttype: 'application/json',
    dataschema: dataschemaOf(instance.pattern, instance.version),
  };
  if (typeof metadata.subject === 'string') event.subject = metadata.subject;
  for (const [extension, field] of Object.entries(METADATA_EXTENSIONS)) {
    const value = metadata[field];
    if (typeof value === 'string') event[extension] = value;
  }
  if (instance.source?.name !== undefined) event[SOURCE_NAME] = instance.source.name;
  if (traceparent !== undefined) event[TRACEPARENT] = traceparent;
  if (metadata.extensions && typeof metadata.extensions === 'object') {
    for (const [name, value] of Object.entries(metadata.extensions)) {
      const scalar = ['string', 'number', 'boolean'].includes(typeof value);
      if (scalar && EXTENSION_NAME.test(name) && !(name in event) && !ATTRIBUTES.has(name))
        event[name] = value;
    }
  }
  event.data = instance.payload;
  return event;
}

/**
 * A header value as the HTTP binding (1.0.2, 3.1.3.2) asks: printable ASCII other than space,
 * `"` and `%` as is, everything else percent-encoded as UTF-8.
 */
export function encodeHeaderValue(value: string): string {
  let out = '';
  for (const char of value) {
    const code = char.codePointAt(0)!;
    const plain = code > 0x20 && code < 0x7f && char !== '"' && char !== '%';
    out += plain
      ? char
      : [...Buffer.from(char, 'utf8')]
          .map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`)
          .join('');
  }
  return out;
}

/**
 * A CloudEvent in binary mode: every attribute but `data` as a `ce-` header (as the HTTP and
 * NATS bindings both name them), `datacontenttype` as `content-type`, and the data as the body.
 */
export function binaryMessage(event: CloudEvent): {
  headers: Record<string, string>;
  body: string;
} {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(event)) {
    if (name === 'data' || name === 'data_base64' || value === undefined) continue;
    if (name === 'datacontenttype') headers['content-type'] = String(value);
    else headers[`ce-${name}`] = encodeHeaderValue(String(value));
  }
  return { headers, body: JSON.stringify(event.data) };
}

/**
 * How an event is sent to a subscriber: the service's own JSON, or a CloudEvent in the
 * structured or binary content mode (the HTTP and NATS bindings name the headers alike).
 */
export const EVENT_ENCODINGS = ['native', 'cloudevents-structured', 'cloudevents-binary'] as const;
export type EventEncoding = (typeof EVENT_ENCODINGS)[number];

/** An event ready to send: the body, its content type, and headers that describe it. */
export interface EncodedEvent {
  body: string;
  contentType: string;
  /** `ce-*` headers of the binary mode; none otherwise. */
  headers: Record<string, string>;
}

/**
 * An event in `encoding`. The trace context travels in the transport's own `traceparent`
 * header, not in the CloudEvent, so one encoding of an event serves every attempt.
 */
export function encodeEvent(instance: EventInstance, encoding: EventEncoding): EncodedEvent {
  switch (encoding) {
    case 'native':
      return { body: JSON.stringify(instance), contentType: 'application/json', headers: {} };
    case 'cloudevents-structured':
      return {
        body: JSON.stringify(instanceToCloudEvent(instance)),
        contentType: CLOUDEVENTS_JSON,
        headers: {},
      };
    case 'cloudevents-binary': {
      const { headers, body } = binaryMessage(instanceToCloudEvent(instance));
      const { 'content-type': contentType = 'application/json', ...attributes } = headers;
      return { body, contentType, headers: attributes };
    }
  }
}
