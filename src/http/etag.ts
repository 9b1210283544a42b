import { isDeepStrictEqual } from 'node:util';
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

/**
 * The revision `If-Match` requires when a client may send it or not (PUT upserts): undefined
 * when absent (no precondition), else as {@link requiredRevision}.
 */
export function optionalRevision(header: string | undefined): number | '*' | undefined {
  return header === undefined || header.trim() === '' ? undefined : requiredRevision(header);
}

/**
 * Whether `next` holds what `current` holds, field by field for every field of `next` (JSON
 * values compared by content, object keys in any order). `next` carries the complete stored
 * fields a write would save, so "unchanged" means the write would store exactly the same row.
 */
export function isUnchanged(current: object, next: object): boolean {
  const stored = current as Record<string, unknown>;
  return Object.entries(next).every(([key, value]) => isDeepStrictEqual(stored[key], value));
}

/**
 * One rule for every revisioned resource (event definitions, workflow definitions, triggers,
 * subscriptions): a change checks `If-Match` against the current revision, and a change that
 * would store what is already stored writes nothing, so the answer keeps the same revision and
 * ETag (as Kubernetes answers an apply that changes nothing) and nothing downstream reloads.
 */
export async function reviseIfChanged<T extends { revision: number }>(
  requiredRevision: number | '*' | undefined,
  current: T,
  next: object,
  write: () => Promise<T>,
  /** What `next` is compared with, when `current` does not hold its fields as they are written. */
  stored: object = current,
): Promise<T> {
  if (requiredRevision !== undefined) assertRevision(requiredRevision, current.revision);
  return isUnchanged(stored, next) ? current : write();
}

/** An upsert that would create: `If-Match` (even `*`) requires a current representation. */
export function assertNoPrecondition(required: number | '*' | undefined): void {
  if (required === undefined) return;
  throw new AppError(
    412,
    'precondition_failed',
    'If-Match was sent but the resource does not exist yet',
  );
}
