/** A JSON Schema as a readable tree: each property with its type, required, enum and description. */

interface Schema {
  type?: string | string[];
  description?: string;
  enum?: unknown[];
  const?: unknown;
  format?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  minimum?: number;
  maximum?: number;
  pattern?: string;
  $ref?: string;
  anyOf?: Schema[];
  oneOf?: Schema[];
}

const MAX_DEPTH = 12;

function typeOf(schema: Schema): string {
  if (schema.$ref) return schema.$ref;
  if (schema.anyOf || schema.oneOf) return (schema.anyOf ?? schema.oneOf)!.map(typeOf).join(' | ');
  const type = Array.isArray(schema.type) ? schema.type.join(' | ') : (schema.type ?? 'any');
  return type === 'array' && schema.items ? `${typeOf(schema.items)}[]` : type;
}

function constraints(schema: Schema): string[] {
  const notes: string[] = [];
  if (schema.format) notes.push(`format ${schema.format}`);
  if (schema.minimum !== undefined) notes.push(`≥ ${schema.minimum}`);
  if (schema.maximum !== undefined) notes.push(`≤ ${schema.maximum}`);
  if (schema.pattern) notes.push(`matches ${schema.pattern}`);
  if (schema.const !== undefined) notes.push(`= ${JSON.stringify(schema.const)}`);
  return notes;
}

function Properties({ schema, depth }: { schema: Schema; depth: number }) {
  const object = schema.type === 'array' && schema.items ? schema.items : schema;
  const entries = Object.entries(object.properties ?? {});
  if (entries.length === 0 || depth > MAX_DEPTH) return null;
  return (
    <ul className="schema-tree">
      {entries.map(([name, property]) => (
        <li key={name}>
          <code className="schema-name">{name}</code>{' '}
          <span className="schema-type">{typeOf(property)}</span>
          {object.required?.includes(name) && <span className="badge">required</span>}
          {property.enum && (
            <span className="schema-enum">
              one of {property.enum.map((v) => JSON.stringify(v)).join(', ')}
            </span>
          )}
          {constraints(property).map((note) => (
            <span key={note} className="muted">
              {' '}
              {note}
            </span>
          ))}
          {property.description && <div className="muted">{property.description}</div>}
          <Properties schema={property} depth={depth + 1} />
        </li>
      ))}
    </ul>
  );
}

export function SchemaTree({ schema }: { schema: unknown }) {
  const root = (schema ?? {}) as Schema;
  return (
    <div>
      <p>
        <span className="schema-type">{typeOf(root)}</span>
        {root.description && <span className="muted"> — {root.description}</span>}
      </p>
      <Properties schema={root} depth={0} />
    </div>
  );
}
