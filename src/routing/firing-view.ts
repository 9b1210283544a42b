import { exactObject, nullableTimeSchema, timeSchema } from '../http/common.ts';
import { WORK_STATUSES, type WorkStatus } from './work.ts';
import type { WorkRecord } from './work-store.ts';

/** What every firing record's outcome may hold (triggers' and processors'). */
interface FiringOutcomeFields {
  action?: string;
  error?: string;
}

/** A firing's row state beside its outcome's record; `pending` before its first attempt. */
export type FiringRowView<O extends FiringOutcomeFields> = Partial<O> & {
  id: string;
  eventId: string;
  status: WorkStatus;
  action: NonNullable<O['action']> | 'pending';
  attempts: number;
  maxAttempts: number;
  replay: boolean;
  error: string | undefined;
  nextAttemptAt: string | null;
  createdAt: string;
  updatedAt: string;
};

/**
 * A firing (a trigger's or a processor's work row) as the read routes show it: its outcome's
 * record, then the row's state; the caller adds the target id under its own name.
 */
export function firingView<O extends FiringOutcomeFields>(w: WorkRecord<O>): FiringRowView<O> {
  const outcome = w.outcome;
  return {
    ...outcome,
    id: w.id,
    eventId: w.event_id,
    status: w.status,
    action: outcome?.action ?? 'pending',
    attempts: w.attempts,
    maxAttempts: w.max_attempts,
    replay: w.replay,
    error: w.last_error ?? outcome?.error,
    nextAttemptAt: w.status === 'pending' ? w.next_attempt_at.toISOString() : null,
    createdAt: w.created_at.toISOString(),
    updatedAt: w.updated_at.toISOString(),
  } as FiringRowView<O>;
}

/**
 * The schema of {@link FiringRowView} for one kind of target: the row's state (always sent),
 * the target's id under `targetIdField`, and the fields its outcome's record may carry (sent
 * once the target was evaluated; `action` is `pending` before).
 */
export function firingSchema<O extends Record<string, unknown>>(
  targetIdField: string,
  actions: readonly string[],
  outcomeProperties: O,
) {
  return exactObject(
    {
      id: { type: 'string', format: 'uuid', description: 'the firing (retry it by this id)' },
      eventId: { type: 'string' },
      [targetIdField]: { type: 'string', format: 'uuid' },
      status: { type: 'string', enum: WORK_STATUSES },
      action: { type: 'string', enum: actions },
      attempts: { type: 'integer' },
      maxAttempts: { type: 'integer' },
      replay: { type: 'boolean', description: 'queued by a replay' },
      ...outcomeProperties,
      error: { type: 'string', description: 'the last attempt’s error, when it failed' },
      nextAttemptAt: {
        ...nullableTimeSchema,
        description: 'when the next attempt is due (pending firings), else null',
      },
      createdAt: timeSchema,
      updatedAt: timeSchema,
    },
    [
      'id',
      'eventId',
      targetIdField,
      'status',
      'action',
      'attempts',
      'maxAttempts',
      'replay',
      'nextAttemptAt',
      'createdAt',
      'updatedAt',
    ],
  );
}
