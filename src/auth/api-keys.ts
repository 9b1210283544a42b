import { timingSafeEqual } from 'node:crypto';
import type { Clock } from '../clock.ts';
import type { Database } from '../db/database.ts';
import { fieldError, notFound, validationError } from '../errors.ts';
import { generateApiKey, hashApiKey, looksLikeApiKey, visiblePrefix } from './keys.ts';
import {
  type ApiKeyKind,
  type ApiKeyRecord,
  countActiveApiKeys,
  ensureApiKey,
  findActiveByHash,
  insertApiKey,
  isRevokedHash,
  listApiKeys,
  revokeApiKey,
} from './repository.ts';
import type { Scope } from './scopes.ts';

/** Who is calling: the verified API key, without its secret. */
export interface Principal {
  type: 'api_key';
  keyId: string;
  kind: ApiKeyKind;
  name: string;
  scopes: readonly Scope[];
}

export interface ApiKeysOptions {
  db: Database;
  clock: Clock;
  /** Seconds a verified key is trusted without a database read; 0 disables the cache. */
  cacheSeconds: number;
  /** Most keys held in the cache; the oldest entry goes first. Default 10,000. */
  maxCachedKeys?: number;
}

interface CachedKey {
  principal: Principal;
  expiresAt: number;
}

/** A key as created: the only moment its secret exists outside the caller's hands. */
export interface CreatedApiKey extends ApiKeyRecord {
  key: string;
}

export type BootstrapOutcome = 'created' | 'exists' | 'revoked';

/**
 * API keys: creation (the secret is returned once and only its SHA-256 is stored), listing,
 * revocation and verification of presented keys, with a short in-process cache so the request
 * path does not read the database for every call.
 */
export class ApiKeys {
  private readonly cache = new Map<string, CachedKey>();
  private readonly maxCachedKeys: number;

  constructor(private readonly options: ApiKeysOptions) {
    this.maxCachedKeys = options.maxCachedKeys ?? 10_000;
  }

  /** Creates a key; a service account (`kind: 'service'`) needs a non-empty name. */
  async create(input: {
    name: string;
    scopes: Scope[];
    kind?: ApiKeyKind;
  }): Promise<CreatedApiKey> {
    const kind = input.kind ?? 'standard';
    if (kind === 'service' && input.name.trim() === '') {
      const message = 'a service account needs a name';
      throw validationError(message, [fieldError('name', 'required', message)]);
    }
    const key = generateApiKey();
    const record = await insertApiKey(this.options.db, {
      kind,
      name: input.name,
      prefix: visiblePrefix(key),
      keyHash: hashApiKey(key),
      scopes: [...new Set(input.scopes)],
      createdAt: this.options.clock.now(),
    });
    return { ...record, key };
  }

  /** Keys oldest first; `kind` narrows the listing to service accounts or standard keys. */
  list(
    limit: number,
    offset: number,
    kind?: ApiKeyKind,
  ): Promise<{ keys: ApiKeyRecord[]; total: number }> {
    return listApiKeys(this.options.db, kind, limit, offset);
  }

  /** Revokes a key; it stops working at once on this instance, within the cache time elsewhere. */
  async revoke(id: string): Promise<ApiKeyRecord> {
    const revoked = await revokeApiKey(this.options.db, id, this.options.clock.now());
    if (!revoked) throw notFound(`API key ${id}`);
    this.cache.delete(revoked.keyHash);
    return revoked.record;
  }

  /**
   * Makes sure the configured bootstrap key exists as an admin key. A bootstrap key that was
   * revoked stays revoked: revocation is deliberate, a restart must not undo it.
   */
  async ensureBootstrapAdmin(key: string): Promise<BootstrapOutcome> {
    const keyHash = hashApiKey(key);
    const inserted = await ensureApiKey(this.options.db, {
      kind: 'standard',
      name: 'bootstrap admin',
      prefix: visiblePrefix(key),
      keyHash,
      scopes: ['admin'],
      createdAt: this.options.clock.now(),
    });
    if (inserted) return 'created';
    return (await isRevokedHash(this.options.db, keyHash)) ? 'revoked' : 'exists';
  }

  countActive(): Promise<number> {
    return countActiveApiKeys(this.options.db);
  }

  /** The principal of a presented key, or undefined when it is malformed, unknown or revoked. */
  async authenticate(presented: string): Promise<Principal | undefined> {
    if (!looksLikeApiKey(presented)) return undefined;
    const keyHash = hashApiKey(presented);
    const now = this.options.clock.now().getTime();
    const cached = this.cache.get(keyHash);
    if (cached && cached.expiresAt > now) return cached.principal;
    if (cached) this.cache.delete(keyHash);

    const stored = await findActiveByHash(this.options.db, keyHash);
    if (!stored) return undefined;
    // The row was found by hash; the hashes are compared once more in constant time so that no
    // byte-by-byte comparison of secret-derived data happens in this process.
    const expected = Buffer.from(stored.keyHash, 'hex');
    const actual = Buffer.from(keyHash, 'hex');
    if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return undefined;

    const principal: Principal = {
      type: 'api_key',
      keyId: stored.record.id,
      kind: stored.record.kind,
      name: stored.record.name,
      scopes: stored.record.scopes,
    };
    this.remember(keyHash, principal, now);
    return principal;
  }

  /** Forgets every cached verification (tests, after the tables were emptied). */
  forgetCachedKeys(): void {
    this.cache.clear();
  }

  private remember(keyHash: string, principal: Principal, now: number): void {
    if (this.options.cacheSeconds <= 0) return;
    if (this.cache.size >= this.maxCachedKeys) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(keyHash, { principal, expiresAt: now + this.options.cacheSeconds * 1000 });
  }
}
