import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Encryption at rest of subscribers' credentials and signing secrets: AES-256-GCM under one key
 * from configuration, so a leaked database dump or backup does not leak them. The sealed form is
 * `v1:<iv>:<tag>:<ciphertext>` (base64 parts); `v1` names this format and leaves room for another.
 */

/** Length of the encryption key in bytes (AES-256). */
export const ENCRYPTION_KEY_BYTES = 32;

/** Name of the generated key file in the PGlite data folder (see {@link resolveEncryptionKey}). */
export const KEY_FILE_NAME = 'delivery-encryption.key';

const IV_BYTES = 12; // GCM's native nonce size; random per message (2^32 messages per key is safe).
const TAG_BYTES = 16;

/**
 * A 32-byte key written as 64 hex digits or as base64 (e.g. `openssl rand -base64 32`). Throws
 * an Error saying what is wrong; the configuration turns it into its one-line message.
 */
export function parseEncryptionKey(text: string): Buffer {
  const trimmed = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return Buffer.from(trimmed, 'hex');
  const key = Buffer.from(trimmed, 'base64');
  // Buffer.from ignores characters outside the alphabet; the round trip refuses them.
  if (key.length !== ENCRYPTION_KEY_BYTES || key.toString('base64') !== trimmed) {
    throw new Error(`must be ${ENCRYPTION_KEY_BYTES} bytes as 64 hex digits or base64`);
  }
  return key;
}

/** Thrown when sealed text is malformed, was sealed under another key or context, or was changed. */
export class DecryptionError extends Error {
  override name = 'DecryptionError';
}

export interface CredentialCipher {
  /**
   * Seals `plaintext`. `context` (e.g. `subscription:<id>:credentials`) is authenticated but not
   * stored: decrypting needs the same context, so a sealed value copied to another row or field
   * does not decrypt there. Default: empty.
   */
  encrypt(plaintext: string, context?: string): string;
  /** Opens what {@link encrypt} sealed, or throws {@link DecryptionError}. */
  decrypt(sealed: string, context?: string): string;
}

export function createCredentialCipher(key: Buffer): CredentialCipher {
  if (key.length !== ENCRYPTION_KEY_BYTES) {
    throw new Error(`the encryption key must be ${ENCRYPTION_KEY_BYTES} bytes`);
  }
  return {
    encrypt(plaintext, context = '') {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(context, 'utf8'));
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      const parts = [iv, cipher.getAuthTag(), ciphertext].map((b) => b.toString('base64'));
      return `v1:${parts.join(':')}`;
    },
    decrypt(sealed, context = '') {
      const [version, iv, tag, ciphertext, ...rest] = sealed.split(':');
      if (version !== 'v1' || ciphertext === undefined || rest.length > 0) {
        throw new DecryptionError('not a v1 sealed value');
      }
      const ivBytes = Buffer.from(iv!, 'base64');
      const tagBytes = Buffer.from(tag!, 'base64');
      if (ivBytes.length !== IV_BYTES || tagBytes.length !== TAG_BYTES) {
        throw new DecryptionError('not a v1 sealed value');
      }
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, ivBytes, {
          authTagLength: TAG_BYTES,
        });
        decipher.setAAD(Buffer.from(context, 'utf8'));
        decipher.setAuthTag(tagBytes);
        const plaintext = Buffer.concat([
          decipher.update(Buffer.from(ciphertext, 'base64')),
          decipher.final(),
        ]);
        return plaintext.toString('utf8');
      } catch {
        throw new DecryptionError('wrong key or context, or the sealed value was changed');
      }
    },
  };
}

/** Shown instead of a credential; short ones show nothing of themselves. */
const MASK = '****';
/** Below this length the last 4 characters would give away too much of a credential. */
const MIN_LENGTH_TO_SHOW_TAIL = 12;

/**
 * Credentials as API output shows them: `****` and, for values of 12 characters or more, their
 * last 4 (`****abcd`) so an operator can tell two apart. Objects are masked value by value
 * (non-string values become `****`).
 */
export function mask(credentials: string): string;
export function mask(credentials: Readonly<Record<string, unknown>>): Record<string, string>;
export function mask(
  credentials: string | Readonly<Record<string, unknown>>,
): string | Record<string, string> {
  if (typeof credentials !== 'string') {
    return Object.fromEntries(
      Object.entries(credentials).map(([name, value]) => [
        name,
        typeof value === 'string' ? mask(value) : MASK,
      ]),
    );
  }
  return credentials.length >= MIN_LENGTH_TO_SHOW_TAIL ? MASK + credentials.slice(-4) : MASK;
}

export interface KeySource {
  /** `DELIVERY_ENCRYPTION_KEY`, parsed. */
  configuredKey: Buffer | undefined;
  /** `DATABASE_URL`: set means PostgreSQL, possibly shared by several instances. */
  databaseUrl: string | undefined;
  /** `DATA_DIR`, PGlite's folder. */
  dataDir: string;
}

/**
 * The key to use. The configured key when there is one. Without one:
 * - with PostgreSQL (`DATABASE_URL`), refuses: instances sharing a database must share the key,
 *   and a key made up by one instance would leave the others unable to decrypt;
 * - with PGlite, reads `<DATA_DIR>/delivery-encryption.key`, creating it (random, mode 0600) the
 *   first time, so `npm start` works with no setup. That key sits beside the data it protects:
 *   a convenience for development, not protection. Production sets `DELIVERY_ENCRYPTION_KEY`.
 */
export async function resolveEncryptionKey(source: KeySource): Promise<Buffer> {
  if (source.configuredKey) return source.configuredKey;
  if (source.databaseUrl !== undefined) {
    throw new Error(
      'DELIVERY_ENCRYPTION_KEY must be set with DATABASE_URL: every instance sharing the database needs the same key',
    );
  }
  await mkdir(source.dataDir, { recursive: true });
  const path = join(source.dataDir, KEY_FILE_NAME);
  const key = randomBytes(ENCRYPTION_KEY_BYTES);
  // Written aside and linked into place: link() fails if the file exists, so a concurrent
  // start never sees a half-written key and never replaces one already in use.
  const pending = `${path}.${randomBytes(6).toString('hex')}`;
  await writeFile(pending, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  try {
    await link(pending, path);
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await unlink(pending);
  }
  try {
    return parseEncryptionKey(await readFile(path, 'utf8'));
  } catch (error) {
    throw new Error(`${path}: ${(error as Error).message}`);
  }
}
