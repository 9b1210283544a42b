import { createHmac, type KeyObject, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Standard Webhooks signatures (symmetric, `v1`): each request carries `webhook-id`,
 * `webhook-timestamp` (Unix seconds) and `webhook-signature`, a space-separated list of
 * `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, one per active secret. Secrets are
 * `whsec_` + base64 of random bytes; the HMAC key is the decoded bytes, not the text.
 */

export const SECRET_PREFIX = 'whsec_';

/** Random bytes in a generated secret: the spec asks for 24 to 64; 32 is SHA-256's output size. */
export const SECRET_BYTES = 32;

/** How long the previous secret keeps signing after a rotation: 24 h, so receivers can switch over. */
export const SECRET_ROTATION_GRACE_MS = 86_400_000;

/** Receivers' default tolerance for `webhook-timestamp` against their clock: 5 minutes either way. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

/** A new signing secret, `whsec_` + base64 of {@link SECRET_BYTES} random bytes. */
export function generateSecret(): string {
  return SECRET_PREFIX + randomBytes(SECRET_BYTES).toString('base64');
}

/**
 * The HMAC key of a secret: the base64 after `whsec_` (the prefix is optional, as receivers'
 * libraries accept both). Throws when the text is not strict base64 of 24 to 64 bytes.
 */
export function secretKey(secret: string): Buffer {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  const key = Buffer.from(encoded, 'base64');
  // Buffer.from skips characters outside the alphabet; a round trip catches them.
  if (key.toString('base64') !== encoded || key.length < 24 || key.length > 64) {
    throw new Error('a signing secret is "whsec_" followed by base64 of 24 to 64 bytes');
  }
  return key;
}

/**
 * The secrets that sign now: the current one and, for {@link SECRET_ROTATION_GRACE_MS} after a
 * rotation, the previous one too.
 */
export function activeSecrets(
  secrets: { current: string; previous?: string | undefined; rotatedAt?: Date | undefined },
  now: Date,
  graceMs = SECRET_ROTATION_GRACE_MS,
): string[] {
  const { current, previous, rotatedAt } = secrets;
  if (previous === undefined || rotatedAt === undefined) return [current];
  return now.getTime() - rotatedAt.getTime() < graceMs ? [current, previous] : [current];
}

export interface SignatureInput {
  /** `webhook-id`: stable per event and subscription, so receivers can deduplicate. No `.`. */
  msgId: string;
  /** Time of this attempt (not of the event): receivers refuse stale ones. Sent in whole seconds. */
  timestamp: Date;
  /** Exactly the bytes sent as the request body. */
  body: string | Uint8Array;
  /** Every active secret (see {@link activeSecrets}), at least one. */
  secrets: readonly string[];
  /** Decodes a secret into its HMAC key; default {@link secretKey} (a sender passes a memoised one). */
  keyOf?: (secret: string) => Buffer | KeyObject;
}

// A type alias, not an interface, so it passes wherever a plain header record is expected.
export type SignatureHeaders = {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
};

/** The three Standard Webhooks headers of one delivery attempt. */
export function signatureHeaders({
  msgId,
  timestamp,
  body,
  secrets,
  keyOf = secretKey,
}: SignatureInput): SignatureHeaders {
  // The signed content is dot-delimited: a dot in the id would let "a.b" + "c" collide with "a" + "b.c".
  if (msgId === '' || msgId.includes('.')) {
    throw new Error('webhook-id must be non-empty and contain no "."');
  }
  if (secrets.length === 0) throw new Error('at least one signing secret is needed');
  const seconds = String(Math.floor(timestamp.getTime() / 1000));
  const signatures = secrets.map(
    (secret) => `v1,${hmac(keyOf(secret), msgId, seconds, body).toString('base64')}`,
  );
  return {
    'webhook-id': msgId,
    'webhook-timestamp': seconds,
    'webhook-signature': signatures.join(' '),
  };
}

function hmac(
  key: Buffer | KeyObject,
  msgId: string,
  seconds: string,
  body: string | Uint8Array,
): Buffer {
  return createHmac('sha256', key).update(`${msgId}.${seconds}.`).update(body).digest();
}

export type VerifyFailure =
  | 'missing_headers'
  | 'invalid_timestamp'
  | 'timestamp_out_of_tolerance'
  | 'no_matching_signature';

export type VerifyResult = { valid: true } | { valid: false; reason: VerifyFailure };

export interface VerifyInput {
  /** Request headers with lower-case names, as node:http gives them. */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  body: string | Uint8Array;
  /** The receiver's copy of the secret. */
  secret: string;
  now: Date;
  /** Default {@link DEFAULT_TOLERANCE_SECONDS}. */
  toleranceSeconds?: number;
}

/**
 * What a receiver does: checks the timestamp is within the tolerance (against replays), then
 * accepts when any `v1` signature in the list matches, compared in constant time.
 */
export function verifySignature({
  headers,
  body,
  secret,
  now,
  toleranceSeconds = DEFAULT_TOLERANCE_SECONDS,
}: VerifyInput): VerifyResult {
  const msgId = single(headers['webhook-id']);
  const seconds = single(headers['webhook-timestamp']);
  const list = single(headers['webhook-signature']);
  if (msgId === undefined || seconds === undefined || list === undefined) {
    return { valid: false, reason: 'missing_headers' };
  }
  if (!/^\d{1,15}$/.test(seconds)) return { valid: false, reason: 'invalid_timestamp' };
  if (Math.abs(now.getTime() / 1000 - Number(seconds)) > toleranceSeconds) {
    return { valid: false, reason: 'timestamp_out_of_tolerance' };
  }
  const expected = hmac(secretKey(secret), msgId, seconds, body);
  for (const entry of list.split(' ')) {
    const [version, encoded] = entry.split(',', 2);
    if (version !== 'v1' || encoded === undefined) continue;
    const candidate = Buffer.from(encoded, 'base64');
    if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) {
      return { valid: true };
    }
  }
  return { valid: false, reason: 'no_matching_signature' };
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
