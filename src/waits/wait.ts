import { type ErrorDetail, fieldError, validationError } from '../errors.ts';
import type { EventInstance } from '../events/event.ts';
import { type CompiledCondition, compileCondition } from '../expressions/condition.ts';
import { ParseError } from '../expressions/parse-error.ts';
import { type CompiledPath, compilePath, resolveCorrelationKey } from '../expressions/path.ts';
import { ONE, parseSubscriptionPattern, SOME } from '../routing/pattern.ts';

/** The pure core of waits: their shape, durations, and whether an event resolves one. */

export const WAIT_STATUSES = ['waiting', 'resolved', 'timed_out', 'cancelled'] as const;
export type WaitStatus = (typeof WAIT_STATUSES)[number];

/**
 * Who hears of the resolution: a workflow instance (its engine), or a URL of the caller's. An
 * instance is a builtin one by its id alone; one an http engine runs is named with its workflow
 * definition (the engine's instance ids are its own, not this service's).
 */
export type WaitNotifyInput =
  | { workflowInstanceId: string; workflowDefinitionId?: string }
  | { url: string; secret?: string };

/** An instance of an http executor's engine: resumed by a POST to `{executorUrl}/resume`. */
export interface EngineInstance {
  workflowInstanceId: string;
  workflowDefinitionId: string;
}

/**
 * The notification target as stored: a builtin instance (its id alone), an http engine's
 * instance, or a URL with its signing secret sealed (see waits/resume.ts).
 */
export type WaitNotify =
  | { workflowInstanceId: string }
  | EngineInstance
  | { url: string; secret: string };

/** Whether the resolution is sent (routing work of kind `resume`) rather than only recorded. */
export const isSent = (
  notify: WaitNotify,
): notify is EngineInstance | { url: string; secret: string } =>
  'url' in notify || 'workflowDefinitionId' in notify;

/** A wait as the API shows it. */
export interface Wait {
  id: string;
  pattern: string;
  condition: string | null;
  correlationKey: string;
  /** The path resolving an event's key; null for metadata.correlationId. */
  correlationKeyPath: string | null;
  status: WaitStatus;
  timeout: string;
  lookback: string | null;
  /**
   * The notification target; a URL's secret is shown once, in the answer to the registration
   * that generated it (none was given), never again.
   */
  notify:
    | { workflowInstanceId: string; workflowDefinitionId?: string }
    | { url: string; secret?: string };
  expiresAt: string;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
  /**
   * When its lookback was narrowed (`lookback_truncated`): the commit time from which it
   * searched, and from which the wait counts events.
   */
  lookbackFrom?: string;
  /** The event that resolved it (status `resolved`). */
  event?: EventInstance;
}

/** The longest timeout: 30 days. */
export const MAX_TIMEOUT_MS = 30 * 86_400_000;

const DURATION =
  /^P(?:(\d{1,6})W|(?:(\d{1,6})D)?(?:T(?:(\d{1,7})H)?(?:(\d{1,9})M)?(?:(\d{1,10}(?:[.,]\d{1,3})?)S)?)?)$/;

/**
 * Milliseconds of an ISO 8601 duration of weeks, days, hours, minutes and seconds (`PT24H`,
 * `P1DT12H`, `PT0.5S`, `P2W`), or undefined when `text` is not one. Years and months are
 * refused: their length depends on the calendar. Hand-written: none of our libraries parses
 * durations, and this grammar is one expression.
 */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text);
  if (!match || text === 'P' || text.endsWith('T')) return undefined;
  const [, weeks, days, hours, minutes, seconds] = match;
  const n = (value: string | undefined) => (value ? Number(value.replace(',', '.')) : 0);
  return (
    (n(weeks) * 7 * 24 * 3600 + n(days) * 24 * 3600 + n(hours) * 3600 + n(minutes) * 60) * 1000 +
    Math.round(n(seconds) * 1000)
  );
}

/** What a wait waits for: as registered, and as a START trigger's `waitFor` declares it. */
export interface WaitSpec {
  pattern: string;
  condition?: string | null;
  /** Path resolving an event's key (default metadata.correlationId). */
  correlationKeyPath?: string | null;
  timeout: string;
  lookback?: string | null;
}

/** A wait to register, as checked by {@link checkWaitInput}. */
export interface WaitInput extends WaitSpec {
  correlationKey: string;
  notify: WaitNotifyInput;
}

/** A checked wait: durations in milliseconds. */
export type Checked<T extends WaitSpec> = T & { timeoutMs: number; lookbackMs: number };
export type CheckedWait = Checked<WaitInput>;

/**
 * Checks what the schema cannot: the pattern is one event type (no wildcards: a wait is found
 * by its exact pattern), the expressions compile, the durations parse and are in bounds — the
 * timeout at most 30 days, the lookback at most the event retention (`maxLookbackMs`, when
 * events are kept for a limited time). Throws a 400 with every problem.
 */
export function checkWaitInput<T extends WaitSpec>(
  input: T,
  maxLookbackMs: number | undefined,
  /** Put before each detail's field (`waitFor[0].` for a trigger's waits). */
  fieldPrefix = '',
): Checked<T> {
  const details = waitSpecProblems(input, maxLookbackMs);
  const timeoutMs = parseDuration(input.timeout);
  const lookbackMs = input.lookback ? parseDuration(input.lookback) : 0;
  if (details.length > 0 || timeoutMs === undefined || lookbackMs === undefined)
    throw validationError(
      'wait is invalid',
      details.map((d) => ({ ...d, field: fieldPrefix + d.field })),
    );
  return { ...input, timeoutMs, lookbackMs };
}

function waitSpecProblems(input: WaitSpec, maxLookbackMs: number | undefined): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  const parse = (field: string, check: () => void) => {
    try {
      check();
    } catch (error) {
      if (!(error instanceof ParseError)) throw error;
      details.push(error.toDetail(field));
    }
  };
  parse('pattern', () => {
    const segments = parseSubscriptionPattern(input.pattern);
    if (segments.some((s) => s === ONE || s === SOME))
      details.push(
        fieldError(
          'pattern',
          'invalid_pattern',
          'a wait names one event pattern, without wildcards',
        ),
      );
  });
  const { condition, correlationKeyPath } = input;
  if (condition) parse('condition', () => compileCondition(condition));
  if (correlationKeyPath) parse('correlationKeyPath', () => compilePath(correlationKeyPath));
  const timeoutMs = parseDuration(input.timeout);
  if (timeoutMs === undefined)
    details.push(
      fieldError('timeout', 'invalid_duration', 'is not an ISO 8601 duration such as PT24H or P7D'),
    );
  else if (timeoutMs <= 0 || timeoutMs > MAX_TIMEOUT_MS)
    details.push(
      fieldError('timeout', 'out_of_range', 'must be more than 0 and at most 30 days (P30D)'),
    );
  const lookbackMs = input.lookback ? parseDuration(input.lookback) : 0;
  if (lookbackMs === undefined)
    details.push(
      fieldError('lookback', 'invalid_duration', 'is not an ISO 8601 duration such as PT1H'),
    );
  else if (maxLookbackMs !== undefined && lookbackMs > maxLookbackMs)
    details.push(
      fieldError(
        'lookback',
        'out_of_range',
        `must be at most the event retention (${maxLookbackMs / 86_400_000} days)`,
      ),
    );
  return details;
}

/** A stored wait's matching rule, compiled once per resolver round. */
export interface WaitRule {
  id: string;
  pattern: string;
  correlationKey: string;
  keyPath: string;
  condition: string | null;
  /** Events committed before this do not count. */
  windowStart: Date;
}

/** The compiled key paths and conditions of a round (many waits share their texts). */
export class RuleCompiler {
  private readonly conditions = new Map<string, CompiledCondition | undefined>();
  private readonly paths = new Map<string, CompiledPath | undefined>();

  /** The event's key under `keyPath` ('' for metadata.correlationId). */
  keyOf(keyPath: string, event: EventInstance): string | undefined {
    const path = this.compiled(this.paths, keyPath, compilePath);
    if (keyPath !== '' && !path) return undefined;
    return resolveCorrelationKey(path, event);
  }

  /**
   * Whether `event`, committed at `committedAt`, resolves the wait. A condition that cannot be
   * evaluated on the event is false (as a trigger skips the event).
   */
  resolves(rule: WaitRule, event: EventInstance, committedAt: Date): boolean {
    if (committedAt < rule.windowStart || event.pattern !== rule.pattern) return false;
    if (this.keyOf(rule.keyPath, event) !== rule.correlationKey) return false;
    if (!rule.condition) return true;
    const condition = this.compiled(this.conditions, rule.condition, compileCondition);
    if (!condition) return false;
    const evaluated = condition.evaluate(event);
    return 'result' in evaluated && evaluated.result;
  }

  private compiled<T>(
    cache: Map<string, T | undefined>,
    text: string,
    compile: (text: string) => T,
  ) {
    if (!cache.has(text)) {
      let value: T | undefined;
      // Stored texts compiled when they were written; one that no longer does matches nothing
      // rather than stopping the resolver.
      try {
        value = text === '' ? undefined : compile(text);
      } catch {
        value = undefined;
      }
      cache.set(text, value);
    }
    return cache.get(text);
  }
}
