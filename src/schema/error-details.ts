import type { ErrorObject } from 'ajv';
import type { ErrorDetail } from '../errors.ts';

/** `/items/0/id` → `items[0].id`, appended to `prefix` (`payload`, `examples[2]`, …). */
export function jsonPointerToField(pointer: string, prefix = ''): string {
  let field = prefix;
  for (const raw of pointer.split('/').slice(1)) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(segment)) field += `[${segment}]`;
    else field += field === '' ? segment : `.${segment}`;
  }
  return field;
}

/** The property an error is about, when ajv names it in params rather than in the path. */
function namedProperty(error: ErrorObject): string | undefined {
  const params = error.params as Record<string, unknown>;
  if (error.keyword === 'required') return String(params.missingProperty);
  if (error.keyword === 'additionalProperties') return String(params.additionalProperty);
  if (error.keyword === 'unevaluatedProperties') return String(params.unevaluatedProperty);
  return undefined;
}

function describe(error: ErrorObject): string {
  if (error.keyword === 'additionalProperties') return 'is not an allowed property';
  if (error.keyword === 'required') return 'is required';
  // Our own route schemas describe their patterns; a bare regex is no message for a person.
  const description = (error.parentSchema as { description?: unknown } | undefined)?.description;
  if (error.keyword === 'pattern' && typeof description === 'string')
    return `must be ${description}`;
  return error.message ?? `fails ${error.keyword}`;
}

/** ajv errors as envelope details, each naming the field (under `prefix`). */
export function ajvErrorsToDetails(
  errors: ErrorObject[] | null | undefined,
  prefix = '',
): ErrorDetail[] {
  return (errors ?? []).map((error) => {
    const base = jsonPointerToField(error.instancePath, prefix);
    const property = namedProperty(error);
    const field = property === undefined ? base : base === '' ? property : `${base}.${property}`;
    return {
      field: field === '' ? prefix || '(root)' : field,
      code: error.keyword,
      message: describe(error),
    };
  });
}
