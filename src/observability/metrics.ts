import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Database } from '../db/database.ts';
import { tableRowEstimates } from '../db/table-stats.ts';

export interface MetricsOptions {
  /** Used for the pool gauge when the backend reports pool statistics. */
  db?: Database;
  /**
   * Most distinct event patterns (and, separately, source types) given their own label value;
   * later ones are counted as `other`, so label cardinality stays bounded whatever publishers do.
   * Default 200.
   */
  maxPatterns?: number;
  /**
   * Most distinct subscriptions given their own `subscription_id` label on the delivery metrics
   * and the dead-letter gauge; later ones are counted as `other`. Default 200.
   */
  maxSubscriptions?: number;
  /**
   * Dead letters (delivery work whose attempts ran out) per subscription id, read at scrape time
   * for `eps_dead_letters`; the gauge is absent without it.
   */
  deadLetterCounts?: () => Promise<ReadonlyMap<string, number>>;
  /** Also collect Node's process metrics (CPU, memory, event loop lag). Default true. */
  processMetrics?: boolean;
}

/** The label value `other`: values past a label's cap, and values outside a closed set. */
export const OTHER = 'other';

/** Keeps the first `max` distinct values of a label; later ones map to `other`. */
class BoundedLabel {
  private readonly seen = new Set<string>();
  constructor(private readonly max: number) {}

  of(value: string): string {
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.max) return OTHER;
    this.seen.add(value);
    return value;
  }
}

const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const TRIGGER_ACTIONS = new Set(['START', 'CANCEL']);
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The service's Prometheus metrics on a registry of their own (no global registry), with the
 * methods the capabilities call. Every label is bounded: patterns, source types and subscription
 * ids are capped, HTTP routes are templates (never raw URLs), methods and trigger actions are
 * closed sets.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly patterns: BoundedLabel;
  private readonly sourceTypes: BoundedLabel;
  private readonly received: Counter<'pattern' | 'source_type'>;
  private readonly published: Counter<'pattern'>;
  private readonly subscriptions: BoundedLabel;
  private readonly deliveriesSucceeded: Counter<'subscription_id'>;
  private readonly deliveriesFailed: Counter<'subscription_id'>;
  private readonly deliveryDuration: Histogram<'subscription_id'>;
  private readonly processing: Histogram;
  private readonly activeSubscriptions: Gauge;
  private readonly triggerFirings: Counter<'action'>;
  private readonly processorFirings: Counter<'outcome'>;
  private readonly queueDepth: Gauge;
  private readonly routingLag: Gauge;
  private readonly httpDuration: Histogram<'method' | 'route' | 'status_code'>;

  constructor(options: MetricsOptions = {}) {
    const registers = [this.registry];
    this.patterns = new BoundedLabel(options.maxPatterns ?? 200);
    this.sourceTypes = new BoundedLabel(options.maxPatterns ?? 200);
    this.subscriptions = new BoundedLabel(options.maxSubscriptions ?? 200);
    this.received = new Counter({
      name: 'eps_events_received_total',
      help: 'Events accepted by the receiver',
      labelNames: ['pattern', 'source_type'],
      registers,
    });
    this.published = new Counter({
      name: 'eps_events_published_total',
      help: 'Events routed to their triggers and subscribers',
      labelNames: ['pattern'],
      registers,
    });
    this.deliveriesSucceeded = new Counter({
      name: 'eps_deliveries_succeeded_total',
      help: 'Deliveries to subscribers that succeeded, by subscription',
      labelNames: ['subscription_id'],
      registers,
    });
    this.deliveriesFailed = new Counter({
      name: 'eps_deliveries_failed_total',
      help: 'Delivery attempts to subscribers that failed (retried, refused or gone), by subscription',
      labelNames: ['subscription_id'],
      registers,
    });
    this.deliveryDuration = new Histogram({
      name: 'eps_delivery_duration_seconds',
      help: "Delivery attempt latency (to the receiver's response or JetStream's acknowledgement), by subscription",
      labelNames: ['subscription_id'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.processing = new Histogram({
      name: 'eps_event_processing_seconds',
      help: 'Time from receiving an event to having routed it',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.activeSubscriptions = new Gauge({
      name: 'eps_active_subscriptions',
      help: 'Subscriptions currently active',
      registers,
    });
    this.triggerFirings = new Counter({
      name: 'eps_workflow_trigger_firings_total',
      help: 'Workflow triggers fired, by action (START, CANCEL)',
      labelNames: ['action'],
      registers,
    });
    this.processorFirings = new Counter({
      name: 'eps_event_processor_firings_total',
      help: 'Event processor firings, by outcome (derived: its event was stored; failed: refused output or too deep a chain)',
      labelNames: ['outcome'],
      registers,
    });
    this.queueDepth = new Gauge({
      name: 'eps_ingest_queue_depth',
      help: 'Events accepted and waiting in the ingest queue',
      registers,
    });
    this.routingLag = new Gauge({
      name: 'eps_routing_lag_seconds',
      help: 'Age of the oldest stored event not yet routed (0 when none waits)',
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'eps_http_request_duration_seconds',
      help: 'HTTP request latency by method, route template and status code',
      labelNames: ['method', 'route', 'status_code'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    const db = options.db;
    if (db?.stats) {
      new Gauge({
        name: 'eps_db_pool_connections',
        help: 'Database pool connections: total open, idle, and requests waiting for one',
        labelNames: ['state'],
        registers,
        collect() {
          const stats = db.stats?.();
          if (!stats) return;
          this.set({ state: 'total' }, stats.total);
          this.set({ state: 'idle' }, stats.idle);
          this.set({ state: 'waiting' }, stats.waiting);
        },
      });
    }
    if (db) {
      new Gauge({
        name: 'eps_table_rows',
        help: "Estimated rows per growing table (PostgreSQL's reltuples; exact before the first ANALYZE)",
        labelNames: ['table'],
        registers,
        // Read at scrape time: the catalog read costs nothing. While the database is away the
        // last values stay, rather than failing the whole scrape.
        async collect() {
          const estimates = await tableRowEstimates(db).catch(() => ({}));
          for (const [table, rows] of Object.entries(estimates)) this.set({ table }, rows);
        },
      });
    }
    const { deadLetterCounts } = options;
    const subscriptions = this.subscriptions;
    if (deadLetterCounts) {
      new Gauge({
        name: 'eps_dead_letters',
        help: 'Dead letters (deliveries whose attempts ran out) waiting, by subscription',
        labelNames: ['subscription_id'],
        registers,
        // Read at scrape time from the store, so every instance reports the same figure and a
        // redelivered or expired dead letter leaves the gauge. While the database is away the
        // last values stay, rather than failing the whole scrape.
        async collect() {
          const counts = await deadLetterCounts().catch(() => undefined);
          if (!counts) return;
          const byLabel = new Map<string, number>();
          for (const [id, count] of counts) {
            const label = subscriptions.of(id);
            byLabel.set(label, (byLabel.get(label) ?? 0) + count);
          }
          this.reset();
          for (const [subscriptionId, count] of byLabel)
            this.set({ subscription_id: subscriptionId }, count);
        },
      });
    }
    if (options.processMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry });
    }
  }

  /** An event was accepted by the receiver. */
  eventReceived(pattern: string, sourceType: string): void {
    this.received.inc({
      pattern: this.patterns.of(pattern),
      source_type: this.sourceTypes.of(sourceType),
    });
  }

  /** An event was routed (published to its triggers and subscribers). */
  eventPublished(pattern: string): void {
    this.published.inc({ pattern: this.patterns.of(pattern) });
  }

  /** One delivery attempt to a subscription and how long it took, in seconds. */
  deliveryAttempted(subscriptionId: string, delivered: boolean, seconds: number): void {
    const labels = { subscription_id: this.subscriptions.of(subscriptionId) };
    (delivered ? this.deliveriesSucceeded : this.deliveriesFailed).inc(labels);
    this.deliveryDuration.observe(labels, seconds);
  }

  /** Time from receiving an event to having routed it, in seconds. */
  observeEventProcessing(seconds: number): void {
    this.processing.observe(seconds);
  }

  setActiveSubscriptions(count: number): void {
    this.activeSubscriptions.set(count);
  }

  /** A workflow trigger fired; `action` is the trigger type (START or CANCEL). */
  workflowTriggerFired(action: string): void {
    this.triggerFirings.inc({ action: TRIGGER_ACTIONS.has(action) ? action : OTHER });
  }

  /**
   * An event processor fired: `derived` when its derived event was stored (a retry finding it
   * stored already is not counted again), `failed` for an attempt whose output was refused or
   * whose chain was too deep.
   */
  eventProcessorFired(outcome: 'derived' | 'failed'): void {
    this.processorFirings.inc({ outcome });
  }

  setQueueDepth(depth: number): void {
    this.queueDepth.set(depth);
  }

  /** Age of the oldest unrouted event in seconds (0 when nothing waits). */
  setRoutingLag(seconds: number): void {
    this.routingLag.set(seconds);
  }

  /** One HTTP request; `route` must be the route template, never the raw URL. */
  observeHttpRequest(method: string, route: string, statusCode: number, seconds: number): void {
    this.httpDuration.observe(
      {
        method: HTTP_METHODS.has(method) ? method : OTHER,
        route,
        status_code: String(statusCode),
      },
      seconds,
    );
  }

  /** The Prometheus text exposition of every metric. */
  exposition(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
