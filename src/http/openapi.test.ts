import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildOpenApiDocument } from '../client/openapi-document.ts';

type Operation = {
  operationId?: string;
  security?: unknown[];
  parameters?: Array<{ in: string; name: string }>;
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
};
type Document = {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown> };
};

const operations = (doc: Document) =>
  Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({ path, method, operation })),
  );

/** Every integer schema of the requests, with where it was found. */
function integerSchemas(value: unknown, where: string, out: Array<[string, unknown]>): void {
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) integerSchemas(item, `${where}[${i}]`, out);
  }
  if (typeof value !== 'object' || value === null) return;
  const schema = value as Record<string, unknown>;
  const type = schema.type;
  if (type === 'integer' || type === 'number' || (Array.isArray(type) && type.includes('integer')))
    out.push([where, schema]);
  for (const [key, child] of Object.entries(schema)) integerSchemas(child, `${where}.${key}`, out);
}

describe('the OpenAPI description', () => {
  let doc: Document;
  let folder: string;
  beforeAll(async () => {
    doc = (await buildOpenApiDocument()) as unknown as Document;
    folder = await mkdtemp(join(tmpdir(), 'eps-openapi-'));
  });
  afterAll(() => rm(folder, { recursive: true, force: true }));

  it("passes Redocly's recommended rules with no error and no warning", async () => {
    const file = join(folder, 'openapi.json');
    await writeFile(file, JSON.stringify(doc));
    const cli = createRequire(import.meta.url).resolve('@redocly/cli/bin/cli.js');
    // Offline: no telemetry, no update check, only the built-in ruleset.
    const env = {
      ...process.env,
      REDOCLY_TELEMETRY: 'off',
      REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true',
    };
    const run = await promisify(execFile)(
      process.execPath,
      [cli, 'lint', file, '--extends', 'recommended', '--format', 'json'],
      { env, cwd: folder, maxBuffer: 64 * 1024 * 1024 },
    ).catch((failure: { stdout: string }) => failure);
    const report = JSON.parse(run.stdout) as {
      totals: { errors: number; warnings: number };
      problems: Array<{ ruleId: string; message: string }>;
    };
    expect(report.problems.map((p) => `${p.ruleId}: ${p.message}`)).toEqual([]);
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
  }, 120_000);

  it('names every operation, and answers every one in the shared envelope when it fails', () => {
    const ids = new Set<string>();
    for (const { path, method, operation } of operations(doc)) {
      const name = `${method.toUpperCase()} ${path}`;
      expect(operation.operationId, name).toEqual(expect.any(String));
      ids.add(operation.operationId!);
      const statuses = Object.keys(operation.responses);
      expect(
        statuses.some((s) => s.startsWith('2')),
        `${name} has a success answer`,
      ).toBe(true);
      for (const status of statuses.filter((s) => Number(s) >= 400)) {
        expect(operation.responses[status]!.content?.['application/json']?.schema, name).toEqual({
          $ref: '#/components/schemas/Error',
        });
      }
      if (operation.security?.length) {
        expect(statuses, name).toEqual(expect.arrayContaining(['400', '401']));
      }
      if (path.includes('{'))
        expect(statuses, name).toEqual(expect.arrayContaining(['404', '414']));
    }
    expect(ids.size).toBe(operations(doc).length);
    expect(doc.components.schemas.Error).toBeDefined();
  });

  it('bounds every integer and number a request can carry', () => {
    const found: Array<[string, unknown]> = [];
    for (const { path, method, operation } of operations(doc)) {
      const { responses: _answers, ...request } = operation;
      integerSchemas(request, `${method.toUpperCase()} ${path}`, found);
    }
    expect(found.length).toBeGreaterThan(10);
    for (const [where, schema] of found) {
      expect(schema, where).toMatchObject({
        minimum: expect.any(Number),
        maximum: expect.any(Number),
      });
    }
  });

  it('spells each path parameter one way at each position', () => {
    const names = new Map<string, string>();
    for (const path of Object.keys(doc.paths)) {
      const segments = path.split('/');
      segments.forEach((segment, i) => {
        if (!segment.startsWith('{')) return;
        const prefix = segments.slice(0, i).join('/');
        expect(names.get(prefix) ?? segment, path).toBe(segment);
        names.set(prefix, segment);
      });
    }
  });
});
