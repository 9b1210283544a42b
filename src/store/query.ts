import { SqlConditions } from '../db/sql.ts';
import { fieldError, validationError } from '../errors.ts';
import { timeParameter } from '../events/time.ts';
import { ParseError } from '../expressions/parse-error.ts';
import { parseSubscriptionPattern, wildcardRegex } from '../routing/pattern.ts';

/** GET /v1/events filters, turned into SQL conditions with parameters (never client text in SQL). */
export interface EventQuery {
  pattern?: string;
  startTime?: string;
  endTime?: string;
  correlationId?: string;
  causationId?: string;
  'source.type'?: string;
  'source.id'?: string;
  userId?: string;
  'context.type'?: string;
  'context.id'?: string;
  payload?: string;
  limit: number;
  offset: number;
  cursor?: string;
  order: 'asc' | 'desc';
  [tag: `tag.${string}`]: string;
}

/** The conditions of an event read: AND-ed, parameters numbered from $1. */
export type Conditions = Pick<SqlConditions, 'where' | 'params'>;

export interface Cursor {
  /** `timestamp(6)` text of the last row returned. */
  time: string;
  id: string;
}

export const encodeCursor = (cursor: Cursor) =>
  Buffer.from(JSON.stringify([cursor.time, cursor.id])).toString('base64url');

function decodeCursor(text: string): Cursor {
  try {
    const [time, id] = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown[];
    if (
      typeof time === 'string' &&
      /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$/.test(time) &&
      typeof id === 'string' &&
      /^[0-9a-f-]{36}$/.test(id)
    ) {
      return { time, id };
    }
  } catch {
    // fall through to the 400 below
  }
  throw validationError('invalid cursor', [
    fieldError('cursor', 'invalid', 'is not a cursor this service returned'),
  ]);
}

function parsePayloadFilter(text: string): string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw validationError('invalid payload filter', [
      fieldError('payload', 'format', 'must be a JSON object, e.g. {"status":"confirmed"}'),
    ]);
  }
  return JSON.stringify(value);
}

/** Metadata fields matched by containment, so the GIN index on metadata serves them. */
function metadataContainment(query: EventQuery): Record<string, unknown> | undefined {
  const tags = Object.fromEntries(
    Object.entries(query)
      .filter(([key]) => key.startsWith('tag.'))
      .map(([key, value]) => [key.slice(4), value]),
  );
  const context = {
    ...(query['context.type'] ? { type: query['context.type'] } : {}),
    ...(query['context.id'] ? { id: query['context.id'] } : {}),
  };
  const wanted = {
    ...(query.userId !== undefined ? { userId: query.userId } : {}),
    ...(Object.keys(context).length > 0 ? { context } : {}),
    ...(Object.keys(tags).length > 0 ? { tags } : {}),
  };
  return Object.keys(wanted).length > 0 ? wanted : undefined;
}

export function buildConditions(query: EventQuery): SqlConditions & { cursor?: Cursor } {
  const conditions = new SqlConditions();
  const add = conditions.add.bind(conditions);
  if (query.pattern !== undefined) {
    try {
      parseSubscriptionPattern(query.pattern);
    } catch (error) {
      if (!(error instanceof ParseError)) throw error;
      throw validationError('invalid pattern', [error.toDetail('pattern')]);
    }
    if (query.pattern.includes('*'))
      add((p) => `(pattern || '.') ~ ${p}`, wildcardRegex(query.pattern));
    else add((p) => `pattern = ${p}`, query.pattern);
  }
  if (query.startTime !== undefined)
    add((p) => `"timestamp" >= ${p}::timestamp`, timeParameter('startTime', query.startTime));
  if (query.endTime !== undefined)
    add((p) => `"timestamp" < ${p}::timestamp`, timeParameter('endTime', query.endTime));
  if (query.correlationId !== undefined)
    add((p) => `metadata->>'correlationId' = ${p}`, query.correlationId);
  if (query.causationId !== undefined)
    add((p) => `metadata->>'causationId' = ${p}`, query.causationId);
  if (query['source.type'] !== undefined)
    add((p) => `source->>'type' = ${p}`, query['source.type']);
  if (query['source.id'] !== undefined) add((p) => `source->>'id' = ${p}`, query['source.id']);
  const metadata = metadataContainment(query);
  if (metadata) add((p) => `metadata @> ${p}::jsonb`, JSON.stringify(metadata));
  if (query.payload !== undefined)
    add((p) => `payload @> ${p}::jsonb`, parsePayloadFilter(query.payload));
  if (query.cursor === undefined) return conditions;
  if (query.offset > 0) {
    throw validationError('cursor and offset exclude each other', [
      fieldError('offset', 'exclusive', 'must be 0 when a cursor is given'),
    ]);
  }
  const cursor = decodeCursor(query.cursor);
  const op = query.order === 'asc' ? '>' : '<';
  add(
    (time, id) => `("timestamp", id) ${op} (${time}::timestamp, ${id}::uuid)`,
    cursor.time,
    cursor.id,
  );
  return Object.assign(conditions, { cursor });
}
