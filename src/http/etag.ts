import { AppError } from '../errors.ts';

/** Strong ETag of a resource revision. */
export const etagOf = (revision: number) => `"${revision}"`;

/**
 * The revision an `If-Match` header requires, or `'*'`. A write without `If-Match` is refused
 * with 428: lost updates are not allowed to happen silently.
 */
export function requiredRevision(header: string | undefined): number | '*' {
  if (header === undefined || header.trim() === '') {
    throw new AppError(
      428,
      'precondition_required',
      'If-Match header with the resource ETag is required',
    );
  }
  if (header.trim() === '*') return '*';
  const match = /^\s*(?:W\/)?"(\d+)"\s*$/.exec(header);
  if (!match)
    throw new AppError(412, 'precondition_failed', 'If-Match does not match the current ETag');
  return Number(match[1]);
}

export function assertRevision(required: number | '*', current: number): void {
  if (required === '*' || required === current) return;
  throw new AppError(
    412,
    'precondition_failed',
    `If-Match does not match the current ETag ${etagOf(current)}`,
  );
}

/** Sets the resource's ETag on the reply and returns the resource (single-resource answers). */
export function withEtag<T extends { revision: number }>(
  reply: { header(name: string, value: string): unknown },
  resource: T,
): T {
  reply.header('etag', etagOf(resource.revision));
  return resource;
}
