import { Ajv } from 'ajv';
import type { Clock } from '../clock.ts';
import { AppError, type ErrorDetail, fieldError, validationError } from '../errors.ts';
import {
  bodyHash,
  type EventInput,
  type EventMetadata,
  eventInputSchema,
  type NormalizedEvent,
} from '../events/event.ts';
import { type EventFormat, NATIVE_FORMAT } from '../events/format.ts';
import { checkPayloadLimits, type PayloadLimits } from '../events/payload-limits.ts';
import { eventTimeOf, parseEventTime } from '../events/time.ts';
import { newUuidV7 } from '../ids.ts';
import type { DefinitionResolver } from '../registry/resolver.ts';
import { ajvErrorsToDetails } from '../schema/error-details.ts';
import { type PartitionInterval, periodOf } from '../store/partitions.ts';
import { traceIdOf } from './traceparent.ts';
import type { EventWriter, WriteOutcome } from './writer.ts';

export interface ReceiverOptions {
  limits: PayloadLimits;
  partitionInterval: PartitionInterval;
}

/** A validated event and what its publisher should hear about its version. */
export interface PreparedEvent {
  event: NormalizedEvent;
  /** Response headers for a deprecated version (`Deprecation`, `Sunset`). */
  deprecationHeaders: Record<string, string>;
}

export interface BatchResult {
  accepted: number;
  duplicates: number;
  rejected: number;
  results: Array<{
    index: number;
    eventId?: string;
    status: WriteOutcome['status'] | 'rejected';
    error?: object;
  }>;
}

const httpDate = (iso: string) => new Date(iso).toUTCString();

/**
 * Receives events: checks each against its definition, normalises it, and hands it to the
 * writer, which answers only once the event is committed.
 */
export class EventReceiver {
  private readonly checkEnvelope = new Ajv({ allErrors: true, strict: false }).compile(
    eventInputSchema,
  );

  constructor(
    private readonly resolver: DefinitionResolver,
    private readonly writer: EventWriter,
    private readonly clock: Clock,
    private readonly options: ReceiverOptions,
  ) {}

  /**
   * Validates and normalises one event whose envelope already matches {@link eventInputSchema}.
   * `receivedIn` is the W3C traceparent of the span receiving it (`event.receive`): stored with
   * the event as the parent of its routing spans, and its trace id becomes `metadata.traceId`
   * unless the publisher set one (the publisher's value is their data, kept as sent).
   */
  async prepare(input: EventInput, receivedIn: string | undefined): Promise<PreparedEvent> {
    const details = [
      ...checkPayloadLimits(input.payload, 'payload', this.options.limits),
      ...checkPayloadLimits(input.metadata ?? {}, 'metadata', this.options.limits),
    ];
    const time = input.timestamp === undefined ? undefined : parseEventTime(input.timestamp);
    if (input.timestamp !== undefined && !time) {
      details.push(
        fieldError(
          'timestamp',
          'format',
          'must be an ISO 8601 time with a zone, e.g. 2026-11-27T10:00:00.000Z',
        ),
      );
    }
    if (details.length > 0) throw validationError('event is invalid', details);
    const { definition, validate } = await this.resolver.resolve(input.pattern, input.version);
    const source = input.source ?? input.metadata?.source;
    details.push(
      ...this.sourceDetails(source?.type, definition.source_types),
      ...validate(input.payload),
    );
    if (details.length > 0) throw validationError('event is invalid', details);

    const receivedAt = this.clock.now();
    const eventTime = time ?? eventTimeOf(receivedAt);
    const eventId = input.eventId ?? newUuidV7();
    const { source: _moved, ...metadata } = input.metadata ?? {};
    const deprecated = definition.status === 'deprecated';
    const traceId = traceIdOf(receivedIn);
    return {
      event: {
        id: newUuidV7(),
        instance: {
          eventId,
          pattern: input.pattern,
          version: definition.version,
          ...(source ? { source } : {}),
          timestamp: eventTime.date.toISOString(),
          payload: input.payload,
          metadata: {
            ...metadata,
            correlationId: metadata.correlationId ?? eventId,
            ...((metadata.traceId ?? traceId) ? { traceId: metadata.traceId ?? traceId } : {}),
            tags: metadata.tags ?? {},
          } as EventMetadata,
        },
        storedTimestamp: eventTime.utc,
        ...(traceId ? { receiveTraceparent: receivedIn } : {}),
        partitionKey: periodOf(eventTime.date, this.options.partitionInterval).label,
        bodyHash: bodyHash(input),
        definitionId: definition.id,
        deprecated,
      },
      deprecationHeaders: deprecated
        ? {
            deprecation: `@${Math.floor(new Date(definition.deprecated_at ?? definition.updated_at).getTime() / 1000)}`,
            ...(definition.sunset_at ? { sunset: httpDate(definition.sunset_at) } : {}),
          }
        : {},
    };
  }

  private sourceDetails(type: string | undefined, allowed: string[]): ErrorDetail[] {
    if (allowed.length === 0) return [];
    if (type === undefined)
      return [fieldError('source', 'required', `is required; one of: ${allowed.join(', ')}`)];
    if (!allowed.includes(type))
      return [fieldError('source.type', 'enum', `must be one of: ${allowed.join(', ')}`)];
    return [];
  }

  /** Every check of {@link receive}, nothing stored; a 4xx worded for the event's format. */
  async validate(
    input: unknown,
    receivedIn: string | undefined,
    format: EventFormat = NATIVE_FORMAT,
  ): Promise<PreparedEvent> {
    const prepared =
      format === NATIVE_FORMAT
        ? await this.prepare(input as EventInput, receivedIn)
        : await this.tryPrepare(input, receivedIn, format);
    if (prepared instanceof AppError) throw prepared;
    return prepared;
  }

  /**
   * One event: 202 accepted, 200 duplicate, 409 conflict (same eventId, other body). An event
   * of another format is mapped and its envelope checked here (the route checked a native one).
   */
  async receive(
    input: unknown,
    receivedIn: string | undefined,
    format: EventFormat = NATIVE_FORMAT,
  ): Promise<{ outcome: WriteOutcome; headers: Record<string, string> }> {
    const prepared = await this.validate(input, receivedIn, format);
    const [outcome] = await this.writer.write([prepared.event]);
    if (outcome!.status === 'conflict') throw format.wordError(conflictFor(outcome!.eventId));
    return { outcome: outcome!, headers: prepared.deprecationHeaders };
  }

  /**
   * Each event checked on its own; the accepted ones committed together. `receivedIn` is the
   * receive span of all of them, or of each by index (CloudEvents carrying their own traces).
   */
  async receiveBatch(
    inputs: unknown[],
    receivedIn: string | undefined | ReadonlyArray<string | undefined>,
    format: EventFormat = NATIVE_FORMAT,
  ): Promise<BatchResult> {
    const spanOf = (index: number) =>
      typeof receivedIn === 'object' ? receivedIn[index] : receivedIn;
    const prepared = await Promise.all(
      inputs.map((input, index) => this.tryPrepare(input, spanOf(index), format)),
    );
    const valid = prepared.filter((p): p is PreparedEvent => !(p instanceof AppError));
    const outcomes = valid.length > 0 ? await this.writer.write(valid.map((p) => p.event)) : [];
    const result: BatchResult = { accepted: 0, duplicates: 0, rejected: 0, results: [] };
    let next = 0;
    prepared.forEach((entry, index) => {
      const row =
        entry instanceof AppError
          ? rejectedRow(index, format.eventIdOf(inputs[index]), entry)
          : outcomeRow(index, outcomes[next++]!);
      result.results.push(row);
      if (row.status === 'accepted') result.accepted += 1;
      else if (row.status === 'duplicate') result.duplicates += 1;
      else result.rejected += 1;
    });
    return result;
  }

  /** The prepared event, or the 4xx error that refuses it (worded for its format). */
  private async tryPrepare(
    event: unknown,
    receivedIn: string | undefined,
    format: EventFormat,
  ): Promise<PreparedEvent | AppError> {
    try {
      const input = format.toInput(event);
      if (!this.checkEnvelope(input)) {
        throw validationError('event is invalid', ajvErrorsToDetails(this.checkEnvelope.errors));
      }
      return await this.prepare(input as EventInput, receivedIn);
    } catch (error) {
      if (error instanceof AppError && error.status < 500) return format.wordError(error);
      throw error;
    }
  }
}

const conflictFor = (eventId: string) =>
  new AppError(409, 'conflict', `event ${eventId} was already received with a different body`, [
    fieldError('eventId', 'conflict', 'an event with this eventId and a different body exists'),
  ]);

const errorBody = (error: AppError) => ({
  code: error.code,
  message: error.message,
  details: error.details,
});

function rejectedRow(
  index: number,
  eventId: unknown,
  error: AppError,
): BatchResult['results'][number] {
  return {
    index,
    ...(typeof eventId === 'string' ? { eventId } : {}),
    status: 'rejected',
    error: errorBody(error),
  };
}

function outcomeRow(index: number, outcome: WriteOutcome): BatchResult['results'][number] {
  if (outcome.status === 'conflict')
    return {
      index,
      eventId: outcome.eventId,
      status: 'rejected',
      error: errorBody(conflictFor(outcome.eventId)),
    };
  return { index, eventId: outcome.eventId, status: outcome.status };
}
