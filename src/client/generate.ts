import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import openapiTS, { astToString, COMMENT_HEADER } from 'openapi-typescript';
import { buildOpenApiDocument } from './openapi-document.ts';

/** The checked-in types of the typed client, generated from the service's OpenAPI document. */
export const GENERATED_TYPES = fileURLToPath(new URL('./generated/openapi.ts', import.meta.url));

/**
 * The TypeScript types openapi-typescript makes of the current routes' OpenAPI document. Only
 * the document goes in, so the output is the same for the same routes on any machine.
 */
export async function generateClientTypes(): Promise<string> {
  const document = await buildOpenApiDocument();
  // openapi-typescript's Redocly-based reader takes the document as a JSON string.
  const ast = await openapiTS(JSON.stringify(document), {
    alphabetize: false,
    emptyObjectsUnknown: true,
  });
  return `${COMMENT_HEADER}${GENERATED_NOTE}${astToString(ast)}`;
}

const GENERATED_NOTE =
  '// Generated from the service routes by `npm run client:generate` (src/client/generate.ts).\n' +
  '// Do not edit: src/client/client.test.ts fails when this file differs from the routes.\n\n';

/** Whether the checked-in types are those of the current routes (the test's question). */
export async function checkedInTypesAreCurrent(): Promise<{ current: boolean; generated: string }> {
  const generated = await generateClientTypes();
  const checkedIn = await readFile(GENERATED_TYPES, 'utf8').catch(() => '');
  return { current: checkedIn === generated, generated };
}

// `npm run client:generate`: rewrite the checked-in types.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { current, generated } = await checkedInTypesAreCurrent();
  if (!current) await writeFile(GENERATED_TYPES, generated);
  process.stdout.write(`${GENERATED_TYPES}: ${current ? 'already current' : 'regenerated'}\n`);
}
