import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * A worker thread running the TypeScript module at `moduleUrl` (its `import.meta.url`). The
 * service runs its source through tsx (no build step), and Node 20 does not hand tsx's loader
 * (or vitest's) to worker threads: the thread registers tsx itself and then loads the module.
 */
export function startTypeScriptWorker(
  moduleUrl: string,
  options: Omit<WorkerOptions, 'eval'> = {},
): Worker {
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const module = JSON.stringify(moduleUrl);
  const source = `import(${tsx}).then((tsx) => tsx.tsImport(${module}, ${module}))`;
  return new Worker(source, { ...options, eval: true });
}
