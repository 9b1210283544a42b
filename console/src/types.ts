/**
 * Answers the OpenAPI document does not describe yet (their routes declare no 2xx schema), as
 * the service sends them. Everything else comes typed from the generated client.
 */

export interface StoredEvent {
  eventId: string;
  pattern: string;
  version: string;
  source?: { type: string; id: string; name?: string };
  timestamp: string;
  payload: Record<string, unknown>;
  metadata: {
    correlationId?: string;
    causationId?: string;
    traceId?: string;
    userId?: string;
    tags?: Record<string, string>;
    context?: Record<string, unknown>;
  };
}

export interface EventPage {
  events: StoredEvent[];
  pagination: { total: number; totalExact?: boolean; hasMore: boolean; nextCursor?: string };
}

export interface TraceNode extends StoredEvent {
  children: TraceNode[];
}

export interface Trace {
  correlationId: string;
  truncated: boolean;
  events: TraceNode[];
}

export interface Firing {
  id: string;
  triggerId: string;
  triggerType: string;
  action?: string;
  status: 'pending' | 'done' | 'dead' | string;
  attempts: number;
  maxAttempts: number;
  conditionResult?: boolean;
  correlationKey?: string | null;
  mappedInput?: unknown;
  workflowInstanceIds?: string[];
  workflowDefinitionId?: string;
  /** Why nothing happened (`condition is false`, …). */
  reason?: string;
  /** The last attempt's error (the firing view's `last_error ?? outcome.error`). */
  error?: string;
  replay: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface DeliveryAttempt {
  id: string;
  delivery_id: string;
  subscription_id: string;
  event_id: string;
  attempt: number;
  outcome: string;
  status_code: number | null;
  latency_ms: number | null;
  /** For a non-2xx answer, its status and the start of its body (the receiver's own words). */
  error: string | null;
  replay: boolean;
  next_attempt_at: string | null;
  created_at: string;
}

export interface Subscription {
  subscription_id: string;
  name: string | null;
  event_pattern: string;
  format: string;
  subscriber: { id: string; type: string; endpoint: string };
  circuit_breaker: {
    failure_threshold: number;
    state: 'closed' | 'open' | 'half_open' | string;
    consecutive_failures: number;
    opened_at: string | null;
  };
  status: 'active' | 'paused' | 'disabled' | string;
  disabled_reason: string | null;
  failing_since: string | null;
  description: string | null;
  created_at: string;
}

export interface DeadLetter {
  id: string;
  subscription_id: string;
  event_id: string;
  attempts: number;
  error: string | null;
  replay: boolean;
  dead_since: string;
}

export interface TriggerTestResult {
  conditionResult: boolean;
  correlationKey: string | null;
  mappedInput: unknown;
  action: string;
  event: StoredEvent;
}

/** Who still publishes a deprecated version (GET /v1/event-definitions/{ref}/producers). */
export interface Producer {
  version: string;
  source_type: string;
  source_id: string;
  count: number;
  last_seen_at: string;
}
