import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { CONSOLE_DIST } from './routes.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CONSOLE = join(ROOT, 'console');
// The CLI of the Vite the console depends on (the package exports no path to it).
const VITE = join(
  dirname(createRequire(join(CONSOLE, 'package.json')).resolve('vite/package.json')),
  'bin/vite.js',
);

/**
 * What the console's build is made from: its own sources and configuration, the typed client
 * it talks through (and the generated types), the pure modules it shares with the service, and
 * the locked dependency versions. A change to any of them makes the build stale.
 */
const INPUTS = [
  'console/index.html',
  'console/package.json',
  'console/tsconfig.json',
  'console/vite.config.ts',
  'console/src',
  'src/client',
  'src/routing/pattern.ts',
  'src/expressions/parse-error.ts',
  'package-lock.json',
];

/** The budget of the issue: JavaScript a first visit to /console downloads, gzipped. */
export const FIRST_LOAD_JS_BUDGET_BYTES = 300 * 1024;

const STAMP = '.inputs-sha256';

async function filesUnder(path: string): Promise<string[]> {
  const info = await stat(path).catch(() => undefined);
  if (!info) return [];
  if (info.isFile()) return [path];
  const entries = await readdir(path, { withFileTypes: true });
  const nested = await Promise.all(
    entries
      .filter((entry) => !entry.name.endsWith('.test.ts') && !entry.name.endsWith('.test.tsx'))
      .map((entry) => filesUnder(join(path, entry.name))),
  );
  return nested.flat();
}

/** A digest of every input file's path and content. */
export async function inputsDigest(): Promise<string> {
  const files = (await Promise.all(INPUTS.map((input) => filesUnder(join(ROOT, input)))))
    .flat()
    .sort();
  const hash = createHash('sha256');
  for (const file of files) {
    hash
      .update(relative(ROOT, file))
      .update('\0')
      .update(await readFile(file))
      .update('\0');
  }
  return hash.digest('hex');
}

export interface BundleReport {
  /** Gzipped bytes of the JavaScript /console loads before it can render (entry + preloads). */
  firstLoadJsGzipBytes: number;
  firstLoadJsFiles: string[];
  /** Gzipped bytes of every JavaScript file, lazily loaded pages included. */
  totalJsGzipBytes: number;
}

/** Measures the built console: what a first visit downloads is what index.html references. */
export async function bundleReport(distDir = CONSOLE_DIST): Promise<BundleReport> {
  const html = await readFile(join(distDir, 'index.html'), 'utf8');
  const firstLoadJsFiles = [...html.matchAll(/(?:src|href)="\/console\/(assets\/[^"]+\.js)"/g)].map(
    (match) => match[1]!,
  );
  const gzipped = async (file: string) =>
    (
      await readFile(join(distDir, `${file}.gz`)).catch(async () =>
        gzipSync(await readFile(join(distDir, file))),
      )
    ).length;
  const sizes = await Promise.all(firstLoadJsFiles.map(gzipped));
  const allJs = (await readdir(join(distDir, 'assets'))).filter((name) => name.endsWith('.js'));
  const allSizes = await Promise.all(allJs.map((name) => gzipped(`assets/${name}`)));
  const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
  return {
    firstLoadJsGzipBytes: sum(sizes),
    firstLoadJsFiles,
    totalJsGzipBytes: sum(allSizes),
  };
}

/** Writes `name.gz` and `name.br` beside every asset, served to browsers that accept them. */
async function precompress(distDir: string): Promise<void> {
  const assets = join(distDir, 'assets');
  for (const name of await readdir(assets)) {
    if (!/\.(js|css|svg|json)$/.test(name)) continue;
    const content = await readFile(join(assets, name));
    await writeFile(join(assets, `${name}.gz`), gzipSync(content, { level: 9 }));
    await writeFile(
      join(assets, `${name}.br`),
      brotliCompressSync(content, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }),
    );
  }
}

/**
 * Only one build at a time: test files start in parallel and each makes sure the console is
 * built. The lock is a file created exclusively; a holder that died leaves it behind, so a lock
 * older than the longest build is taken over.
 */
async function withBuildLock<T>(work: () => Promise<T>): Promise<T> {
  const lock = join(CONSOLE, '.build.lock');
  for (;;) {
    try {
      const handle = await open(lock, 'wx');
      await handle.close();
      break;
    } catch {
      const held = await stat(lock).catch(() => undefined);
      if (held && Date.now() - held.mtimeMs > 5 * 60_000) await rm(lock, { force: true });
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  try {
    return await work();
  } finally {
    await rm(lock, { force: true });
  }
}

/**
 * Builds the console with Vite unless console/dist was built from the current inputs; `npm
 * start` and `npm test` call this, so a fresh clone needs no separate build step.
 */
export async function ensureConsoleBuilt(
  log: (line: string) => void = () => {},
): Promise<{ built: boolean; report: BundleReport }> {
  return withBuildLock(async () => {
    const digest = await inputsDigest();
    const stamped = await readFile(join(CONSOLE_DIST, STAMP), 'utf8').catch(() => '');
    if (stamped === digest) return { built: false, report: await bundleReport() };
    log('building the console (console/dist) with Vite…');
    // A process of its own, with NODE_ENV=production: under vitest NODE_ENV is `test`, and Vite
    // would then bundle React's development build.
    await promisify(execFile)(process.execPath, [VITE, 'build', '--logLevel', 'warn'], {
      cwd: CONSOLE,
      env: { ...process.env, NODE_ENV: 'production' },
    });
    await precompress(CONSOLE_DIST);
    await mkdir(CONSOLE_DIST, { recursive: true });
    await writeFile(join(CONSOLE_DIST, STAMP), digest);
    return { built: true, report: await bundleReport() };
  });
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

// `npm run console:build`: build when stale and report the first-load size against its budget.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const force = process.argv.includes('--force');
  if (force) await rm(join(CONSOLE_DIST, STAMP), { force: true });
  const { built, report } = await ensureConsoleBuilt((line) => process.stderr.write(`${line}\n`));
  const within = report.firstLoadJsGzipBytes <= FIRST_LOAD_JS_BUDGET_BYTES;
  process.stderr.write(
    `console ${built ? 'built' : 'up to date'}: first load ${kib(report.firstLoadJsGzipBytes)} ` +
      `of JavaScript gzipped (budget ${kib(FIRST_LOAD_JS_BUDGET_BYTES)}${within ? '' : ', EXCEEDED'}), ` +
      `${kib(report.totalJsGzipBytes)} with every page\n`,
  );
}
