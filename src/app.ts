import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import { installAccessControl, type RouteAccess } from './auth/access.ts';
import { ApiKeys } from './auth/api-keys.ts';
import { OAuthVerifier } from './auth/oauth.ts';
import { RateLimiter } from './auth/rate-limit.ts';
import { RateLimitStore } from './auth/rate-limit-store.ts';
import { registerApiKeyRoutes, registerIdentityRoute } from './auth/routes.ts';
import type { Clock } from './clock.ts';
import type { Config } from './config.ts';
import { registerConsoleRoutes } from './console/routes.ts';
import type { Database } from './db/database.ts';
import type { Migration } from './db/migrate.ts';
import { refreshRowEstimates } from './db/table-stats.ts';
import { createEgressDispatcher } from './delivery/egress.ts';
import { registerHealthRoutes } from './http/health.ts';
import { createServer } from './http/server.ts';
import { EventReceiver } from './ingest/receiver.ts';
import { registerIngestRoutes } from './ingest/routes.ts';
import { EventWriter } from './ingest/writer.ts';
import { Metrics } from './observability/metrics.ts';
import { registerMetricsRoutes } from './observability/routes.ts';
import { Tracing } from './observability/tracing.ts';
import { runPeriodically } from './periodic.ts';
import { processorConsumersOf } from './processors/consumers.ts';
import { registerProcessorRoutes } from './processors/routes.ts';
import { ProcessorTargets } from './processors/targets.ts';
import { wireProcessors } from './processors/wiring.ts';
import { DefinitionResolver } from './registry/resolver.ts';
import { registerRegistryRoutes } from './registry/routes.ts';
import { Registry } from './registry/service.ts';
import { ValidatorCache } from './registry/validator-cache.ts';
import { applyRetention, type RetentionReport } from './retention/retention.ts';
import { FlowRates } from './routing/flow-rates.ts';
import { registerFlowRatesRoute } from './routing/flow-routes.ts';
import { RoutingIndex } from './routing/routing-index.ts';
import { wireRouting } from './routing/wiring.ts';
import { deadWorkCounts } from './routing/work-store.ts';
import type { WorkerPool } from './routing/workers.ts';
import { SchemaCompiler } from './schema/compiler.ts';
import { wireSimulation } from './simulation/wiring.ts';
import { EventStore } from './store/event-store.ts';
import { maintainPartitions } from './store/partitions.ts';
import { registerStoreRoutes } from './store/routes.ts';
import { EventStreams } from './stream/hub.ts';
import { registerStreamRoutes } from './stream/routes.ts';
import { subscriptionConsumersOf } from './subscriptions/consumers.ts';
import { countActiveSubscriptions } from './subscriptions/repository.ts';
import { registerSubscriptionRoutes } from './subscriptions/routes.ts';
import { announceDisabled } from './subscriptions/system-events.ts';
import { SubscriptionTargets } from './subscriptions/targets.ts';
import { wireDelivery } from './subscriptions/wiring.ts';
import { triggerConsumersOf } from './triggers/consumers.ts';
import { registerTriggerRoutes } from './triggers/routes.ts';
import { TriggerTargets } from './triggers/targets.ts';
import { wireTriggers } from './triggers/wiring.ts';
import { registerWaitRoutes } from './waits/routes.ts';
import type { Waits } from './waits/service.ts';
import { wireWaits } from './waits/wiring.ts';
import type { WorkflowDefinitions } from './workflows/definitions.ts';
import { registerWorkflowRoutes } from './workflows/routes.ts';
import type { WorkflowService } from './workflows/service.ts';
import { wireWorkflows } from './workflows/wiring.ts';

/** The first retention pass after a start waits this long (start-up stays quick). */
const RETENTION_AFTER_START_MS = 60_000;

/** What the service is built from; everything is passed in, nothing is global. */
export interface AppDeps {
  config: Config;
  db: Database;
  clock: Clock;
  logger: Logger;
  migrations: Migration[];
  /** Tracing of one's own (tests: an in-memory exporter); default: built from `config`. */
  tracing?: Tracing;
}

export interface App {
  server: FastifyInstance;
  registry: Registry;
  validators: ValidatorCache;
  writer: EventWriter;
  /** The workflow service port (start, cancel by correlation) the routing engine calls. */
  workflows: WorkflowService;
  /** Workflow definitions, e.g. to check that a trigger's workflowDefinitionId exists. */
  workflowDefinitions: WorkflowDefinitions;
  workers: WorkerPool;
  /** Waits for events; `resolveRound` is what the periodic resolver runs. */
  waits: Waits;
  apiKeys: ApiKeys;
  rateLimiter: RateLimiter;
  /** The Prometheus metrics; capabilities report through its methods. */
  metrics: Metrics;
  /** The tracer and trace-context propagation; parent spans on `request.traceContext`. */
  tracing: Tracing;
  /** Every registered route with its access rule. */
  routes: RouteAccess[];
  /** Compiles every route schema in the background (see `Server.compileRouteSchemas`). */
  compileRouteSchemas(): Promise<{ schemas: number; longestMs: number }>;
  /** One partition maintenance pass (also run periodically once started). */
  maintainPartitions(): Promise<{ created: string[]; dropped: string[] }>;
  /** One retention pass (see src/retention/retention.ts); also run after each partition maintenance. */
  applyRetention(): Promise<RetentionReport>;
  /**
   * Starts background work: storage maintenance and routing workers. Resolves after the first
   * maintenance pass, which makes the event partitions only (retention and estimates run in the
   * next pass, at most a minute later).
   */
  start(): Promise<void>;
  /** Stops background work, lets queued events commit, closes the HTTP server. */
  close(): Promise<void>;
}

/** Wires the capabilities onto one HTTP server over a migrated database. */
export async function createApp(deps: AppDeps): Promise<App> {
  const { config, db, clock, logger } = deps;
  const metrics = new Metrics({
    db,
    maxPatterns: config.metricsMaxPatterns,
    maxSubscriptions: config.metricsMaxSubscriptions,
    deadLetterCounts: () => deadWorkCounts(db, 'delivery'),
  });
  const flowRates = new FlowRates();
  const tracing =
    deps.tracing ??
    new Tracing({ serviceName: config.serviceName, otlpEndpoint: config.otlpEndpoint });
  const apiKeys = new ApiKeys({ db, clock, cacheSeconds: config.apiKeyCacheSeconds });
  const rateLimiter = new RateLimiter({
    store: new RateLimitStore(db),
    clock,
    limits: config.rateLimitsPerMinute,
  });
  const oauth = oauthVerifier(config, clock);
  const { server, routes, compileRouteSchemas } = await createServer({
    logger,
    bodyLimitBytes: config.bodyLimitBytes,
    bodyMaxDepth: config.bodyMaxDepth,
    metrics,
    tracing,
    installAccessControl: (app) =>
      installAccessControl(app, {
        apiKeys,
        rateLimiter,
        clock,
        authEnabled: config.authEnabled,
        oauth: oauth?.verifier,
      }),
  });
  const compiler = new SchemaCompiler();
  const validators = new ValidatorCache(compiler);
  const resolver = new DefinitionResolver(db, validators, clock, {
    ttlMs: config.definitionCacheTtlMs,
  });
  const registry = new Registry({
    db,
    clock,
    compiler,
    validators,
    consumers: [triggerConsumersOf, subscriptionConsumersOf, processorConsumersOf],
    onChange: (pattern) => resolver.invalidate(pattern),
  });
  // The one egress guard: every outgoing HTTP call (webhooks, the http workflow executor) is
  // checked against the same policy when its URL is written and connects through this pool.
  const egress = { allowlist: config.delivery.egressAllowlist };
  const outbound = createEgressDispatcher(egress);
  const workflows = wireWorkflows({
    db,
    clock,
    compiler,
    egress,
    dispatcher: outbound,
    tracing,
    definitionCacheTtlMs: config.definitionCacheTtlMs,
  });
  const triggerTargets = new TriggerTargets(logger, config.mappedInputMaxBytes);
  const subscriptionTargets = new SubscriptionTargets(logger);
  const processorTargets = new ProcessorTargets(logger, config.mappedInputMaxBytes);
  const routingIndex = new RoutingIndex([triggerTargets, subscriptionTargets, processorTargets]);
  const processors = wireProcessors({
    db,
    clock,
    index: routingIndex,
    targets: processorTargets,
    // Derived events are published through the receiver (built below, after the routing its
    // writer hands events to), as announceDisabled publishes.
    receiver: {
      receive: (input, receivedIn) => receiver.receive(input, receivedIn),
      validate: (input) => receiver.validate(input, undefined),
    },
    payloadMaxBytes: config.mappedInputMaxBytes,
    maxDepth: config.processorMaxDepth,
    fired: (outcome) => metrics.eventProcessorFired(outcome),
  });
  const delivery = await wireDelivery({
    config,
    db,
    clock,
    logger,
    metrics,
    tracing,
    index: routingIndex,
    targets: subscriptionTargets,
    egress,
    dispatcher: outbound,
    announceDisabled: (subscription, reason) =>
      announceDisabled(registry, receiver, subscription, reason, clock.now()),
  });
  // The event retention bounds a wait's lookback (none: unbounded).
  const maxLookbackMs =
    config.partitions.retentionDays === undefined
      ? undefined
      : config.partitions.retentionDays * 86_400_000;
  const waits = wireWaits({
    db,
    clock,
    logger,
    egress,
    dispatcher: outbound,
    cipher: delivery.cipher,
    workflows,
    engineSigningSecret: config.workflowEngineSigningSecret,
    maxLookbackMs,
    lookbackMaxEvents: config.waitsLookbackMaxEvents,
    pollIntervalMs: config.waitsPollIntervalMs,
  });
  const triggers = wireTriggers({
    db,
    clock,
    index: routingIndex,
    targets: triggerTargets,
    workflows: workflows.service,
    mappedInputMaxBytes: config.mappedInputMaxBytes,
    waits: waits.waits,
    maxLookbackMs,
    fired: (type) => metrics.workflowTriggerFired(type),
  });
  const routing = wireRouting({
    db,
    clock,
    logger,
    tracing,
    metrics,
    options: config.routing,
    index: routingIndex,
    handlers: [triggers.handler, delivery.handler, processors.handler, waits.handler],
    onCompletion(work, completion, now, counts) {
      // A deferred claim (uncount) was no attempt.
      if (!work.event || completion.uncount) return;
      flowRates.record(
        { kind: work.kind, pattern: work.event.pattern, targetId: work.targetId },
        { failed: completion.status !== 'done' || counts.failed, fired: counts.fired },
        now,
      );
    },
  });
  const streams = new EventStreams(db, config.stream, logger);
  const writer = new EventWriter(db, clock, config.ingest.queue, logger, routing.handOff, {
    committed(events, routed) {
      for (const { instance } of events)
        metrics.eventReceived(instance.pattern, instance.source?.type ?? 'none');
      for (const { instance } of routed) metrics.eventPublished(instance.pattern);
      streams.nudge();
    },
    depthChanged: (depth) => metrics.setQueueDepth(depth),
  });
  const receiver = new EventReceiver(resolver, writer, clock, {
    limits: config.ingest.limits,
    partitionInterval: config.partitions.interval,
  });
  registerHealthRoutes(server, db, deps.migrations);
  registerConsoleRoutes(server);
  registerMetricsRoutes(server, metrics);
  registerFlowRatesRoute(server, flowRates, clock);
  registerApiKeyRoutes(server, apiKeys);
  registerIdentityRoute(server, config.authEnabled);
  registerRegistryRoutes(server, registry);
  registerIngestRoutes(server, receiver, config.ingest, tracing);
  const events = new EventStore(db, config.eventsPageMaxBytes);
  registerStoreRoutes(server, events);
  registerStreamRoutes(server, streams);
  registerTriggerRoutes(server, {
    triggers: triggers.triggers,
    workflowDefinitions: workflows.definitions,
    routing: triggers.routing,
    registry,
    receiver,
    events,
    clock,
  });
  registerSubscriptionRoutes(server, { db, clock, subscriptions: delivery.subscriptions, events });
  registerWaitRoutes(server, waits.waits);
  registerProcessorRoutes(server, {
    processors: processors.processors,
    routing: processors.routing,
    registry,
    receiver,
    clock,
  });
  registerWorkflowRoutes(
    server,
    workflows.definitions,
    workflows.instances,
    async (instanceId) =>
      (await waits.waits.list({ workflowInstanceId: instanceId, limit: 100, offset: 0 })).waits,
  );
  wireSimulation(server, {
    db,
    clock,
    workflows: workflows.service,
    subscriptions: delivery.subscriptions,
    triggers: triggers.routing,
    processors: processors.routing,
    receiver,
    registry,
    store: events,
  });
  await server.ready();
  await announceAccess(config, apiKeys, logger);
  if (tracing.exporting) logger.info({ endpoint: config.otlpEndpoint }, 'exporting spans (OTLP)');

  const maintainEvents = () => maintainPartitions(db, config.partitions, clock.now(), logger);
  const retain = () => applyRetention(db, config.retention, clock.now(), {}, logger);
  // One storage loop: event partitions, then every other table's retention, then the estimates.
  const maintain = async () => {
    await maintainEvents();
    await retain();
    await refreshRowEstimates(db);
  };
  let maintenance: ReturnType<typeof runPeriodically> | undefined;
  let subscriptionGauge: ReturnType<typeof runPeriodically> | undefined;
  return {
    server,
    registry,
    validators,
    writer,
    workflows: workflows.service,
    workflowDefinitions: workflows.definitions,
    workers: routing.workers,
    waits: waits.waits,
    apiKeys,
    rateLimiter,
    metrics,
    tracing,
    routes,
    compileRouteSchemas,
    maintainPartitions: maintainEvents,
    applyRetention: retain,
    async start() {
      maintenance = runPeriodically(
        'storage maintenance',
        config.partitions.maintenanceIntervalMs,
        maintain,
        logger,
        // The pass at start-up makes the partitions only, which events need before they are
        // accepted: retention and PGlite's ANALYZE take seconds of CPU over a large store (PGlite
        // on this very thread), and would delay every restart for work that can wait a minute.
        { task: maintainEvents, regularAfterMs: RETENTION_AFTER_START_MS },
      );
      await maintenance.firstRun();
      routing.start();
      waits.start();
      subscriptionGauge = runPeriodically(
        'active subscriptions',
        5000,
        async () => metrics.setActiveSubscriptions(await countActiveSubscriptions(db)),
        logger,
      );
    },
    async close() {
      await maintenance?.stop();
      await subscriptionGauge?.stop();
      await waits.close();
      // Streams never end by themselves: end them, or closing the server would wait for them.
      await streams.close();
      // Fastify waits for in-flight requests; those wait for their commit in the writer.
      await server.close();
      await writer.drain();
      await routing.close();
      await delivery.close();
      await outbound.close();
      await oauth?.jwksConnections?.close();
    },
  };
}

/**
 * The verifier of OAuth 2.0 bearer tokens, when OAUTH_* is configured. A JWKS URL is fetched
 * through the egress guard like every outgoing call, on a dispatcher of its own that names the
 * JWKS origin as trusted: the URL is the operator's configuration, not a user's input, and an
 * identity provider commonly sits on the private network (a Keycloak next to the service),
 * which the guard refuses for webhooks. Only that origin is trusted, and only on this
 * dispatcher, so a webhook aimed at the identity provider is still refused.
 */
function oauthVerifier(
  config: Config,
  clock: Clock,
): { verifier: OAuthVerifier; jwksConnections: Dispatcher | undefined } | undefined {
  if (!config.oauth) return undefined;
  const { keys } = config.oauth;
  const jwksConnections =
    'jwksUrl' in keys
      ? createEgressDispatcher({
          allowlist: config.delivery.egressAllowlist,
          trustedOrigins: [new URL(keys.jwksUrl).origin],
        })
      : undefined;
  return {
    verifier: new OAuthVerifier({ config: config.oauth, clock, dispatcher: jwksConnections }),
    jwksConnections,
  };
}

/** Ensures the bootstrap admin key and says in the start-up log how callers are checked. */
async function announceAccess(config: Config, apiKeys: ApiKeys, logger: Logger): Promise<void> {
  if (config.bootstrapAdminKey) {
    const outcome = await apiKeys.ensureBootstrapAdmin(config.bootstrapAdminKey);
    if (outcome === 'revoked') {
      logger.warn('BOOTSTRAP_ADMIN_KEY was revoked and stays revoked; unset or replace it');
    } else {
      logger.info({ outcome }, 'bootstrap admin key ensured');
    }
  }
  if (!config.authEnabled) {
    logger.warn(
      { auth: 'off', host: config.host },
      'authentication is OFF: every route is open, rate limits count per client address ' +
        '(allowed on a loopback HOST only; set AUTH=on to require API keys)',
    );
    return;
  }
  const keys = await apiKeys.countActive();
  logger.info({ auth: 'on', activeApiKeys: keys }, 'authentication is on: API keys required');
  if (keys === 0) {
    logger.warn(
      'no API key exists yet: set BOOTSTRAP_ADMIN_KEY or run `npm run keys -- create --scopes admin`',
    );
  }
}
