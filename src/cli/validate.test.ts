import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { eps } from '../testing/eps-process.ts';
import { parseManifestText } from './manifest.ts';
import { validateResources } from './validate.ts';

const INVALID = fileURLToPath(new URL('./testdata/invalid.yaml', import.meta.url));
const INVALID_PROCESSORS = fileURLToPath(
  new URL('./testdata/invalid-processors.yaml', import.meta.url),
);
const EXAMPLES = fileURLToPath(new URL('../../examples/booking', import.meta.url));

describe('eps validate', () => {
  it('names file:line of each kind of mistake, offline, and exits 1', async () => {
    // No service at this address: validate must not need one.
    const result = await eps('http://127.0.0.1:9', 'validate', '-f', INVALID);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trim().split('\n');
    expect(lines[0]).toBe('error: 8 problems in the files');
    expect(lines.slice(1).map((line) => line.trim())).toEqual([
      `${INVALID}:13: EventDefinition Orders.placed@1.0.0 examples.0: payload.orderId: must be string`,
      `${INVALID}:18: EventDefinition Orders.broken@one pattern: must be dot-separated segments of lowercase letters, digits, _ and -`,
      `${INVALID}:19: EventDefinition Orders.broken@one version: must be a semantic version`,
      expect.stringMatching(
        new RegExp(
          `^${INVALID}:20: EventDefinition Orders.broken@one payload_schema: does not compile: `,
        ),
      ),
      `${INVALID}:35: WorkflowTrigger start-fulfil correlationKey: expected a field name at position 8`,
      `${INVALID}:32: WorkflowTrigger start-fulfil eventCondition: payload.totl is not declared by any version it may read (orders.placed 1.0.0)`,
      `${INVALID}:34: WorkflowTrigger start-fulfil inputMapping.orderId: orderId is number; the workflow's inputSchema wants string`,
      `${INVALID}:41: Subscription audit filter.expression: unexpected end of text at position 18`,
    ]);
  }, 60_000);

  it("names file:line of each processor mistake: patterns, condition, output mapping, its types against the files' schemas, and a loop", async () => {
    const file = INVALID_PROCESSORS;
    const result = await eps('http://127.0.0.1:9', 'validate', '-f', file);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trim().split('\n');
    expect(lines[0]).toBe(
      `warning: ${file}:31: EventProcessor copy-orders output.payload.orderId: the payload_schema of orders.copied 1.0.0 requires orderId, but its source is not always in the event: such events derive nothing (the firing fails and is dead-lettered)`,
    );
    expect(lines[1]).toBe('error: 7 problems in the files');
    expect(lines.slice(2).map((line) => line.trim())).toEqual([
      `${file}:32: EventProcessor copy-orders output.payload.note: expected a field name at position 8`,
      `${file}:27: EventProcessor copy-orders eventCondition: payload.totl is not declared by any version it may read (orders.placed 1.0.0)`,
      `${file}:31: EventProcessor copy-orders output.payload.orderId: orderId is number; the payload_schema of orders.copied 1.0.0 wants string`,
      expect.stringMatching(
        new RegExp(`^${file}:43: EventProcessor broken eventPattern: empty segment`),
      ),
      `${file}:45: EventProcessor broken output.pattern: must be the pattern of an event definition (no wildcards)`,
      `${file}:46: EventProcessor broken output.version: must be a semantic version`,
      // The loop once, where it is closed first, as the service's 409 cycle words it.
      `${file}:29: EventProcessor copy-orders output.pattern: its derived events reach its own eventPattern again: copy-orders → echo-copies → copy-orders`,
    ]);
  }, 60_000);

  it('passes the booking flow', async () => {
    const result = await eps('http://127.0.0.1:9', 'validate', '-f', EXAMPLES);
    expect(result).toMatchObject({ code: 0, stdout: '8 resources valid.\n', stderr: '' });
  }, 60_000);

  it('checks a CANCEL trigger without holding its mapping to the workflow input', () => {
    const { resources } = parseManifestText(
      'f.yaml',
      [
        'kind: EventDefinition',
        'event_id: a.b',
        'name: ab',
        'pattern: a.b',
        'version: 1.0.0',
        'payload_schema: { type: object, properties: { id: { type: string } } }',
        '---',
        'kind: WorkflowDefinition',
        'name: w',
        'version: 1.0.0',
        'inputSchema: { type: object, required: [x] }',
        '---',
        'kind: WorkflowTrigger',
        'name: stop',
        'workflowDefinition: w',
        'eventPattern: a.*',
        'triggerType: CANCEL',
        'correlationKey: payload.idd',
      ].join('\n'),
    );
    expect(validateResources(resources)).toEqual([
      {
        at: { file: 'f.yaml', line: 18 },
        severity: 'error',
        message:
          'WorkflowTrigger stop correlationKey: payload.idd is not declared by any version it may read (a.b 1.0.0)',
      },
    ]);
  });
});
