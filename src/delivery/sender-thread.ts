import { parentPort, workerData } from 'node:worker_threads';
import type { Clock } from '../clock.ts';
import { createEgressDispatcher } from './egress.ts';
import type { FromThread, SenderThreadData, ToThread } from './sender-threads.ts';
import { createWebhookSender } from './senders.ts';

/**
 * The body of one webhook sender thread (see sender-threads.ts): the production webhook sender
 * behind an egress-guarded dispatcher of the thread's own, built from the same egress policy as
 * the app's, so every connection a thread opens is checked as the main thread's are.
 *
 * The thread's clock is the main thread's clock as last heard: every batch carries the main
 * clock's time, and the thread keeps the difference to its own wall clock. A test clock thus
 * still stamps `webhook-timestamp` and reads `Retry-After` dates.
 */
function serve(port: NonNullable<typeof parentPort>, data: SenderThreadData): void {
  let offsetMs = 0;
  const clock: Clock = { now: () => new Date(Date.now() + offsetMs) };
  const dispatcher = createEgressDispatcher(data.egress);
  const send = createWebhookSender({ dispatcher, clock });
  // Outcomes that arrive in one turn of the loop go back in one message.
  let outcomes: Extract<FromThread, { type: 'outcomes' }>['outcomes'] = [];
  const flush = () => {
    port.postMessage({ type: 'outcomes', outcomes } satisfies FromThread);
    outcomes = [];
  };
  // Attempts handed over and not started, oldest first: up to 64 per slot (sender-threads.ts).
  const queued: ToThread['requests'] = [];
  let active = 0;
  const startQueued = () => {
    while (active < data.inFlight) {
      const attempt = queued.shift();
      if (!attempt) return;
      const [id, request] = attempt;
      active++;
      void send(request).then((outcome) => {
        active--;
        if (outcomes.length === 0) setImmediate(flush);
        outcomes.push([id, outcome]);
        startQueued();
      });
    }
  };
  port.on('message', (message: ToThread) => {
    offsetMs = message.nowMs - Date.now();
    for (const attempt of message.requests) queued.push(attempt);
    startQueued();
  });
  port.postMessage({ type: 'ready' } satisfies FromThread);
}

const data = workerData as Partial<SenderThreadData> | null;
if (parentPort && data?.role === 'webhook-sender') serve(parentPort, data as SenderThreadData);
