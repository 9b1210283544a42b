import { v5 as uuidv5 } from 'uuid';
import type { ConsumerSpec, EventSchema } from '../compatibility/consumers.ts';
import { type ErrorDetail, fieldError, validationError } from '../errors.ts';
import type { EventInput, EventInstance, EventSource } from '../events/event.ts';
import { type CompiledCondition, compileCondition } from '../expressions/condition.ts';
import {
  type CompiledMapping,
  compileMapping,
  InputTooLargeError,
} from '../expressions/mapping.ts';
import { parseSubscriptionPattern } from '../routing/pattern.ts';
import { collectExpressionErrors } from '../triggers/trigger.ts';
import { WORKFLOW_TRIGGER_RETRY_POLICY } from '../workflows/port.ts';

/**
 * Event processors derive events from events: each event matching `eventPattern` (and
 * `eventCondition`) becomes one new event of `output.pattern`, its payload mapped from the
 * source as a trigger's `inputMapping` maps a workflow input (expressions/mapping.ts). This
 * module is the pure core: compiling a processor and planning one derivation.
 */

/** What a processor publishes for each matching event. */
export interface ProcessorOutput {
  /** A registered event pattern (no wildcards). */
  pattern: string;
  /** The output definition's version; the highest active one when absent. */
  version?: string;
  /** Target field → path, `{ "const": value }`, or another literal (as trigger input mappings). */
  payload: Record<string, unknown>;
  /** The derived event's source; `{ type: "processor", id, name }` when absent. */
  source?: EventSource;
}

export interface EventProcessor {
  id: string;
  name: string;
  eventPattern: string;
  eventCondition: string | null;
  output: ProcessorOutput;
  enabled: boolean;
  description: string | null;
  labels: Record<string, string>;
  createdAt: string;
  updatedAt: string;
  revision: number;
}

/**
 * A derivation that failed (its output refused, the service overloaded) is retried as a
 * trigger's firing is, and dead-lettered after as many attempts.
 */
export const PROCESSOR_RETRY_POLICY = WORKFLOW_TRIGGER_RETRY_POLICY;

/** A processor with its condition and payload mapping compiled once. */
export interface CompiledProcessor {
  processor: EventProcessor;
  condition: CompiledCondition | undefined;
  payload: CompiledMapping;
}

type Expressions = Pick<EventProcessor, 'eventPattern' | 'eventCondition' | 'output'>;

/**
 * What a processor reads from its source events, for type checks and impact analysis: its
 * condition, and its payload mapping as an input built for `output` (the schema its derived
 * events are held to, when known).
 */
export function processorConsumerSpec(
  fields: Pick<EventProcessor, 'eventCondition' | 'output'>,
  output: EventSchema | undefined,
): ConsumerSpec {
  return {
    conditions: fields.eventCondition
      ? [{ field: 'eventCondition', text: fields.eventCondition }]
      : [],
    input: {
      mapping: fields.output.payload,
      inputSchema: output?.payloadSchema,
      naming: {
        field: 'output.payload',
        schema: `the payload_schema of ${output?.label ?? fields.output.pattern}`,
        failure: 'such events derive nothing (the firing fails and is dead-lettered)',
      },
    },
  };
}

/** Every expression of a processor that does not parse, as 400 details. */
export function checkProcessorExpressions(fields: Expressions): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  collectExpressionErrors(details, 'eventPattern', () =>
    parseSubscriptionPattern(fields.eventPattern),
  );
  const { eventCondition, output } = fields;
  if (eventCondition)
    collectExpressionErrors(details, 'eventCondition', () => compileCondition(eventCondition));
  collectExpressionErrors(details, 'output.payload', () => compileMapping(output.payload));
  return details;
}

/** Compiles a processor; 400 with a detail per expression that does not parse. */
export function compileProcessor(
  processor: EventProcessor,
  payloadMaxBytes = Number.POSITIVE_INFINITY,
): CompiledProcessor {
  const details = checkProcessorExpressions(processor);
  if (details.length > 0) throw validationError('event processor is invalid', details);
  return {
    processor,
    condition: processor.eventCondition ? compileCondition(processor.eventCondition) : undefined,
    payload: compileMapping(processor.output.payload, payloadMaxBytes),
  };
}

/**
 * Derived event ids are name-based UUIDs (v5) of the work key, so a derivation attempted again
 * after a crash (its event committed, its work not yet marked done) sends the same eventId and
 * is stored as a duplicate, never as a second event. A forced replay has a key of its own, and
 * so derives anew.
 */
const DERIVED_EVENT_NAMESPACE = 'd39d3e63-c885-4f6a-b16b-8ed66dc859bc';

export const derivedEventId = (workKey: string) => uuidv5(workKey, DERIVED_EVENT_NAMESPACE);

/**
 * Where a derived event says what derived it: `metadata.derivedBy`. Its `depth` counts the
 * derivations since the published event (1 for an event derived from a published one), which
 * is what `PROCESSOR_MAX_DEPTH` bounds.
 */
export interface DerivedBy {
  processorId: string;
  depth: number;
}

/** The derivation depth of an event: 0 for a published one. */
export function depthOf(event: Pick<EventInstance, 'metadata'>): number {
  const derivedBy = event.metadata.derivedBy as Partial<DerivedBy> | undefined;
  const depth = derivedBy?.depth;
  return typeof depth === 'number' && Number.isInteger(depth) && depth > 0 ? depth : 0;
}

/** What a processor does with one event, before any side effect. */
export type Derivation = { conditionResult?: boolean | null } & (
  | { action: 'skipped'; reason: string }
  /** Stopped for good (retrying cannot help): the chain is too deep, the payload too large. */
  | { action: 'failed'; error: ErrorDetail }
  | { action: 'derive'; event: EventInput & { eventId: string }; depth: number }
);

/**
 * The event `compiled` derives from `event` for the work keyed `workKey`. The derived event
 * keeps the source's correlationId and names it as its cause, so `GET /v1/events/{id}/trace`
 * shows the chain. Never throws.
 */
export function planDerivation(
  compiled: CompiledProcessor,
  event: EventInstance,
  workKey: string,
  maxDepth: number,
): Derivation {
  const evaluated = compiled.condition ? compiled.condition.evaluate(event) : { result: true };
  if ('error' in evaluated)
    return {
      action: 'skipped',
      conditionResult: null,
      reason: `condition could not be evaluated: ${evaluated.error}`,
    };
  if (!evaluated.result)
    return { action: 'skipped', conditionResult: false, reason: 'condition is false' };
  const held = compiled.condition ? { conditionResult: true } : {};
  const { processor } = compiled;
  const depth = depthOf(event) + 1;
  if (depth > maxDepth) {
    const message = `the event would be derived ${depth} deep; chains stop at PROCESSOR_MAX_DEPTH (${maxDepth})`;
    return {
      ...held,
      action: 'failed',
      error: fieldError('metadata.derivedBy', 'depth_exceeded', message),
    };
  }
  let payload: Record<string, unknown>;
  try {
    payload = compiled.payload.apply(event);
  } catch (error) {
    if (!(error instanceof InputTooLargeError)) throw error;
    return {
      ...held,
      action: 'failed',
      error: fieldError('output.payload', error.code, error.message),
    };
  }
  const { output } = processor;
  const derivedBy: DerivedBy = { processorId: processor.id, depth };
  return {
    ...held,
    action: 'derive',
    depth,
    event: {
      eventId: derivedEventId(workKey),
      pattern: output.pattern,
      ...(output.version ? { version: output.version } : {}),
      source: output.source ?? { type: 'processor', id: processor.id, name: processor.name },
      payload,
      metadata: {
        correlationId: event.metadata.correlationId,
        causationId: event.eventId,
        ...(event.metadata.traceId ? { traceId: event.metadata.traceId } : {}),
        derivedBy,
      },
    },
  };
}
