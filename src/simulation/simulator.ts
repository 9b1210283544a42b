import { createSecretKey } from 'node:crypto';
import type { Clock } from '../clock.ts';
import { encodeEvent } from '../cloudevents/format.ts';
import type { Database } from '../db/database.ts';
import { createCircuitBreaker } from '../delivery/circuit-breaker.ts';
import {
  DEFAULT_WEBHOOK_TIMEOUT_MS,
  type DeliveryRequest,
  queueHeaders,
  webhookHeaders,
} from '../delivery/senders.ts';
import { secretKey } from '../delivery/signature.ts';
import type { ErrorDetail } from '../errors.ts';
import type { EventInstance } from '../events/event.ts';
import { compileCondition } from '../expressions/condition.ts';
import type { EventProcessor } from '../processors/processor.ts';
import type { DryRunAnswer } from '../processors/processor-routing.ts';
import { enabledProcessors } from '../processors/repository.ts';
import { matchesPattern } from '../routing/pattern.ts';
import { deliveryRequestOf } from '../subscriptions/delivery-handler.ts';
import { listSubscriptions } from '../subscriptions/repository.ts';
import type { Subscriptions } from '../subscriptions/service.ts';
import type { StoredSubscription } from '../subscriptions/subscription.ts';
import type { FiringRecord } from '../triggers/firing.ts';
import { listTriggers } from '../triggers/repository.ts';
import type { WorkflowEventTrigger } from '../triggers/trigger.ts';
import type { WorkflowService } from '../workflows/service.ts';

/**
 * Whole-system simulation: what every trigger, subscription and enabled event processor would
 * do with an event, from the same code that does it for real (the triggers' and processors' dry
 * runs, the delivery request the sender is handed, the sender's own header building), with
 * nothing stored, started or sent.
 */

/** Most triggers, subscriptions and processors one simulation looks at (work per request is bounded). */
export const SIMULATION_LIMIT = 1000;

/** Why a target does not act on the event now. */
export type NotMatchedReason = 'pattern' | 'disabled' | 'paused' | 'circuit_open';

export interface TriggerSimulation extends Partial<FiringRecord> {
  triggerId: string;
  name: string | null;
  eventPattern: string;
  enabled: boolean;
  createdAt: string;
  matched: boolean;
  notMatched?: NotMatchedReason;
  /** The mapped input against the workflow definition's inputSchema (a START that would run). */
  inputSchema?: { valid: boolean; details: ErrorDetail[] };
}

/** The exact webhook request, signature values and credentials redacted. */
export interface SimulatedRequest {
  method: 'POST';
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface SimulatedMessage {
  subject: string;
  headers: Record<string, string>;
  body: string;
}

export interface SubscriptionSimulation {
  subscriptionId: string;
  name: string | null;
  eventPattern: string;
  status: StoredSubscription['status'];
  createdAt: string;
  matched: boolean;
  notMatched?: NotMatchedReason;
  filterResult?: boolean | null;
  filterError?: string;
  /** would_deliver; filtered; held (paused, or the circuit is open: delivered later); none. */
  action: 'would_deliver' | 'filtered' | 'held' | 'none';
  request?: SimulatedRequest;
  message?: SimulatedMessage;
  error?: string;
}

/** An enabled event processor: matched or not, and what its own dry run says it would publish. */
export interface ProcessorSimulation extends Partial<DryRunAnswer> {
  processorId: string;
  name: string;
  eventPattern: string;
  createdAt: string;
  matched: boolean;
  notMatched?: 'pattern';
  /** The derived event against its definition, as `POST /v1/events` would check it. */
  derivedEventCheck?: { valid: boolean; details: ErrorDetail[] };
}

export interface Simulation {
  triggers: TriggerSimulation[];
  subscriptions: SubscriptionSimulation[];
  processors: ProcessorSimulation[];
}

export interface SimulatorDeps {
  db: Database;
  clock: Clock;
  workflows: Pick<WorkflowService, 'inputProblems' | 'runningInstances'>;
  /** The triggers' own dry run (TriggerRouting.dryRun): the firing record, no side effect. */
  dryRun(trigger: WorkflowEventTrigger, event: EventInstance): FiringRecord;
  subscriptions: Pick<Subscriptions, 'credentials' | 'signingSecrets'>;
  /** The processors' own dry run (ProcessorRouting.dryRun): the derived event, checked, nothing stored. */
  dryRunProcessor(processor: EventProcessor, event: EventInstance): Promise<DryRunAnswer>;
}

const REDACTED = '[redacted]';
/** Headers whose values are secrets: shown redacted. */
const SECRET_HEADERS = new Set(['webhook-signature', 'authorization', 'x-api-key']);

export class Simulator {
  constructor(private readonly deps: SimulatorDeps) {}

  async simulate(event: EventInstance): Promise<Simulation> {
    const page = { limit: SIMULATION_LIMIT, offset: 0 };
    const { triggers } = await listTriggers(this.deps.db, page);
    const { subscriptions } = await listSubscriptions(this.deps.db, page);
    const processors = (await enabledProcessors(this.deps.db)).slice(0, SIMULATION_LIMIT);
    return {
      triggers: await Promise.all(triggers.map((t) => this.trigger(t, event))),
      subscriptions: subscriptions.map((s) => this.subscription(s, event)),
      processors: await Promise.all(processors.map((p) => this.processor(p, event))),
    };
  }

  private async processor(
    processor: EventProcessor,
    event: EventInstance,
  ): Promise<ProcessorSimulation> {
    const base = {
      processorId: processor.id,
      name: processor.name,
      eventPattern: processor.eventPattern,
      createdAt: processor.createdAt,
    };
    if (!matchesPattern(processor.eventPattern, event.pattern)) {
      return { ...base, matched: false, notMatched: 'pattern' };
    }
    const answer = await this.deps.dryRunProcessor(processor, event);
    const verdict = { ...base, ...answer, matched: true };
    if (!answer.derivedEvent) return verdict;
    const refused = answer.action === 'failed';
    return {
      ...verdict,
      derivedEventCheck: { valid: !refused, details: refused ? (answer.errorDetails ?? []) : [] },
    };
  }

  private async trigger(
    trigger: WorkflowEventTrigger,
    event: EventInstance,
  ): Promise<TriggerSimulation> {
    const base = {
      triggerId: trigger.id,
      name: trigger.name,
      eventPattern: trigger.eventPattern,
      enabled: trigger.enabled,
      createdAt: trigger.createdAt,
    };
    if (!matchesPattern(trigger.eventPattern, event.pattern)) {
      return { ...base, matched: false, notMatched: 'pattern' };
    }
    const record = this.deps.dryRun(trigger, event);
    const verdict = { ...base, ...record, matched: trigger.enabled };
    if (!trigger.enabled) return { ...verdict, notMatched: 'disabled' };
    if (record.action === 'would_start') {
      const details = await this.deps.workflows
        .inputProblems(trigger.workflowDefinitionId, record.mappedInput)
        .catch((error: Error) => [fieldProblem(error)]);
      return { ...verdict, inputSchema: { valid: details.length === 0, details } };
    }
    if (record.action === 'would_cancel' && record.correlationKey !== null) {
      const ids = await this.deps.workflows.runningInstances(
        trigger.workflowDefinitionId,
        record.correlationKey,
      );
      return { ...verdict, workflowInstanceIds: ids };
    }
    return verdict;
  }

  private subscription(s: StoredSubscription, event: EventInstance): SubscriptionSimulation {
    const base = {
      subscriptionId: s.id,
      name: s.name,
      eventPattern: s.eventPattern,
      status: s.status,
      createdAt: s.createdAt.toISOString(),
    };
    if (!matchesPattern(s.eventPattern, event.pattern)) {
      return { ...base, matched: false, notMatched: 'pattern', action: 'none' };
    }
    if (s.status === 'disabled') {
      return { ...base, matched: false, notMatched: 'disabled', action: 'none' };
    }
    const filter = s.filterExpression ? compileCondition(s.filterExpression).evaluate(event) : null;
    const filterResult = filter === null ? undefined : 'result' in filter ? filter.result : null;
    const filtered = {
      ...(filterResult === undefined ? {} : { filterResult }),
      ...(filter && 'error' in filter ? { filterError: filter.error } : {}),
    };
    const now = this.deps.clock.now();
    const held =
      s.status === 'paused'
        ? ('paused' as const)
        : createCircuitBreaker(s.circuitBreaker).canAttempt(s.circuitState, now.getTime()).allowed
          ? undefined
          : ('circuit_open' as const);
    const verdict = { ...base, ...filtered, matched: held === undefined };
    if (filterResult === false || filterResult === null) {
      return { ...verdict, ...(held ? { notMatched: held } : {}), action: 'filtered' };
    }
    const action = held ? 'held' : 'would_deliver';
    return {
      ...verdict,
      ...(held ? { notMatched: held } : {}),
      action,
      ...this.outgoing(s, event),
    };
  }

  /** The request or message the sender would be handed, built by the delivery's own code. */
  private outgoing(
    s: StoredSubscription,
    event: EventInstance,
  ): Pick<SubscriptionSimulation, 'request' | 'message' | 'error'> {
    const now = this.deps.clock.now();
    const request: DeliveryRequest = deliveryRequestOf(
      this.deps.subscriptions,
      s,
      encodeEvent(event, s.format),
      { id: 'simulated', replay: false },
      { now, timeoutMs: DEFAULT_WEBHOOK_TIMEOUT_MS },
    );
    if (s.subscriberType === 'queue') {
      return {
        message: { subject: s.endpoint, headers: queueHeaders(request), body: request.body },
      };
    }
    try {
      const headers = webhookHeaders(request, now, (secret) => createSecretKey(secretKey(secret)));
      return {
        request: {
          method: 'POST',
          url: s.endpoint,
          headers: redacted(headers),
          body: request.body,
        },
      };
    } catch (error) {
      return { error: (error as Error).message };
    }
  }
}

function redacted(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).map(([name, value]) => {
      if (!SECRET_HEADERS.has(name)) return [name, value];
      // Keep the scheme or version ("v1,", "Bearer "), hide what proves the secret.
      const shown = value
        .split(' ')
        .map((part) => part.replace(/^(v1,).*$/, `$1${REDACTED}`))
        .join(' ');
      return [name, name === 'webhook-signature' ? shown : REDACTED];
    }),
  );
}

const fieldProblem = (error: Error): ErrorDetail => ({
  field: 'workflowDefinitionId',
  code: 'unavailable',
  message: error.message,
});
