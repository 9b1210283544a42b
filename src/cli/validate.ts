import semver from 'semver';
import { checkConsumer, type EventSchema, type Finding } from '../compatibility/consumers.ts';
import { compileCondition } from '../expressions/condition.ts';
import { compileMapping, MappingError } from '../expressions/mapping.ts';
import { ParseError } from '../expressions/parse-error.ts';
import { compilePath } from '../expressions/path.ts';
import { loopThrough } from '../processors/graph.ts';
import { type ProcessorOutput, processorConsumerSpec } from '../processors/processor.ts';
import { PATTERN_REGEX, SEMVER_REGEX } from '../registry/definition.ts';
import { matchesPattern, parseSubscriptionPattern } from '../routing/pattern.ts';
import { SchemaCompileError, SchemaCompiler } from '../schema/compiler.ts';
import type { Position, Resource } from './manifest.ts';

/**
 * `eps validate`, offline: what the service would refuse in the files, found without it —
 * schemas compile, examples validate, patterns, conditions, paths and mappings parse — and what
 * triggers, subscriptions and processors read from events (and what a processor maps into its
 * output) type-checked against the schemas in the same files (src/compatibility/consumers.ts);
 * a loop among the files' processors is reported as the service would refuse it. Pure over the
 * parsed resources.
 */

export interface ValidationFinding {
  at: Position;
  severity: 'error' | 'warning';
  /** `Kind key field: message`. */
  message: string;
}

type Json = Record<string, unknown>;

const PATTERN = new RegExp(PATTERN_REGEX);
const SEMVER = new RegExp(SEMVER_REGEX);

export function validateResources(resources: readonly Resource[]): ValidationFinding[] {
  const findings: ValidationFinding[] = [];
  const compiler = new SchemaCompiler();
  const events = resources.filter((r) => r.kind === 'EventDefinition');
  const workflows = resources.filter((r) => r.kind === 'WorkflowDefinition');
  for (const resource of resources) {
    const report = (field: string, message: string, severity: 'error' | 'warning' = 'error') =>
      findings.push({
        at: resource.positionOf(field.split('.')),
        severity,
        message: `${resource.kind} ${resource.key} ${field}: ${message}`,
      });
    const { body } = resource;
    switch (resource.kind) {
      case 'EventDefinition':
        checkEventDefinition(body, compiler, report);
        break;
      case 'WorkflowDefinition':
        if (!SEMVER.test(String(body.version))) report('version', 'must be a semantic version');
        if (body.inputSchema != null)
          compileOrReport(compiler, body.inputSchema, 'inputSchema', report);
        break;
      case 'WorkflowTrigger': {
        if (!checkTrigger(body, report)) break;
        const workflow = referencedWorkflow(body, workflows);
        // A CANCEL trigger starts nothing: its input mapping is not the workflow's input.
        const input =
          body.triggerType === 'START'
            ? {
                mapping: (body.inputMapping ?? undefined) as Json | undefined,
                inputSchema: workflow?.body.inputSchema ?? undefined,
              }
            : undefined;
        const spec = {
          conditions: textField(body.eventCondition, 'eventCondition'),
          keys: textField(body.correlationKey, 'correlationKey'),
          ...(input ? { input } : {}),
        };
        for (const finding of checkConsumer(spec, schemasFor(String(body.eventPattern), events))) {
          report(finding.field, findingMessage(finding), finding.severity);
        }
        break;
      }
      case 'EventProcessor':
        checkProcessor(body, events, report);
        break;
      case 'Subscription': {
        const filter = (body.filter ?? undefined) as Json | undefined;
        if (!checkPattern(body.event_pattern, 'event_pattern', report)) break;
        const expression = filter?.expression;
        if (typeof expression === 'string') {
          parses(() => compileCondition(expression), 'filter.expression', report);
        }
        const spec = { conditions: textField(expression, 'filter.expression') };
        for (const finding of checkConsumer(spec, schemasFor(String(body.event_pattern), events))) {
          report(finding.field, findingMessage(finding), finding.severity);
        }
        break;
      }
    }
  }
  findings.push(...processorLoops(resources.filter((r) => r.kind === 'EventProcessor')));
  return findings;
}

type Report = (field: string, message: string, severity?: 'error' | 'warning') => void;

function checkEventDefinition(body: Json, compiler: SchemaCompiler, report: Report): void {
  if (typeof body.pattern !== 'string' || !PATTERN.test(body.pattern)) {
    report('pattern', 'must be dot-separated segments of lowercase letters, digits, _ and -');
  }
  if (!SEMVER.test(String(body.version))) report('version', 'must be a semantic version');
  if (typeof body.name !== 'string') report('name', 'is required');
  const validate = compileOrReport(compiler, body.payload_schema, 'payload_schema', report);
  if (!validate || !Array.isArray(body.examples)) return;
  body.examples.forEach((example, index) => {
    for (const detail of validate(example)) {
      report(`examples.${index}`, `${detail.field}: ${detail.message}`);
    }
  });
}

function compileOrReport(compiler: SchemaCompiler, schema: unknown, field: string, report: Report) {
  try {
    return compiler.compile(schema);
  } catch (error) {
    if (!(error instanceof SchemaCompileError)) throw error;
    report(field, `does not compile: ${error.message}`);
    return undefined;
  }
}

/**
 * Checks a trigger's own fields; false when its pattern is unusable, so there is nothing to
 * type-check against (an unparsable condition or path is skipped by the type check itself).
 */
function checkTrigger(body: Json, report: Report): boolean {
  if (body.triggerType !== 'START' && body.triggerType !== 'CANCEL') {
    report('triggerType', 'must be START or CANCEL');
  }
  if (body.workflowDefinition === undefined && body.workflowDefinitionId === undefined) {
    report('workflowDefinition', 'is required ("name@version", "name", or workflowDefinitionId)');
  }
  const condition = body.eventCondition;
  if (typeof condition === 'string') {
    parses(() => compileCondition(condition), 'eventCondition', report);
  }
  const key = body.correlationKey;
  if (typeof key === 'string') parses(() => compilePath(key), 'correlationKey', report);
  const mapping = body.inputMapping;
  if (mapping != null) reportMappingProblems(mapping as Json, 'inputMapping', report);
  return checkPattern(body.eventPattern, 'eventPattern', report);
}

/**
 * Checks a processor's own fields, then type-checks its condition against the files' versions its
 * pattern matches and its output payload against the files' definition of its output, as the
 * service does against registered ones.
 */
function checkProcessor(body: Json, events: readonly Resource[], report: Report): void {
  const patternParses = checkPattern(body.eventPattern, 'eventPattern', report);
  const condition = body.eventCondition;
  if (typeof condition === 'string') {
    parses(() => compileCondition(condition), 'eventCondition', report);
  }
  const output = body.output as Json | undefined;
  if (typeof output !== 'object' || output === null) {
    report('output', 'is required ({ pattern, payload })');
    return;
  }
  if (typeof output.pattern !== 'string' || !PATTERN.test(output.pattern)) {
    report('output.pattern', 'must be the pattern of an event definition (no wildcards)');
  }
  if (output.version !== undefined && !SEMVER.test(String(output.version))) {
    report('output.version', 'must be a semantic version');
  }
  if (typeof output.payload !== 'object' || output.payload === null) {
    report('output.payload', 'is required (field → path, { const: value } or a literal)');
    return;
  }
  reportMappingProblems(output.payload as Json, 'output.payload', report);
  if (!patternParses) return;
  const target = outputDefinition(output, events);
  const spec = processorConsumerSpec(
    {
      eventCondition: typeof condition === 'string' ? condition : null,
      output: output as unknown as ProcessorOutput,
    },
    target && {
      label: `${target.body.pattern} ${target.body.version}`,
      payloadSchema: target.body.payload_schema,
    },
  );
  for (const finding of checkConsumer(spec, schemasFor(String(body.eventPattern), events))) {
    report(finding.field, findingMessage(finding), finding.severity);
  }
}

/** The files' definition a processor's output is held to: its version, or the highest. */
function outputDefinition(output: Json, events: readonly Resource[]): Resource | undefined {
  const candidates = events.filter(
    (e) =>
      e.body.pattern === output.pattern &&
      (output.version === undefined
        ? e.body.status !== 'draft'
        : e.body.version === output.version),
  );
  return candidates
    .filter((e) => semver.valid(String(e.body.version)))
    .sort((a, b) => semver.rcompare(String(a.body.version), String(b.body.version)))[0];
}

/**
 * Loops among the files' enabled processors, each reported once at the first of its processors
 * in the files, in the words of the service's 409 `cycle`.
 */
function processorLoops(processors: readonly Resource[]): ValidationFinding[] {
  const nodes = processors
    // Only those whose patterns are usable (the others are reported already).
    .filter(
      (p) =>
        p.body.enabled !== false &&
        parses(
          () => parseSubscriptionPattern(String(p.body.eventPattern)),
          '',
          () => {},
        ) &&
        PATTERN.test(String((p.body.output as Json | undefined)?.pattern)),
    )
    .map((p) => ({
      resource: p,
      node: {
        id: p.key,
        name: p.key,
        eventPattern: String(p.body.eventPattern),
        outputPattern: String((p.body.output as Json).pattern),
      },
    }));
  const reported = new Set<string>();
  const findings: ValidationFinding[] = [];
  for (const { resource, node } of nodes) {
    const loop = loopThrough(
      node,
      nodes.map((n) => n.node),
    );
    const members = loop && [...new Set(loop)].sort().join(' ');
    if (!loop || !members || reported.has(members)) continue;
    reported.add(members);
    findings.push({
      at: resource.positionOf(['output', 'pattern']),
      severity: 'error',
      message: `EventProcessor ${resource.key} output.pattern: its derived events reach its own eventPattern again: ${loop.join(' → ')}`,
    });
  }
  return findings;
}

function checkPattern(pattern: unknown, field: string, report: Report): boolean {
  if (typeof pattern !== 'string') {
    report(field, 'is required');
    return false;
  }
  return parses(() => parseSubscriptionPattern(pattern), field, report);
}

/** Each target of a mapping whose source does not parse, as `field.target`. */
function reportMappingProblems(mapping: Json, field: string, report: Report): void {
  try {
    compileMapping(mapping);
  } catch (error) {
    if (!(error instanceof MappingError)) throw error;
    for (const { target, error: cause } of error.problems) {
      report(`${field}.${target}`, cause.message);
    }
  }
}

function parses(compile: () => unknown, field: string, report: Report): boolean {
  try {
    compile();
    return true;
  } catch (error) {
    if (!(error instanceof ParseError)) throw error;
    report(field, error.message);
    return false;
  }
}

const textField = (text: unknown, field: string) =>
  typeof text === 'string' ? [{ field, text }] : [];

/** The payload schemas of the files' event versions the pattern matches. */
function schemasFor(pattern: string, events: readonly Resource[]): EventSchema[] {
  return events
    .filter((e) => typeof e.body.pattern === 'string' && matchesPattern(pattern, e.body.pattern))
    .map((e) => ({
      label: `${e.body.pattern} ${e.body.version}`,
      payloadSchema: e.body.payload_schema,
    }));
}

/** The workflow definition of the files a trigger names (`name@version`, or a name's highest). */
function referencedWorkflow(trigger: Json, workflows: readonly Resource[]): Resource | undefined {
  const reference = trigger.workflowDefinition;
  if (typeof reference !== 'string') return undefined;
  if (reference.includes('@')) return workflows.find((w) => w.key === reference);
  const candidates = workflows.filter(
    (w) => w.body.name === reference && semver.valid(String(w.body.version)),
  );
  return candidates.sort((a, b) =>
    semver.rcompare(String(a.body.version), String(b.body.version)),
  )[0];
}

function findingMessage(finding: Finding): string {
  return finding.path && !finding.message.includes(finding.path)
    ? `${finding.path}: ${finding.message}`
    : finding.message;
}
