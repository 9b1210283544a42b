import type { ConsumerSpec } from '../compatibility/consumers.ts';
import { type ErrorDetail, validationError } from '../errors.ts';
import { type CompiledCondition, compileCondition } from '../expressions/condition.ts';
import type { EventView } from '../expressions/event.ts';
import {
  type CompiledMapping,
  compileMapping,
  defaultInput,
  InputTooLargeError,
  MappingError,
} from '../expressions/mapping.ts';
import { ParseError } from '../expressions/parse-error.ts';
import { type CompiledPath, compilePath, resolveCorrelationKey } from '../expressions/path.ts';
import { parseSubscriptionPattern } from '../routing/pattern.ts';
import type { WaitSpec } from '../waits/wait.ts';

/** The spec's WorkflowEventTrigger, as stored and sent (camelCase), plus revision. */
export interface WorkflowEventTrigger {
  id: string;
  /** The natural key (`^[a-z0-9][a-z0-9._-]{0,127}$`), unique; null for triggers made without one. */
  name: string | null;
  workflowDefinitionId: string;
  eventPattern: string;
  triggerType: TriggerType;
  eventCondition: string | null;
  inputMapping: Record<string, unknown> | null;
  correlationKey: string | null;
  enabled: boolean;
  priority: number | null;
  description: string | null;
  labels: Record<string, string>;
  /**
   * START only: waits registered for every instance the trigger starts, keyed by the firing's
   * correlation key (declarative "wait for payment.failed after order.placed"); at most
   * {@link MAX_WAIT_FOR}.
   */
  waitFor: WaitSpec[];
  createdAt: string;
  updatedAt: string;
  revision: number;
}

export const TRIGGER_TYPES = ['START', 'CANCEL'] as const;

/** Most waits one START trigger declares: each start registers them all, so bounded. */
export const MAX_WAIT_FOR = 10;
export type TriggerType = (typeof TRIGGER_TYPES)[number];

/** A trigger with its condition, mapping and correlation key compiled once. */
export interface CompiledTrigger {
  trigger: WorkflowEventTrigger;
  condition: CompiledCondition | undefined;
  mapping: CompiledMapping | undefined;
  correlationKey: CompiledPath | undefined;
}

type Expressions = Pick<
  WorkflowEventTrigger,
  'eventPattern' | 'eventCondition' | 'inputMapping' | 'correlationKey'
>;

/** Runs `compile`; a parse or mapping error becomes details of `field` (anything else is thrown). */
export function collectExpressionErrors(
  details: ErrorDetail[],
  field: string,
  compile: () => void,
): void {
  try {
    compile();
  } catch (error) {
    if (error instanceof ParseError) details.push(error.toDetail(field));
    else if (error instanceof MappingError) details.push(...error.toDetails(field));
    else throw error;
  }
}

/**
 * Compiles a trigger's expressions; every one that does not parse is a 400 detail.
 * `mappedInputMaxBytes` bounds each mapped input (see {@link InputTooLargeError}).
 */
export function compileTrigger(
  trigger: WorkflowEventTrigger,
  mappedInputMaxBytes = Number.POSITIVE_INFINITY,
): CompiledTrigger {
  const details = checkExpressions(trigger);
  if (details.length > 0) throw validationError('trigger is invalid', details);
  return {
    trigger,
    condition: trigger.eventCondition ? compileCondition(trigger.eventCondition) : undefined,
    mapping: trigger.inputMapping
      ? compileMapping(trigger.inputMapping, mappedInputMaxBytes)
      : undefined,
    correlationKey: trigger.correlationKey ? compilePath(trigger.correlationKey) : undefined,
  };
}

export function checkExpressions(fields: Partial<Expressions>): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  const { eventPattern, eventCondition, inputMapping, correlationKey } = fields;
  if (eventPattern !== undefined)
    collectExpressionErrors(details, 'eventPattern', () => parseSubscriptionPattern(eventPattern));
  if (eventCondition)
    collectExpressionErrors(details, 'eventCondition', () => compileCondition(eventCondition));
  if (inputMapping)
    collectExpressionErrors(details, 'inputMapping', () => compileMapping(inputMapping));
  if (correlationKey)
    collectExpressionErrors(details, 'correlationKey', () => compilePath(correlationKey));
  return details;
}

/** What a trigger would do with an event, before any side effect. */
export interface FiringPlan {
  /** null when the condition could not be evaluated. */
  conditionResult: boolean | null;
  conditionError?: string;
  mappedInput?: Record<string, unknown>;
  /** Why there is no mapped input although the condition held (`input_too_large`). */
  inputError?: ErrorDetail;
  correlationKey: string | null;
}

/** Condition, input mapping and correlation key of `compiled` on `event`. Never throws. */
export function planFiring(
  compiled: CompiledTrigger,
  event: EventView & { metadata?: unknown },
): FiringPlan {
  const evaluated = compiled.condition ? compiled.condition.evaluate(event) : { result: true };
  const correlationKey = resolveCorrelationKey(compiled.correlationKey, event) ?? null;
  if ('error' in evaluated)
    return { conditionResult: null, conditionError: evaluated.error, correlationKey };
  if (!evaluated.result) return { conditionResult: false, correlationKey };
  if (!compiled.mapping)
    return { conditionResult: true, mappedInput: defaultInput(event), correlationKey };
  try {
    return { conditionResult: true, mappedInput: compiled.mapping.apply(event), correlationKey };
  } catch (error) {
    if (!(error instanceof InputTooLargeError)) throw error;
    const inputError = { field: 'inputMapping', code: error.code, message: error.message };
    return { conditionResult: true, inputError, correlationKey };
  }
}

/**
 * What a trigger reads, for the type check: its expressions and, for a START (the only type that
 * builds an input: a CANCEL ends instances), its workflow's input.
 */
export function triggerConsumerSpec(
  trigger: Pick<
    WorkflowEventTrigger,
    'triggerType' | 'eventCondition' | 'inputMapping' | 'correlationKey'
  >,
  inputSchema: unknown,
): ConsumerSpec {
  return {
    conditions: trigger.eventCondition
      ? [{ field: 'eventCondition', text: trigger.eventCondition }]
      : [],
    keys: trigger.correlationKey ? [{ field: 'correlationKey', text: trigger.correlationKey }] : [],
    ...(trigger.triggerType === 'START'
      ? { input: { mapping: trigger.inputMapping ?? undefined, inputSchema } }
      : {}),
  };
}

/** What one of a trigger's `waitFor` reads of the events it waits for, fields under `prefix`. */
export function waitConsumerSpec(wait: WaitSpec, prefix: string): ConsumerSpec {
  return {
    conditions: wait.condition ? [{ field: `${prefix}condition`, text: wait.condition }] : [],
    keys: wait.correlationKeyPath
      ? [{ field: `${prefix}correlationKeyPath`, text: wait.correlationKeyPath }]
      : [],
  };
}
