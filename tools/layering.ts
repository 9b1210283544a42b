/**
 * The layering figure: import circles between files and cycles between folders of `src/`.
 *
 * `npm run layering [-- --root path/to/src]` prints the file-level circles (strongly connected
 * sets of files), the folder-level cycles (a folder is `src/<name>/`; each file at the top of
 * `src/` counts as a folder of its own) and the imports that run against the layering: those
 * from one folder into another of the same folder cycle. Tests and test support (`*.test.ts`,
 * `src/testing/`, the browser tests' harness in `e2e/` folders) are left out: they may import
 * anything. Every import counts, type-only ones
 * too (they are design dependencies); the runtime figure leaves `import type` out.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

export interface ImportEdge {
  from: string;
  to: string;
  /** Erased at runtime: `import type`, or every named import marked `type`. */
  typeOnly: boolean;
}

export interface LayeringReport {
  files: number;
  /** Sets of two or more files that import each other, directly or around a circle. */
  fileCircles: string[][];
  /** The same, counting only imports that remain at runtime. */
  runtimeFileCircles: string[][];
  /** Sets of two or more folders that import each other, directly or around a cycle. */
  folderCycles: string[][];
  /** Pairs of folders that import each other directly, as `a <-> b`: the cheapest cycles to cut. */
  mutualFolders: string[];
  /** Imports from one folder into another of the same folder cycle, as `from -> to`. */
  againstLayering: string[];
}

function sourceFiles(root: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(root, { withFileTypes: true, recursive: true })) {
    const path = join(entry.parentPath, entry.name);
    const name = relative(root, path);
    if (!entry.isFile() || !name.endsWith('.ts') || name.endsWith('.test.ts')) continue;
    if (name.startsWith('testing/') || name.includes('/e2e/') || name.endsWith('.d.ts')) continue;
    files.push(name);
  }
  return files.sort();
}

/** The relative imports and re-exports of one file, resolved against `root`. */
export function importsOf(root: string, file: string, text: string): ImportEdge[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false);
  const edges: ImportEdge[] = [];
  const add = (specifier: ts.Expression | undefined, typeOnly: boolean) => {
    if (!specifier || !ts.isStringLiteral(specifier) || !specifier.text.startsWith('.')) return;
    const to = relative(root, resolve(root, dirname(file), specifier.text));
    edges.push({ from: file, to, typeOnly });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      const named = clause?.namedBindings;
      const allNamedTypes =
        named !== undefined &&
        ts.isNamedImports(named) &&
        named.elements.length > 0 &&
        named.elements.every((element) => element.isTypeOnly) &&
        clause?.name === undefined;
      add(node.moduleSpecifier, clause?.isTypeOnly === true || allNamedTypes);
    } else if (ts.isExportDeclaration(node)) {
      add(node.moduleSpecifier, node.isTypeOnly);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0]
    ) {
      add(node.arguments[0], false);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return edges;
}

/** Tarjan's strongly connected components of two or more nodes, each sorted, largest first. */
export function circles(nodes: Iterable<string>, next: (node: string) => Iterable<string>) {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const connect = (node: string) => {
    index.set(node, index.size);
    low.set(node, index.get(node) as number);
    stack.push(node);
    onStack.add(node);
    for (const to of next(node)) {
      if (!index.has(to)) {
        connect(to);
        low.set(node, Math.min(low.get(node) as number, low.get(to) as number));
      } else if (onStack.has(to)) {
        low.set(node, Math.min(low.get(node) as number, index.get(to) as number));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string | undefined;
    do {
      member = stack.pop() as string;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1) found.push(component.sort());
  };
  for (const node of nodes) if (!index.has(node)) connect(node);
  return found.sort((a, b) => b.length - a.length || a[0]!.localeCompare(b[0]!));
}

/** The folder a file belongs to: `routing/work.ts` → `routing`, `app.ts` → `app.ts`. */
export function folderOf(file: string): string {
  const slash = file.indexOf('/');
  return slash === -1 ? file : file.slice(0, slash);
}

export function layeringReport(root: string): LayeringReport {
  const files = sourceFiles(root);
  const known = new Set(files);
  const edges = files
    .flatMap((file) => importsOf(root, file, readFileSync(join(root, file), 'utf8')))
    .filter((edge) => known.has(edge.to));
  const graph = (kept: ImportEdge[]) => {
    const out = new Map<string, Set<string>>();
    for (const { from, to } of kept) out.set(from, (out.get(from) ?? new Set()).add(to));
    return (node: string) => out.get(node) ?? [];
  };
  const folderEdges = edges
    .map((edge) => ({ ...edge, from: folderOf(edge.from), to: folderOf(edge.to) }))
    .filter((edge) => edge.from !== edge.to);
  const folderCycles = circles(new Set(files.map(folderOf)), graph(folderEdges));
  const folderPairs = new Set(folderEdges.map(({ from, to }) => `${from}\0${to}`));
  const cycleOf = new Map(folderCycles.flatMap((cycle, n) => cycle.map((f) => [f, n] as const)));
  return {
    files: files.length,
    fileCircles: circles(files, graph(edges)),
    runtimeFileCircles: circles(files, graph(edges.filter((edge) => !edge.typeOnly))),
    folderCycles,
    mutualFolders: [...folderPairs]
      .map((pair) => pair.split('\0') as [string, string])
      .filter(([from, to]) => from < to && folderPairs.has(`${to}\0${from}`))
      .map(([from, to]) => `${from} <-> ${to}`)
      .sort(),
    againstLayering: edges
      .filter(({ from, to }) => {
        const cycle = cycleOf.get(folderOf(from));
        return (
          folderOf(from) !== folderOf(to) &&
          cycle !== undefined &&
          cycle === cycleOf.get(folderOf(to))
        );
      })
      .map(({ from, to }) => `${from} -> ${to}`),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const at = process.argv.indexOf('--root');
  const root = resolve(at === -1 ? 'src' : (process.argv[at + 1] ?? 'src'));
  const report = layeringReport(root);
  const list = (title: string, sets: string[][]) => {
    console.log(`${title}: ${sets.length}`);
    for (const set of sets) console.log(`  (${set.length}) ${set.join(' ')}`);
  };
  console.log(`files: ${report.files}`);
  list('file import circles', report.fileCircles);
  list('file import circles at runtime (without import type)', report.runtimeFileCircles);
  list('folder cycles', report.folderCycles);
  console.log(`folders importing each other: ${report.mutualFolders.length}`);
  for (const pair of report.mutualFolders) console.log(`  ${pair}`);
  console.log(
    `imports against the layering (within a folder cycle): ${report.againstLayering.length}`,
  );
  if (process.argv.includes('--verbose'))
    for (const edge of report.againstLayering) console.log(`  ${edge}`);
}
