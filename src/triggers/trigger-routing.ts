import type { Clock } from '../clock.ts';
import type { Database } from '../db/database.ts';
import { conflict, notFound } from '../errors.ts';
import type { EventInstance } from '../events/event.ts';
import { isUuid } from '../ids.ts';
import { type FiringRowView, firingView } from '../routing/firing-view.ts';
import type { WorkStatus } from '../routing/work.ts';
import {
  deadWork,
  firingsOfTarget,
  type ReplayScope,
  replayWork,
  requeueDead,
  type WorkRecord,
  workOfEvent,
  workStatus,
} from '../routing/work-store.ts';
import { WORKFLOW_TRIGGER_RETRY_POLICY } from '../workflows/port.ts';
import { dryRun, type FiringOutcome, type FiringRecord } from './firing.ts';
import { compileTrigger, type WorkflowEventTrigger } from './trigger.ts';

/** A firing as `GET /v1/events/{eventId}/triggers` and `…/workflow-triggers/{id}/firings` show it. */
export type FiringView = FiringRowView<FiringOutcome> & { triggerId: string };

const triggerFiringView = (w: WorkRecord<FiringOutcome>): FiringView => ({
  ...firingView(w),
  triggerId: w.target_id,
});

/** The trigger side of the routing engine: firing records, dry runs, replays, dead-letter retries. */
export class TriggerRouting {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    /** Bound of each mapped input, the same as in real firings. */
    private readonly mappedInputMaxBytes: number,
  ) {}

  dryRun(trigger: WorkflowEventTrigger, event: EventInstance): FiringRecord {
    return dryRun(compileTrigger(trigger, this.mappedInputMaxBytes), event);
  }

  replay(trigger: WorkflowEventTrigger, request: Omit<ReplayScope, 'pattern'>) {
    const target = {
      kind: 'trigger' as const,
      id: trigger.id,
      pattern: trigger.eventPattern,
      maxAttempts: WORKFLOW_TRIGGER_RETRY_POLICY.maxAttempts,
    };
    return replayWork(this.db, target, request, this.clock.now());
  }

  async firingsOf(eventId: string): Promise<FiringView[]> {
    return (await workOfEvent<FiringOutcome>(this.db, 'trigger', eventId)).map(triggerFiringView);
  }

  /** A trigger's firings, newest first (its history, dead ones to retry among them). */
  async firingsOfTrigger(
    triggerId: string,
    query: { status?: WorkStatus; limit: number; offset: number },
  ): Promise<FiringView[]> {
    return (await firingsOfTarget<FiringOutcome>(this.db, 'trigger', triggerId, query)).map(
      triggerFiringView,
    );
  }

  /** Dead firings of every trigger, most recently dead first. */
  async deadFirings(query: { limit: number; offset: number }): Promise<FiringView[]> {
    const rows = await deadWork<FiringOutcome>(this.db, { kind: 'trigger', ...query });
    return rows.map(triggerFiringView);
  }

  async retryDead(id: string): Promise<void> {
    if (!isUuid(id)) throw notFound(`trigger firing ${id}`);
    if ((await requeueDead(this.db, { kind: 'trigger', id }, this.clock.now())) > 0) return;
    const status = await workStatus(this.db, 'trigger', id);
    if (!status) throw notFound(`trigger firing ${id}`);
    throw conflict(`the firing is ${status}; only dead firings can be retried`);
  }
}
