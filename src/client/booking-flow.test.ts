import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { startReceiver, type TestReceiver } from '../testing/receiver.ts';
import { createEpsClient, type EpsClient } from './index.ts';

/**
 * The booking flow driven through the client generated from /openapi.json (openapi-fetch), as a
 * user of the description would write it: every field read below is typed by the description
 * alone. The file contains no cast, no non-null assertion and no `any` (the first test checks
 * that, and that the file type-checks), so a description that leaves an answer untyped or a
 * field optional that is always sent fails here.
 */

const SOURCE = fileURLToPath(import.meta.url);

/** Casts (`x as T`, `<T>x`), non-null assertions (`x!`) and `any` in a source file, by line. */
function escapeHatches(file: ts.SourceFile): string[] {
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    const where = () => `line ${file.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
    if (ts.isAsExpression(node) && !isAsConst(node)) found.push(`${where()}: as cast`);
    if (ts.isTypeAssertionExpression(node)) found.push(`${where()}: <T> cast`);
    if (ts.isNonNullExpression(node)) found.push(`${where()}: non-null assertion`);
    if (node.kind === ts.SyntaxKind.AnyKeyword) found.push(`${where()}: any`);
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

const isAsConst = (node: ts.AsExpression) =>
  ts.isTypeReferenceNode(node.type) &&
  ts.isIdentifier(node.type.typeName) &&
  node.type.typeName.text === 'const';

/** The compiler's errors for this file, with the project's options. */
function typeErrors(): string[] {
  const configFile = ts.findConfigFile(SOURCE, ts.sys.fileExists);
  if (!configFile) return ['no tsconfig.json found'];
  const { config } = ts.readConfigFile(configFile, ts.sys.readFile);
  const { options } = ts.parseJsonConfigFileContent(
    config,
    ts.sys,
    configFile.replace(/[^/]+$/, ''),
  );
  const program = ts.createProgram([SOURCE], options);
  return ts
    .getPreEmitDiagnostics(program, program.getSourceFile(SOURCE))
    .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

describe('the booking-flow test', () => {
  it('has no cast, non-null assertion or any, and type-checks', async () => {
    const file = ts.createSourceFile(
      SOURCE,
      await readFile(SOURCE, 'utf8'),
      ts.ScriptTarget.Latest,
      true,
    );
    expect(escapeHatches(file)).toEqual([]);
    expect(typeErrors()).toEqual([]);
  }, 120_000);

  it('finds the escape hatches it forbids', () => {
    const sample = ts.createSourceFile(
      'sample.ts',
      'const a = b as string; const c = d!; let e: any; const f = [1] as const; const g = <T>h;',
      ts.ScriptTarget.Latest,
      true,
    );
    expect(escapeHatches(sample)).toEqual([
      'line 1: as cast',
      'line 1: non-null assertion',
      'line 1: any',
      'line 1: <T> cast',
    ]);
  });
});

/** The eventId of a webhook's body (the native format: the event itself). */
function eventIdOf(body: string): unknown {
  const event: unknown = JSON.parse(body);
  return typeof event === 'object' && event !== null && 'eventId' in event
    ? event.eventId
    : undefined;
}

describe.each(testBackends())('the booking flow through the typed client on $name', (backend) => {
  let service: TestApp;
  let receiver: TestReceiver;
  let eps: EpsClient;
  /** Runs routing (firings, deliveries) until nothing is due. */
  const drain = async () => {
    while ((await service.app.workers.runOnce()) > 0) {}
  };

  beforeAll(async () => {
    service = await startTestApp(backend);
    receiver = await startReceiver();
    await service.app.server.listen({ port: 0, host: '127.0.0.1' });
    const address = service.app.server.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    eps = createEpsClient({ baseUrl: `http://127.0.0.1:${port}` });
  });
  afterAll(async () => {
    await service?.close();
    await receiver?.close();
  });

  it('starts a workflow on a booking, cancels it on the cancellation, and notifies the webhook', async () => {
    for (const [event_id, pattern] of [
      ['BookingEvents.created', 'bookings.created'],
      ['BookingEvents.cancelled', 'bookings.cancelled'],
    ] as const) {
      const definition = await eps.POST('/v1/event-definitions', {
        body: {
          event_id,
          name: event_id,
          pattern,
          version: '1.0.0',
          payload_schema: {
            type: 'object',
            required: ['bookingId'],
            properties: { bookingId: { type: 'string' }, customerId: { type: 'string' } },
          },
        },
      });
      expect(definition.response.status).toBe(201);
    }

    const workflow = await eps.POST('/v1/workflow-definitions', {
      body: {
        name: 'booking-confirmation',
        version: '1.0.0',
        inputSchema: { type: 'object', required: ['bookingId'] },
      },
    });
    expect(workflow.response.status).toBe(201);
    if (!workflow.data) throw new Error('no workflow definition answered');
    const workflowDefinitionId: string = workflow.data.id;
    expect(workflow.data.executor).toBe('builtin');

    const start = await eps.POST('/v1/workflow-triggers', {
      body: {
        workflowDefinitionId,
        eventPattern: 'bookings.created',
        triggerType: 'START',
        inputMapping: { bookingId: 'payload.bookingId', customerId: 'payload.customerId' },
        correlationKey: 'payload.bookingId',
      },
    });
    const cancel = await eps.POST('/v1/workflow-triggers', {
      body: {
        workflowDefinitionId,
        eventPattern: 'bookings.cancelled',
        triggerType: 'CANCEL',
        correlationKey: 'payload.bookingId',
      },
    });
    if (!start.data || !cancel.data) throw new Error('a trigger was not created');
    const startTrigger: { id: string; triggerType: 'START' | 'CANCEL'; enabled: boolean } =
      start.data;
    expect(startTrigger).toMatchObject({ triggerType: 'START', enabled: true });
    expect(cancel.data.triggerType).toBe('CANCEL');

    const subscribed = await eps.POST('/v1/subscriptions', {
      body: {
        event_pattern: 'bookings.*',
        subscriber: { id: 'billing', type: 'webhook', endpoint: `${receiver.url}/bookings` },
      },
    });
    if (!subscribed.data) throw new Error('no subscription answered');
    const subscriptionId: string = subscribed.data.subscription_id;
    const status: 'active' | 'paused' | 'disabled' = subscribed.data.status;
    expect(status).toBe('active');
    expect(subscribed.data.signing_secret).toMatch(/^whsec_/);

    const booked = await eps.POST('/v1/events', {
      body: {
        pattern: 'bookings.created',
        payload: { bookingId: 'bk_1', customerId: 'cu_1' },
      },
    });
    expect(booked.response.status).toBe(202);
    const bookedId = booked.data && 'eventId' in booked.data ? booked.data.eventId : '';
    await drain();

    // The firing record: what the START trigger did with the booking.
    const firings = await eps.GET('/v1/events/{eventId}/triggers', {
      params: { path: { eventId: bookedId } },
    });
    expect(firings.data?.firings).toHaveLength(1);
    const [firing] = firings.data?.firings ?? [];
    if (!firing) throw new Error('no firing recorded');
    const fired: {
      triggerId: string;
      status: 'pending' | 'running' | 'done' | 'dead';
      action: string;
      attempts: number;
      replay: boolean;
      createdAt: string;
      nextAttemptAt: string | null;
    } = firing;
    expect(fired).toMatchObject({
      triggerId: startTrigger.id,
      status: 'done',
      action: 'started',
      attempts: 1,
      replay: false,
      nextAttemptAt: null,
    });
    expect(firing.conditionResult).toBe(true);
    expect(firing.correlationKey).toBe('bk_1');
    expect(firing.mappedInput).toEqual({ bookingId: 'bk_1', customerId: 'cu_1' });
    const [instanceId] = firing.workflowInstanceIds ?? [];

    // The instance it started, found by its correlation key.
    const running = await eps.GET('/v1/workflow-instances', {
      params: { query: { correlationKey: 'bk_1' } },
    });
    const instances = running.data?.workflowInstances ?? [];
    expect(instances.map((i) => i.id)).toEqual([instanceId]);
    const [instance] = instances;
    if (!instance) throw new Error('no instance listed');
    const instanceStatus: 'running' | 'completed' | 'failed' | 'cancelled' = instance.status;
    expect(instanceStatus).toBe('running');
    const input: Record<string, unknown> = instance.input;
    expect(input).toEqual({ bookingId: 'bk_1', customerId: 'cu_1' });
    expect(instance).toMatchObject({
      workflowDefinitionId,
      triggerId: startTrigger.id,
      triggerEventId: bookedId,
      correlationKey: 'bk_1',
      cancelledByEventId: null,
    });
    expect(running.data?.pagination.total).toBe(1);

    // The cancellation cancels it.
    service.clock.advance(1000);
    const cancelled = await eps.POST('/v1/events', {
      body: { pattern: 'bookings.cancelled', payload: { bookingId: 'bk_1' } },
    });
    const cancelledId = cancelled.data && 'eventId' in cancelled.data ? cancelled.data.eventId : '';
    await drain();
    const cancelFirings = await eps.GET('/v1/events/{eventId}/triggers', {
      params: { path: { eventId: cancelledId } },
    });
    expect(cancelFirings.data?.firings.map((f) => [f.triggerId, f.action])).toEqual([
      [cancel.data.id, 'cancelled'],
    ]);
    expect(cancelFirings.data?.firings[0]?.workflowInstanceIds).toEqual([instanceId]);
    const after = await eps.GET('/v1/workflow-instances/{id}', {
      params: { path: { id: instanceId ?? '' } },
    });
    expect(after.data?.status).toBe('cancelled');
    expect(after.data?.cancelledByEventId).toBe(cancelledId);
    expect(after.data?.waits).toEqual([]);

    // The webhook got both events, and the delivery log says so.
    expect(receiver.received.map((r) => eventIdOf(r.body))).toEqual([bookedId, cancelledId]);
    const log = await eps.GET('/v1/subscriptions/{id}/deliveries', {
      params: { path: { id: subscriptionId } },
    });
    const attempts = log.data?.deliveries ?? [];
    expect(attempts.map((a) => [a.event_id, a.outcome, a.status_code, a.attempt])).toEqual([
      [cancelledId, 'delivered', 200, 1],
      [bookedId, 'delivered', 200, 1],
    ]);
    const latency: number | null = attempts[0]?.latency_ms ?? null;
    expect(latency).toEqual(expect.any(Number));
  });
});
