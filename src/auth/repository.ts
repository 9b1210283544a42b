import type { Queryable } from '../db/database.ts';
import type { Scope } from './scopes.ts';

/** SQL of API keys. Rows leave here in the wire format; the hash never leaves this file. */

/**
 * `service`: a service account, the key of a named system with scopes of its own, listed apart;
 * `standard`: any other key (a person's, a script's).
 */
export const API_KEY_KINDS = ['standard', 'service'] as const;
export type ApiKeyKind = (typeof API_KEY_KINDS)[number];

export interface ApiKeyRecord {
  id: string;
  kind: ApiKeyKind;
  name: string;
  prefix: string;
  scopes: Scope[];
  created_at: string;
  revoked_at: string | null;
}

interface ApiKeyRow {
  id: string;
  kind: ApiKeyKind;
  name: string;
  prefix: string;
  scopes: Scope[];
  created_at: Date;
  revoked_at: Date | null;
}

/** The row found for a presented key's hash, with the stored hash for the final comparison. */
export interface StoredKey {
  record: ApiKeyRecord;
  keyHash: string;
}

const COLUMNS = 'id, kind, name, prefix, scopes, created_at, revoked_at';

const toRecord = (row: ApiKeyRow): ApiKeyRecord => ({
  id: row.id,
  kind: row.kind,
  name: row.name,
  prefix: row.prefix,
  scopes: row.scopes,
  created_at: row.created_at.toISOString(),
  revoked_at: row.revoked_at ? row.revoked_at.toISOString() : null,
});

export interface NewApiKey {
  kind: ApiKeyKind;
  name: string;
  prefix: string;
  keyHash: string;
  scopes: Scope[];
  createdAt: Date;
}

export async function insertApiKey(db: Queryable, key: NewApiKey): Promise<ApiKeyRecord> {
  const { rows } = await db.query<ApiKeyRow>(
    `INSERT INTO api_keys (kind, name, prefix, key_hash, scopes, created_at)
     VALUES ($1, $2, $3, $4, $5::jsonb, $6) RETURNING ${COLUMNS}`,
    [key.kind, key.name, key.prefix, key.keyHash, JSON.stringify(key.scopes), key.createdAt],
  );
  return toRecord(rows[0]!);
}

/** Inserts the key unless its hash is already stored (revoked or not); true when inserted. */
export async function ensureApiKey(db: Queryable, key: NewApiKey): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO api_keys (kind, name, prefix, key_hash, scopes, created_at)
     VALUES ($1, $2, $3, $4, $5::jsonb, $6) ON CONFLICT (key_hash) DO NOTHING`,
    [key.kind, key.name, key.prefix, key.keyHash, JSON.stringify(key.scopes), key.createdAt],
  );
  return rowCount > 0;
}

export async function findActiveByHash(
  db: Queryable,
  keyHash: string,
): Promise<StoredKey | undefined> {
  const { rows } = await db.query<ApiKeyRow & { key_hash: string }>(
    `SELECT ${COLUMNS}, key_hash FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL`,
    [keyHash],
  );
  const row = rows[0];
  return row ? { record: toRecord(row), keyHash: row.key_hash } : undefined;
}

/** Keys oldest first, all of them or those of one kind. */
export async function listApiKeys(
  db: Queryable,
  kind: ApiKeyKind | undefined,
  limit: number,
  offset: number,
): Promise<{ keys: ApiKeyRecord[]; total: number }> {
  // A NULL kind matches every key: one statement for both listings.
  const [{ rows }, count] = await Promise.all([
    db.query<ApiKeyRow>(
      `SELECT ${COLUMNS} FROM api_keys WHERE ($1::varchar IS NULL OR kind = $1)
        ORDER BY created_at, id LIMIT $2 OFFSET $3`,
      [kind ?? null, limit, offset],
    ),
    db.query<{ total: number }>(
      'SELECT count(*)::int AS total FROM api_keys WHERE ($1::varchar IS NULL OR kind = $1)',
      [kind ?? null],
    ),
  ]);
  return { keys: rows.map(toRecord), total: count.rows[0]!.total };
}

/**
 * Marks the key revoked (a revoked key stays revoked: the first revocation time is kept).
 * Returns the key hash so caches can forget it, or undefined when no key has this id.
 */
export async function revokeApiKey(
  db: Queryable,
  id: string,
  at: Date,
): Promise<{ record: ApiKeyRecord; keyHash: string } | undefined> {
  const { rows } = await db.query<ApiKeyRow & { key_hash: string }>(
    `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1
     RETURNING ${COLUMNS}, key_hash`,
    [id, at],
  );
  const row = rows[0];
  return row ? { record: toRecord(row), keyHash: row.key_hash } : undefined;
}

export async function isRevokedHash(db: Queryable, keyHash: string): Promise<boolean> {
  const { rows } = await db.query<{ revoked: boolean }>(
    'SELECT revoked_at IS NOT NULL AS revoked FROM api_keys WHERE key_hash = $1',
    [keyHash],
  );
  return rows[0]?.revoked ?? false;
}

export async function countActiveApiKeys(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM api_keys WHERE revoked_at IS NULL',
  );
  return rows[0]!.n;
}
