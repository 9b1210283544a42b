/**
 * Small helpers for the parameterised SQL the owner modules write by hand. Identifiers passed
 * here (column names, aliases) come from the service's code, never from a client: values
 * always travel as parameters.
 */

/** `"a", "b"`, or `e."a", e."b"` with a table alias: every name quoted, so reserved words pass. */
export function columnList(columns: readonly string[], alias?: string): string {
  const prefix = alias === undefined ? '' : `${alias}.`;
  return columns.map((column) => `${prefix}"${column}"`).join(', ');
}
