import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import {
  createRemoteJWKSet,
  customFetch,
  errors,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
} from 'jose';
import { type Dispatcher, fetch as undiciFetch } from 'undici';
import type { Clock } from '../clock.ts';
import { AppError } from '../errors.ts';
import { isScope, type Scope } from './scopes.ts';

/** Where the keys that sign accepted tokens come from. */
export type OAuthKeySource =
  /** A JWKS document (the identity provider's `jwks_uri`), fetched and cached by jose. */
  | { jwksUrl: string }
  /** One PEM public key (SPKI), for providers without a JWKS endpoint or fixed keys. */
  | { publicKeyPem: string };

export interface OAuthConfig {
  keys: OAuthKeySource;
  /** The `iss` every accepted token carries. Env `OAUTH_ISSUER`. */
  issuer: string;
  /** The `aud` every accepted token names (one of). Env `OAUTH_AUDIENCE`. */
  audience: string;
  /**
   * Prefix of the token scopes meant for this service, removed before mapping (e.g. Cognito's
   * `https://eps.example.com/`); scopes without it are ignored. Env `OAUTH_SCOPE_PREFIX`,
   * default '' (a token scope maps when it is one of ours, e.g. `events:publish`).
   */
  scopePrefix: string;
}

/** A caller identified by a verified bearer token. */
export interface TokenIdentity {
  type: 'oauth_token';
  /** The token's `sub`: the user or client it was issued to. */
  subject: string;
  scopes: Scope[];
}

/**
 * Only asymmetric algorithms: the service holds public keys, and a token "signed" with HS256
 * using a public key as the HMAC secret (the HS/RS confusion) must not verify. `none` is never
 * accepted by `jwtVerify` at all.
 */
const ASYMMETRIC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
];

/** How far token times (`exp`, `nbf`, `iat`) may disagree with our clock, in seconds. */
const CLOCK_TOLERANCE_SECONDS = 30;

/** The algorithms a PEM key can verify, so a token cannot pick a weaker reading of the key. */
function algorithmsOf(key: KeyObject): string[] {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
    case 'rsa-pss':
      return ['PS256', 'PS384', 'PS512'];
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      const byCurve: Record<string, string> = {
        prime256v1: 'ES256',
        secp384r1: 'ES384',
        secp521r1: 'ES512',
      };
      const algorithm = curve === undefined ? undefined : byCurve[curve];
      if (algorithm) return [algorithm];
      break;
    }
    case 'ed25519':
      return ['EdDSA', 'Ed25519'];
  }
  throw new Error(`a ${key.asymmetricKeyType ?? 'symmetric'} key cannot verify tokens here`);
}

/**
 * Reads a PEM public key, refusing private and symmetric keys (a private key in configuration
 * is a leak waiting to happen). Throws with a message that never repeats the key.
 */
export function parsePublicKeyPem(pem: string): KeyObject {
  if (/PRIVATE KEY/.test(pem)) throw new Error('must be a public key, not a private one');
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new Error('is not a PEM public key (-----BEGIN PUBLIC KEY-----)');
  }
  algorithmsOf(key);
  return key;
}

/** Space-separated `scope` (RFC 8693, RFC 9068) or `scp` as a string or a list (Okta, Entra). */
function tokenScopes(payload: JWTPayload): string[] {
  const scopes: string[] = [];
  for (const claim of [payload.scope, payload.scp]) {
    if (typeof claim === 'string') scopes.push(...claim.split(' '));
    else if (Array.isArray(claim)) scopes.push(...claim.filter((s) => typeof s === 'string'));
  }
  return scopes.filter((s) => s !== '');
}

/** Our scopes named by a token's scopes; unknown ones (`openid`, `profile`, …) are ignored. */
export function mapScopes(payload: JWTPayload, prefix: string): Scope[] {
  const mapped = new Set<Scope>();
  for (const scope of tokenScopes(payload)) {
    if (!scope.startsWith(prefix)) continue;
    const ours = scope.slice(prefix.length);
    if (isScope(ours)) mapped.add(ours);
  }
  return [...mapped];
}

/** Why a token was refused, as the 401 says it (RFC 6750 `error_description`). */
function refusalOf(error: unknown): string | undefined {
  if (error instanceof errors.JWTExpired) return 'the bearer token has expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    return `the bearer token's "${error.claim}" claim is not accepted`;
  }
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return "the bearer token's signing algorithm is not accepted";
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return "the bearer token's signature does not verify";
  }
  if (
    error instanceof errors.JWKSNoMatchingKey ||
    error instanceof errors.JWKSMultipleMatchingKeys
  ) {
    return 'the bearer token is not signed by a key of the issuer';
  }
  if (
    error instanceof errors.JWSInvalid ||
    error instanceof errors.JWTInvalid ||
    error instanceof errors.JOSENotSupported ||
    error instanceof errors.JWKInvalid
  ) {
    return 'the bearer token is not a valid signed JWT';
  }
  return undefined;
}

const unauthorized = (description: string) =>
  new AppError(401, 'unauthorized', description, [], {
    'www-authenticate': `Bearer error="invalid_token", error_description="${description.replaceAll('"', "'")}"`,
  });

export interface OAuthVerifierOptions {
  config: OAuthConfig;
  clock: Clock;
  /**
   * How the JWKS is fetched: a dispatcher of the egress guard that trusts the JWKS origin
   * (see `EgressOptions.trustedOrigins`). Required with a JWKS URL.
   */
  dispatcher?: Dispatcher;
}

/**
 * Verifies OAuth 2.0 bearer tokens (JWTs, RFC 9068 access tokens or any JWT with `sub` and
 * `exp`): signature against the JWKS or PEM key with an asymmetric algorithm only, `iss`, `aud`,
 * `exp`/`nbf` against the injectable clock. Refusals are 401 `unauthorized`; an identity
 * provider whose JWKS cannot be fetched is 503 `unavailable` (not the caller's fault).
 */
export class OAuthVerifier {
  private readonly key: KeyObject | JWTVerifyGetKey;
  private readonly algorithms: string[];

  constructor(private readonly options: OAuthVerifierOptions) {
    const { keys } = options.config;
    if ('publicKeyPem' in keys) {
      const key = parsePublicKeyPem(keys.publicKeyPem);
      this.key = key;
      this.algorithms = algorithmsOf(key);
    } else {
      const dispatcher = options.dispatcher;
      if (!dispatcher) throw new Error('a JWKS URL needs the egress dispatcher to fetch it');
      this.key = createRemoteJWKSet(new URL(keys.jwksUrl), {
        [customFetch]: (url, init) =>
          undiciFetch(url, {
            ...init,
            headers: Object.fromEntries(init.headers),
            dispatcher,
          }) as unknown as Promise<Response>,
      });
      this.algorithms = ASYMMETRIC_ALGORITHMS;
    }
  }

  /** The identity of a verified token; throws 401 (refused) or 503 (keys unavailable). */
  async verify(token: string): Promise<TokenIdentity> {
    const { config, clock } = this.options;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.key as KeyObject, {
        issuer: config.issuer,
        audience: config.audience,
        algorithms: this.algorithms,
        requiredClaims: ['sub', 'exp'],
        currentDate: clock.now(),
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
      }));
    } catch (error) {
      const refusal = refusalOf(error);
      if (refusal) throw unauthorized(refusal);
      // The JWKS could not be fetched or read (timeout, refused, not JSON, not 200).
      throw new AppError(
        503,
        'unavailable',
        'the identity provider keys cannot be fetched; try again',
        [],
        { 'retry-after': '5' },
      );
    }
    const subject = payload.sub;
    if (typeof subject !== 'string' || subject === '') {
      throw unauthorized('the bearer token has no subject');
    }
    return { type: 'oauth_token', subject, scopes: mapScopes(payload, config.scopePrefix) };
  }
}

/** Text that has the shape of a compact JWS (three base64url parts), before any parsing. */
export const looksLikeJwt = (value: string): boolean =>
  /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/.test(value);

/**
 * The rate-limit subject of a token's `sub`: readable when it fits the 100 characters of
 * `rate_limit_windows.subject`, else its SHA-256 (subjects are opaque and may be long).
 */
export function tokenRateLimitSubject(subject: string): string {
  const readable = `sub:${subject}`;
  if (readable.length <= 100) return readable;
  return `sub-sha256:${createHash('sha256').update(subject, 'utf8').digest('hex')}`;
}
