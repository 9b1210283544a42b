import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import type { Clock } from '../clock.ts';
import type { Database } from '../db/database.ts';
import type { CredentialCipher } from '../delivery/credentials.ts';
import type { EgressOptions } from '../delivery/egress.ts';
import { createWebhookSender } from '../delivery/senders.ts';
import { runPeriodically } from '../periodic.ts';
import { type ResumeDeps, ResumeHandler } from './resume.ts';
import { Waits, type WaitsDeps } from './service.ts';

export interface WaitWiring {
  waits: Waits;
  /** Sends resolved waits' notifications (the routing engine's `resume` kind). */
  handler: ResumeHandler;
  /** Starts the periodic resolver (resolutions and timeouts). */
  start(): void;
  /** Stops it; a round in flight finishes first. */
  close(): Promise<void>;
}

/** Waits for events: registration, the periodic resolver, and the notifications it queues. */
export function wireWaits(deps: {
  db: Database;
  clock: Clock;
  logger: Logger;
  /** The egress policy a notify URL is checked against when written. */
  egress: EgressOptions;
  /** The egress-guarded connection pool notifications go through; owned by the caller. */
  dispatcher: Dispatcher;
  /** Seals notify URLs' signing secrets (the delivery's cipher). */
  cipher: CredentialCipher;
  /** The workflows a wait may notify, and their engines. */
  workflows: Pick<WaitsDeps, 'definitionOfInstance' | 'executorOf'> & Pick<ResumeDeps, 'engineOf'>;
  engineSigningSecret: ResumeDeps['engineSigningSecret'];
  maxLookbackMs: number | undefined;
  lookbackMaxEvents: WaitsDeps['lookbackMaxEvents'];
  /** How often the resolver runs (WAITS_POLL_INTERVAL_MS). */
  pollIntervalMs: number;
}): WaitWiring {
  const { db, clock, cipher, workflows } = deps;
  const waits = new Waits({
    db,
    clock,
    egress: deps.egress,
    cipher,
    definitionOfInstance: (id) => workflows.definitionOfInstance(id),
    executorOf: (id) => workflows.executorOf(id),
    maxLookbackMs: deps.maxLookbackMs,
    lookbackMaxEvents: deps.lookbackMaxEvents,
  });
  let resolver: ReturnType<typeof runPeriodically> | undefined;
  return {
    waits,
    handler: new ResumeHandler({
      db,
      cipher,
      sender: createWebhookSender({ dispatcher: deps.dispatcher, clock }),
      engineOf: (id) => workflows.engineOf(id),
      engineSigningSecret: deps.engineSigningSecret,
    }),
    start() {
      resolver = runPeriodically(
        'wait resolver',
        deps.pollIntervalMs,
        () => waits.resolveRounds(),
        deps.logger,
      );
    },
    async close() {
      await resolver?.stop();
    },
  };
}
