import { describe, expect, it } from 'vitest';
import { circles, folderOf, importsOf, layeringReport } from '../tools/layering.ts';

describe('layering figure', () => {
  it('reads relative imports and re-exports, telling type-only ones apart', () => {
    const text = [
      "import type { A } from './a.ts';",
      "import { type B, c } from '../b.ts';",
      "import { type D } from './d.ts';",
      "export { e } from './e.ts';",
      "import x from 'fastify';",
      "const f = await import('./f.ts');",
    ].join('\n');
    expect(importsOf('/src', 'routing/work.ts', text)).toEqual([
      { from: 'routing/work.ts', to: 'routing/a.ts', typeOnly: true },
      { from: 'routing/work.ts', to: 'b.ts', typeOnly: false },
      { from: 'routing/work.ts', to: 'routing/d.ts', typeOnly: true },
      { from: 'routing/work.ts', to: 'routing/e.ts', typeOnly: false },
      { from: 'routing/work.ts', to: 'routing/f.ts', typeOnly: false },
    ]);
  });

  it('finds circles of two or more, not a node alone', () => {
    const edges: Record<string, string[]> = { a: ['b'], b: ['c', 'a'], c: ['d'], d: ['d'] };
    expect(circles(Object.keys(edges), (n) => edges[n] ?? [])).toEqual([['a', 'b']]);
    expect(folderOf('routing/work.ts')).toBe('routing');
    expect(folderOf('config.ts')).toBe('config.ts');
  });

  it('finds no import circle between the service’s files, nor between its folders', () => {
    const report = layeringReport('src');
    expect(report.fileCircles).toEqual([]);
    // The folders form a DAG (README, Layout): low modules, capabilities, composition.
    expect(report.folderCycles).toEqual([]);
    expect(report.mutualFolders).toEqual([]);
    expect(report.againstLayering).toEqual([]);
  });
});
