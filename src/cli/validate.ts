import semver from 'semver';
import { checkConsumer, type EventSchema, type Finding } from '../compatibility/consumers.ts';
import { compileCondition } from '../expressions/condition.ts';
import { compileMapping, MappingError } from '../expressions/mapping.ts';
import { ParseError } from '../expressions/parse-error.ts';
import { compilePath } from '../expressions/path.ts';
import { PATTERN_REGEX, SEMVER_REGEX } from '../registry/definition.ts';
import { matchesPattern, parseSubscriptionPattern } from '../routing/pattern.ts';
import { SchemaCompileError, SchemaCompiler } from '../schema/compiler.ts';
import type { Position, Resource } from './manifest.ts';

/**
 * `eps validate`, offline: what the service would refuse in the files, found without it —
 * schemas compile, examples validate, patterns, conditions, paths and mappings parse — and what
 * triggers and subscriptions read from events type-checked against the schemas in the same
 * files (src/compatibility/consumers.ts). Pure over the parsed resources.
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
  if (mapping != null) {
    try {
      compileMapping(mapping as Json);
    } catch (error) {
      if (!(error instanceof MappingError)) throw error;
      for (const { target, error: cause } of error.problems) {
        report(`inputMapping.${target}`, cause.message);
      }
    }
  }
  return checkPattern(body.eventPattern, 'eventPattern', report);
}

function checkPattern(pattern: unknown, field: string, report: Report): boolean {
  if (typeof pattern !== 'string') {
    report(field, 'is required');
    return false;
  }
  return parses(() => parseSubscriptionPattern(pattern), field, report);
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
