import type { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';

/** ajv-formats is CommonJS with a default export; under NodeNext it arrives as the module object. */
export const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
