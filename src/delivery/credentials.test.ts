import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createCredentialCipher,
  DecryptionError,
  KEY_FILE_NAME,
  mask,
  parseEncryptionKey,
  resolveEncryptionKey,
} from './credentials.ts';

const key = randomBytes(32);
const cipher = createCredentialCipher(key);

describe('createCredentialCipher', () => {
  it('seals as v1:<iv>:<tag>:<ciphertext> and opens it again', () => {
    const sealed = cipher.encrypt('Bearer s3cr3t-token-ünïcode');
    expect(sealed).toMatch(/^v1:[A-Za-z0-9+/]{16}:[A-Za-z0-9+/]{22}==:[A-Za-z0-9+/=]+$/);
    expect(sealed).not.toContain('s3cr3t');
    expect(cipher.decrypt(sealed)).toBe('Bearer s3cr3t-token-ünïcode');
    expect(cipher.decrypt(cipher.encrypt(''))).toBe('');
  });

  it('uses a fresh IV every time, so equal secrets do not look equal at rest', () => {
    expect(cipher.encrypt('same')).not.toBe(cipher.encrypt('same'));
  });

  it('refuses a changed IV, tag or ciphertext', () => {
    const sealed = cipher.encrypt('user:password');
    const parts = sealed.split(':');
    for (const index of [1, 2, 3]) {
      const bytes = Buffer.from(parts[index]!, 'base64');
      bytes[0]! ^= 1;
      const tampered = parts.map((part, i) => (i === index ? bytes.toString('base64') : part));
      expect(() => cipher.decrypt(tampered.join(':'))).toThrow(DecryptionError);
    }
  });

  it('refuses another key and another context', () => {
    const sealed = cipher.encrypt('api-key-123', 'subscription:a:credentials');
    expect(cipher.decrypt(sealed, 'subscription:a:credentials')).toBe('api-key-123');
    expect(() => cipher.decrypt(sealed, 'subscription:b:credentials')).toThrow(DecryptionError);
    expect(() => cipher.decrypt(sealed)).toThrow(DecryptionError);
    const other = createCredentialCipher(randomBytes(32));
    expect(() => other.decrypt(sealed, 'subscription:a:credentials')).toThrow(
      /wrong key or context/,
    );
  });

  it.each([
    'plain text',
    'v2:AAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAA==:AA==',
    'v1:AAAA:AAAAAAAAAAAAAAAAAAAAAA==:AA==',
    'v1:AAAAAAAAAAAAAAAA:AAAA:AA==',
    'v1:AAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAA==',
    'v1:AAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAA==:AA==:extra',
  ])('refuses the malformed %j', (sealed) => {
    expect(() => cipher.decrypt(sealed)).toThrow(DecryptionError);
  });

  it('needs a 32-byte key', () => {
    expect(() => createCredentialCipher(randomBytes(16))).toThrow(/32 bytes/);
  });
});

describe('parseEncryptionKey', () => {
  it('reads 64 hex digits or base64 of 32 bytes', () => {
    expect(parseEncryptionKey(key.toString('hex'))).toEqual(key);
    expect(parseEncryptionKey(key.toString('hex').toUpperCase())).toEqual(key);
    expect(parseEncryptionKey(key.toString('base64'))).toEqual(key);
    expect(parseEncryptionKey(` ${key.toString('base64')}\n`)).toEqual(key);
  });

  it.each([
    ['', 'empty'],
    [randomBytes(16).toString('base64'), '16 bytes'],
    [randomBytes(31).toString('hex'), '31 bytes of hex'],
    [`${key.toString('base64').slice(0, -2)}!=`, 'not base64'],
    ['correct horse battery staple correct horse battery', 'a passphrase'],
  ])('refuses %j (%s)', (text) => {
    expect(() => parseEncryptionKey(text)).toThrow(/32 bytes as 64 hex digits or base64/);
  });
});

describe('mask', () => {
  it.each([
    ['sk_live_0123456789abcd', '****abcd'],
    ['123456789012', '****9012'],
    ['12345678901', '****'],
    ['', '****'],
  ])('shows %j as %j', (secret, shown) => {
    expect(mask(secret)).toBe(shown);
  });

  it('masks objects value by value', () => {
    expect(mask({ username: 'alice', password: 'correct-horse-battery', port: 5 })).toEqual({
      username: '****',
      password: '****tery',
      port: '****',
    });
  });
});

describe('resolveEncryptionKey', () => {
  const dirs: string[] = [];
  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'eps-key-'));
    dirs.push(dir);
    return dir;
  };
  afterEach(async () => {
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  it('uses the configured key, whatever the backend', async () => {
    const dataDir = await tempDir();
    const source = { configuredKey: key, databaseUrl: 'postgres://db/x', dataDir };
    expect(await resolveEncryptionKey(source)).toBe(key);
  });

  it('refuses to run without a key on PostgreSQL', async () => {
    const dataDir = await tempDir();
    await expect(
      resolveEncryptionKey({ configuredKey: undefined, databaseUrl: 'postgres://db/x', dataDir }),
    ).rejects.toThrow(/^DELIVERY_ENCRYPTION_KEY must be set with DATABASE_URL/);
  });

  it('creates a private key file for PGlite once, and reads it back afterwards', async () => {
    const dataDir = join(await tempDir(), 'not-yet-created');
    const source = { configuredKey: undefined, databaseUrl: undefined, dataDir };
    const first = await resolveEncryptionKey(source);
    expect(first).toHaveLength(32);
    const file = join(dataDir, KEY_FILE_NAME);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(parseEncryptionKey(await readFile(file, 'utf8'))).toEqual(first);
    expect(await resolveEncryptionKey(source)).toEqual(first);
  });

  it('agrees on one key when several starts race to create it', async () => {
    const dataDir = await tempDir();
    const source = { configuredKey: undefined, databaseUrl: undefined, dataDir };
    const keys = await Promise.all([1, 2, 3, 4].map(() => resolveEncryptionKey(source)));
    for (const k of keys) expect(k).toEqual(keys[0]);
  });

  it('names the key file when it is malformed', async () => {
    const dataDir = await tempDir();
    await writeFile(join(dataDir, KEY_FILE_NAME), 'garbage\n');
    await expect(
      resolveEncryptionKey({ configuredKey: undefined, databaseUrl: undefined, dataDir }),
    ).rejects.toThrow(`${join(dataDir, KEY_FILE_NAME)}: must be 32 bytes`);
  });
});
