import { createHash, randomBytes } from 'node:crypto';

/** Shape of a full API key: `eps_` and at least 32 URL-safe characters. */
export const API_KEY_FORMAT = /^eps_[A-Za-z0-9_-]{32,128}$/;

/** Characters of a key kept in clear (`eps_` and 8 more) so listings can tell keys apart. */
const VISIBLE_PREFIX_LENGTH = 12;

/** A new key: `eps_` and 32 random bytes in base64url (256 bits of entropy). */
export function generateApiKey(): string {
  return `eps_${randomBytes(32).toString('base64url')}`;
}

/**
 * The stored form of a key: its SHA-256 in hex. A fast hash suffices: keys are 256 random bits,
 * not passwords, so there is nothing to guess from the hash.
 */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export function visiblePrefix(key: string): string {
  return key.slice(0, VISIBLE_PREFIX_LENGTH);
}

/** Cheap shape check before any hashing or database work; garbage is refused straight away. */
export function looksLikeApiKey(value: string): boolean {
  return API_KEY_FORMAT.test(value);
}
