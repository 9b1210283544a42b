import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { type Document, isMap, LineCounter, parseAllDocuments } from 'yaml';

/**
 * Resource files of `eps apply` / `eps validate`: YAML or JSON, one or many documents each
 * (`---`), every document one resource with `kind` and the fields of the API body it stands for,
 * e.g. `kind: WorkflowTrigger`, `name: start-booking`, `eventPattern: bookings.created`, …
 * Pure parsing and shape checks; no I/O beyond reading the files.
 */

export const KINDS = [
  'EventDefinition',
  'WorkflowDefinition',
  'WorkflowTrigger',
  'Subscription',
  'EventProcessor',
] as const;
export type Kind = (typeof KINDS)[number];

/** A file position people can jump to: `examples/booking.yaml:12`. */
export interface Position {
  file: string;
  line: number;
}

export interface Resource {
  kind: Kind;
  /** The natural key: `event_id@version`, `name@version`, or the name. */
  key: string;
  /** The document without `kind`: the API body. */
  body: Record<string, unknown>;
  /** Where the document starts. */
  at: Position;
  /** Where a field of the document is (its own line when it is there, else the document's). */
  positionOf(path: readonly (string | number)[]): Position;
}

export interface FileProblem {
  at: Position;
  message: string;
}

export function formatPosition(at: Position): string {
  return `${at.file}:${at.line}`;
}

const NAME = /^[a-z0-9][a-z0-9._-]{0,127}$/;
const FILE_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/** The fields that make up each kind's natural key (required strings). */
const KEY_FIELDS: Record<Kind, readonly string[]> = {
  EventDefinition: ['event_id', 'version'],
  WorkflowDefinition: ['name', 'version'],
  WorkflowTrigger: ['name'],
  Subscription: ['name'],
  EventProcessor: ['name'],
};

/** Kinds keyed by a bare name, which must be a valid resource name. */
const NAMED_KINDS: ReadonlySet<Kind> = new Set([
  'WorkflowTrigger',
  'Subscription',
  'EventProcessor',
]);

/** Every YAML/JSON file under the given files and folders, in a stable order. */
export async function expandPaths(paths: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const path of paths) {
    const info = await stat(path);
    if (!info.isDirectory()) {
      files.push(path);
      continue;
    }
    const entries = (await readdir(path, { withFileTypes: true })).sort((a, b) =>
      a.name.localeCompare(b.name),
    );
    const nested = entries
      .filter((e) => e.isDirectory() || FILE_EXTENSIONS.has(extname(e.name)))
      .map((e) => join(path, e.name));
    files.push(...(await expandPaths(nested)));
  }
  return files;
}

export interface LoadedManifests {
  resources: Resource[];
  problems: FileProblem[];
}

/** Reads and checks every document of the files under `paths`. */
export async function loadManifests(paths: readonly string[]): Promise<LoadedManifests> {
  const loaded: LoadedManifests = { resources: [], problems: [] };
  for (const file of await expandPaths(paths)) {
    const parsed = parseManifestText(file, await readFile(file, 'utf8'));
    loaded.resources.push(...parsed.resources);
    loaded.problems.push(...parsed.problems);
  }
  loaded.problems.push(...duplicateKeys(loaded.resources));
  return loaded;
}

/** Parses one file's text (YAML, which includes JSON) into resources and problems. */
export function parseManifestText(file: string, text: string): LoadedManifests {
  const lines = new LineCounter();
  const documents = parseAllDocuments(text, { lineCounter: lines, uniqueKeys: true });
  const result: LoadedManifests = { resources: [], problems: [] };
  const lineAt = (offset: number) => lines.linePos(offset).line;
  for (const document of Array.isArray(documents) ? documents : [documents]) {
    if (document.errors.length > 0) {
      for (const error of document.errors) {
        result.problems.push({
          at: { file, line: lineAt(error.pos[0]) },
          message: error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''),
        });
      }
      continue;
    }
    if (document.contents === null) continue; // an empty document (a trailing `---`)
    const resource = toResource(file, document, lineAt);
    if ('message' in resource) result.problems.push(resource);
    else result.resources.push(resource);
  }
  return result;
}

function toResource(
  file: string,
  document: Document.Parsed,
  lineAt: (offset: number) => number,
): Resource | FileProblem {
  const start = document.contents?.range[0] ?? 0;
  const at = { file, line: lineAt(start) };
  const positionOf = (path: readonly (string | number)[]): Position => {
    for (let depth = path.length; depth > 0; depth--) {
      const node = document.getIn(path.slice(0, depth), true) as { range?: number[] } | undefined;
      const range = (node as { range?: number[] } | undefined)?.range;
      if (range) return { file, line: lineAt(range[0]!) };
    }
    return at;
  };
  if (!isMap(document.contents)) {
    return { at, message: 'a document must be a mapping with a kind' };
  }
  const { kind, ...body } = document.toJS() as Record<string, unknown>;
  if (!KINDS.includes(kind as Kind)) {
    return {
      at: positionOf(['kind']),
      message: `kind must be one of ${KINDS.join(', ')}, got ${JSON.stringify(kind ?? null)}`,
    };
  }
  const keyFields = KEY_FIELDS[kind as Kind];
  for (const field of keyFields) {
    if (typeof body[field] !== 'string' || body[field] === '') {
      return { at: positionOf([field]), message: `${kind} needs ${field} (a string)` };
    }
  }
  if (NAMED_KINDS.has(kind as Kind) && !NAME.test(body.name as string)) {
    return {
      at: positionOf(['name']),
      message: `name must be lowercase letters, digits, ., _ and - (at most 128), got ${JSON.stringify(body.name)}`,
    };
  }
  return {
    kind: kind as Kind,
    key: keyFields.map((field) => body[field]).join('@'),
    body,
    at,
    positionOf,
  };
}

function duplicateKeys(resources: readonly Resource[]): FileProblem[] {
  const seen = new Map<string, Resource>();
  const problems: FileProblem[] = [];
  for (const resource of resources) {
    const id = `${resource.kind} ${resource.key}`;
    const first = seen.get(id);
    if (first) {
      problems.push({
        at: resource.at,
        message: `${id} is also defined at ${formatPosition(first.at)}`,
      });
    } else seen.set(id, resource);
  }
  return problems;
}
