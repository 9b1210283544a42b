import type { Clock } from '../clock.ts';
import {
  type ConsumerCheckMode,
  type ConsumerWarning,
  checkConsumer,
  judgeConsumer,
} from '../compatibility/consumers.ts';
import type { Database, Queryable } from '../db/database.ts';
import { conflict, type ErrorDetail, fieldError, notFound, validationError } from '../errors.ts';
import { assertNoPrecondition, reviseIfChanged } from '../http/etag.ts';
import { isUuid } from '../ids.ts';
import { activeSchemasMatching, schemaLabel } from '../registry/consumer-schemas.ts';
import { defaultVersionOf, type EventDefinition } from '../registry/definition.ts';
import { findByPattern } from '../registry/repository.ts';
import { matchesPattern } from '../routing/pattern.ts';
import { bumpTargetsVersion } from '../routing/work-store.ts';
import { registeredPatterns } from '../triggers/repository.ts';
import { type GraphNode, loopThrough } from './graph.ts';
import {
  checkProcessorExpressions,
  type EventProcessor,
  processorConsumerSpec,
} from './processor.ts';
import {
  deleteProcessor,
  enabledProcessors,
  findProcessor,
  insertProcessor,
  listProcessors,
  lockProcessorGraph,
  type ProcessorFields,
  type ProcessorFilters,
  updateProcessor,
} from './repository.ts';

export interface ProcessorInput {
  name: string;
  eventPattern: string;
  eventCondition?: string | null;
  output: EventProcessor['output'];
  enabled?: boolean;
  description?: string | null;
  labels?: Record<string, string>;
}

const fieldsOf = (input: ProcessorInput): ProcessorFields => ({
  name: input.name,
  eventPattern: input.eventPattern,
  eventCondition: input.eventCondition ?? null,
  output: input.output,
  enabled: input.enabled ?? true,
  description: input.description ?? null,
  labels: input.labels ?? {},
});

const nodeOf = (id: string, fields: ProcessorFields): GraphNode => ({
  id,
  name: fields.name,
  eventPattern: fields.eventPattern,
  outputPattern: fields.output.pattern,
});

/** A written processor and the findings of the type check it was accepted with. */
export interface CheckedProcessor {
  resource: EventProcessor;
  warnings: ConsumerWarning[];
}

/**
 * Event processor management. Every change bumps the routing targets version in its own
 * transaction, so every instance's matching index follows; every change that could close a
 * loop is checked against the enabled processors under a lock of the processor table.
 */
export class Processors {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
  ) {}

  /**
   * Compiles the expressions; checks that the input pattern can match a registered event and
   * that the output pattern is a registered one; refuses (409) an enabled processor whose
   * derived events could reach its own input again, through itself or other enabled processors.
   * A disabled processor is in no loop: enabling it is checked. Then type-checks what it reads
   * against the active versions its pattern matches, and the payload it maps against its output
   * definition's schema, as a trigger's input is checked against its workflow's.
   */
  private async validate(
    db: Queryable,
    id: string,
    fields: ProcessorFields,
    mode: ConsumerCheckMode,
  ): Promise<ConsumerWarning[]> {
    const details = checkProcessorExpressions(fields);
    const patterns = await registeredPatterns(db);
    if (!patterns.some((pattern) => matchesPattern(fields.eventPattern, pattern)))
      details.push(
        fieldError(
          'eventPattern',
          'no_matching_definition',
          'no registered event definition has a matching pattern',
        ),
      );
    if (!patterns.includes(fields.output.pattern))
      details.push(
        fieldError(
          'output.pattern',
          'no_such_definition',
          'must be the pattern of a registered event definition (no wildcards)',
        ),
      );
    const output = await outputDefinition(db, fields.output, details);
    if (details.length > 0) throw validationError('event processor is invalid', details);
    if (fields.enabled) {
      await lockProcessorGraph(db);
      const others = (await enabledProcessors(db)).map((p) => nodeOf(p.id, p));
      const loop = loopThrough(nodeOf(id, fields), others);
      if (loop) throw loopError(loop);
    }
    return judgeConsumer(await typeFindings(db, fields, output), mode);
  }

  async create(
    input: ProcessorInput,
    mode: ConsumerCheckMode = 'enforce',
  ): Promise<CheckedProcessor> {
    const fields = fieldsOf(input);
    return this.db.transaction(async (tx) => {
      // No id yet: the empty one is no other processor's.
      const warnings = await this.validate(tx, '', fields, mode);
      const resource = await insertProcessor(tx, fields, this.clock.now());
      await bumpTargetsVersion(tx);
      return { resource, warnings };
    });
  }

  async get(id: string): Promise<EventProcessor> {
    const found = isUuid(id) ? await findProcessor(this.db, id) : undefined;
    if (!found) throw notFound(`event processor ${id}`);
    return found;
  }

  list(filters: ProcessorFilters) {
    return listProcessors(this.db, filters);
  }

  /** Saves the changes unless they are what the processor holds (then nothing reloads). */
  async update(
    id: string,
    requiredRevision: number | '*',
    changes: Partial<ProcessorInput>,
    mode: ConsumerCheckMode = 'enforce',
  ): Promise<CheckedProcessor> {
    return this.db.transaction(async (tx) => {
      const current = isUuid(id) ? await findProcessor(tx, id, true) : undefined;
      if (!current) throw notFound(`event processor ${id}`);
      return this.replace(
        tx,
        requiredRevision,
        current,
        fieldsOf({ ...current, ...changes }),
        mode,
      );
    });
  }

  /**
   * Creates the processor with this name, or replaces it with `input` (201 / 200, as `PUT
   * /v1/by-name/workflow-triggers/{name}`): an unchanged body keeps its revision.
   */
  async upsert(
    name: string,
    requiredRevision: number | '*' | undefined,
    input: Omit<ProcessorInput, 'name'>,
    mode: ConsumerCheckMode = 'enforce',
  ): Promise<CheckedProcessor & { created: boolean }> {
    const fields = fieldsOf({ ...input, name });
    return this.db.transaction(async (tx) => {
      const current = await findProcessor(tx, name, true, 'name');
      if (current) {
        return {
          ...(await this.replace(tx, requiredRevision, current, fields, mode)),
          created: false,
        };
      }
      assertNoPrecondition(requiredRevision);
      const warnings = await this.validate(tx, '', fields, mode);
      const resource = await insertProcessor(tx, fields, this.clock.now());
      await bumpTargetsVersion(tx);
      return { resource, warnings, created: true };
    });
  }

  /** Saves `fields` over `current` unless they are what it holds (then nothing is checked again). */
  private async replace(
    tx: Queryable,
    requiredRevision: number | '*' | undefined,
    current: EventProcessor,
    fields: ProcessorFields,
    mode: ConsumerCheckMode,
  ): Promise<CheckedProcessor> {
    let warnings: ConsumerWarning[] = [];
    const resource = await reviseIfChanged(requiredRevision, current, fields, async () => {
      warnings = await this.validate(tx, current.id, fields, mode);
      const updated = await updateProcessor(tx, current.id, fields, this.clock.now());
      await bumpTargetsVersion(tx);
      return updated;
    });
    return { resource, warnings };
  }

  async remove(id: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      if (!isUuid(id) || !(await deleteProcessor(tx, id))) throw notFound(`event processor ${id}`);
      await bumpTargetsVersion(tx);
    });
  }
}

/**
 * The definition a processor's derived events are held to: `output.version` when it names one
 * (which must be registered and not a draft, as publishing it requires: else a detail naming
 * `output.version`), else the default version publishing resolves. Undefined when the output
 * pattern has no such version (its own detail says why).
 */
async function outputDefinition(
  db: Queryable,
  output: EventProcessor['output'],
  details: ErrorDetail[],
): Promise<EventDefinition | undefined> {
  const versions = await findByPattern(db, output.pattern);
  const { version } = output;
  if (version === undefined) return defaultVersionOf(versions);
  // An unregistered output pattern has a detail of its own.
  if (versions.length === 0) return undefined;
  const named = versions.find((d) => d.version === version);
  if (named && named.status !== 'draft') return named;
  details.push(
    named
      ? fieldError(
          'output.version',
          'draft_version',
          `version ${version} of ${output.pattern} is a draft; activate it before deriving events of it`,
        )
      : fieldError(
          'output.version',
          'unknown_version',
          `version ${version} is not a registered version of ${output.pattern} (registered: ${versions.map((d) => d.version).join(', ')})`,
        ),
  );
  return undefined;
}

/**
 * What the processor reads (its condition) against the versions its pattern matches, and its
 * payload mapping against the output definition's schema.
 */
async function typeFindings(
  db: Queryable,
  fields: ProcessorFields,
  output: EventDefinition | undefined,
) {
  return checkConsumer(
    processorConsumerSpec(
      fields,
      output && { label: schemaLabel(output), payloadSchema: output.payload_schema },
    ),
    await activeSchemasMatching(db, fields.eventPattern),
  );
}

/** The loop as a 409: the processors along it, by name. */
function loopError(loop: string[]): Error {
  const path = loop.join(' → ');
  const detail: ErrorDetail = fieldError(
    'output.pattern',
    'cycle',
    `its derived events reach its own eventPattern again: ${path}`,
  );
  return conflict(`the event processor would close a loop: ${path}`, 'cycle', [detail]);
}
