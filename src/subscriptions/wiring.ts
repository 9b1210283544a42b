import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import type { Clock } from '../clock.ts';
import type { Database } from '../db/database.ts';
import {
  type CredentialCipher,
  createCredentialCipher,
  resolveEncryptionKey,
} from '../delivery/credentials.ts';
import type { EgressOptions } from '../delivery/egress.ts';
import { createNatsPublisher, type NatsPublisher } from '../delivery/nats.ts';
import { startWebhookThreads } from '../delivery/sender-threads.ts';
import { createQueueSender, createWebhookSender, type Sender } from '../delivery/senders.ts';
import { ConfigError } from '../errors.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Tracing } from '../observability/tracing.ts';
import type { RoutingIndex } from '../routing/routing-index.ts';
import { DeliveryHandler } from './delivery-handler.ts';
import { Subscriptions } from './service.ts';
import type { StoredSubscription } from './subscription.ts';
import type { SubscriptionTargets } from './targets.ts';

/** The settings {@link wireDelivery} reads; src/config.ts reads and documents them. */
export interface DeliveryConfig {
  databaseUrl: string | undefined;
  dataDir: string;
  delivery: {
    encryptionKey: Buffer | undefined;
    natsUrl: string;
    timeoutMs: number;
    disableAfterMs: number;
    threads: number;
  };
  /** The webhook threads bound attempts in flight to the workers' `concurrency`. */
  routing: { concurrency: number };
}

/**
 * NATS is connected on the first queue delivery, not at start: a service without queue
 * subscribers never needs the server, and a failed connection is a failed (retried) attempt.
 */
function lazyNatsPublisher(url: string): Pick<NatsPublisher, 'publish' | 'close'> {
  let connecting: Promise<NatsPublisher> | undefined;
  return {
    async publish(...args) {
      connecting ??= createNatsPublisher(url).catch((error: unknown) => {
        connecting = undefined;
        throw error;
      });
      return (await connecting).publish(...args);
    },
    async close() {
      await (await connecting?.catch(() => undefined))?.close();
    },
  };
}

/**
 * Webhooks are sent from `DELIVERY_THREADS` worker threads, each through a dispatcher of its own
 * made from the same egress policy; with 0 threads, from this loop through `dispatcher`.
 */
function webhookSender(
  config: DeliveryConfig,
  clock: Clock,
  logger: Logger,
  egress: EgressOptions,
  dispatcher: Dispatcher,
): { send: Sender; close(): Promise<void> } {
  if (config.delivery.threads === 0)
    return { send: createWebhookSender({ dispatcher, clock }), close: async () => {} };
  return startWebhookThreads({
    threads: config.delivery.threads,
    inFlight: config.routing.concurrency,
    egress: { allowlist: egress.allowlist },
    clock,
    logger,
  });
}

export interface DeliveryWiring {
  subscriptions: Subscriptions;
  /** Seals the secrets of outgoing calls (also those of waits' notifications). */
  cipher: CredentialCipher;
  handler: DeliveryHandler;
  close(): Promise<void>;
}

export async function wireDelivery(deps: {
  config: DeliveryConfig;
  db: Database;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  tracing: Tracing;
  index: RoutingIndex;
  targets: SubscriptionTargets;
  /** The egress policy endpoints are checked against when written. */
  egress: EgressOptions;
  /** The egress-guarded connection pool webhooks go through; owned and closed by the caller. */
  dispatcher: Dispatcher;
  announceDisabled(subscription: StoredSubscription, reason: string): Promise<void>;
}): Promise<DeliveryWiring> {
  const { config, db, clock } = deps;
  const key = await resolveEncryptionKey({
    configuredKey: config.delivery.encryptionKey,
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
  }).catch((error: unknown) => {
    throw new ConfigError((error as Error).message);
  });
  const { egress, dispatcher } = deps;
  const cipher = createCredentialCipher(key);
  const subscriptions = new Subscriptions({ db, clock, cipher, egress });
  const nats = lazyNatsPublisher(config.delivery.natsUrl);
  const webhooks = webhookSender(config, clock, deps.logger, egress, dispatcher);
  const handler = new DeliveryHandler({
    db,
    clock,
    index: deps.index,
    targets: deps.targets,
    subscriptions,
    senders: {
      webhook: webhooks.send,
      queue: createQueueSender({ publisher: nats }),
    },
    metrics: deps.metrics,
    tracing: deps.tracing,
    logger: deps.logger,
    announceDisabled: deps.announceDisabled,
    options: {
      timeoutMs: config.delivery.timeoutMs,
      disableAfterMs: config.delivery.disableAfterMs,
      pausedRecheckMs: 10_000,
    },
  });
  return {
    subscriptions,
    cipher,
    handler,
    async close() {
      await nats.close();
      await webhooks.close();
    },
  };
}
