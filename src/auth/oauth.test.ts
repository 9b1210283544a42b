import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type CryptoKey,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  type JWTPayload,
  SignJWT,
  UnsecuredJWT,
} from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { localConfig, startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { mapScopes, type OAuthConfig } from './oauth.ts';
import type { RateClass } from './scopes.ts';

const ISSUER = 'https://id.example.com/realms/eps';
const AUDIENCE = 'event-processing-service';

const LIMITS: Record<RateClass, number> = {
  'events.publish': 0,
  'events.read': 0,
  definitions: 3,
  triggers: 0,
  subscriptions: 0,
  admin: 0,
};

interface SigningKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
}

async function signingKey(kid: string, alg: string): Promise<SigningKey> {
  return { kid, alg, ...(await generateKeyPair(alg, { extractable: true })) };
}

/** An identity provider's JWKS endpoint on loopback, counting its fetches. */
async function startJwksServer(keys: SigningKey[]): Promise<{
  url: string;
  fetches: () => number;
  close: () => Promise<void>;
}> {
  const jwks = {
    keys: await Promise.all(
      keys.map(async (key) => ({
        ...(await exportJWK(key.publicKey)),
        kid: key.kid,
        alg: key.alg,
        use: 'sig',
      })),
    ),
  };
  let fetches = 0;
  const server: Server = createServer((request, response) => {
    fetches += 1;
    if (request.url !== '/jwks.json') return response.writeHead(404).end();
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/jwks.json`,
    fetches: () => fetches,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe.each(testBackends())('OAuth 2.0 bearer tokens with a JWKS URL on $name', (backend) => {
  let t: TestApp;
  let jwks: Awaited<ReturnType<typeof startJwksServer>>;
  let rsa: SigningKey;
  let stranger: SigningKey;

  /** Seconds since the epoch on the test clock. */
  const now = () => Math.floor(t.clock.now().getTime() / 1000);

  /** A token as the identity provider would issue it, with `overrides` applied. */
  const token = (claims: JWTPayload = {}, key: SigningKey = rsa) =>
    new SignJWT({
      iss: ISSUER,
      aud: AUDIENCE,
      sub: 'client-42',
      iat: now(),
      exp: now() + 300,
      scope: 'definitions:read events:read',
      ...claims,
    })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })
      .sign(key.privateKey);

  const get = (url: string, bearer: string) =>
    t.request('GET', url, { headers: { authorization: `Bearer ${bearer}` } });

  beforeAll(async () => {
    rsa = await signingKey('rsa-1', 'RS256');
    stranger = await signingKey('rsa-1', 'RS256');
    jwks = await startJwksServer([rsa, await signingKey('ec-1', 'ES256')]);
    const oauth: OAuthConfig = {
      keys: { jwksUrl: jwks.url },
      issuer: ISSUER,
      audience: AUDIENCE,
      scopePrefix: '',
    };
    t = await startTestApp(backend, {
      authEnabled: true,
      oauth,
      rateLimitsPerMinute: LIMITS,
      // No EGRESS_ALLOWLIST at all: the JWKS on loopback is reached because the operator named it.
      delivery: { ...localConfig().delivery, egressAllowlist: [] },
    });
  });
  afterAll(async () => {
    await t.close();
    await jwks.close();
  });
  beforeEach(async () => {
    await t.reset();
    t.clock.set('2026-01-15T12:00:15.000Z');
  });

  it('accepts a valid token, with the scopes of its scope claim mapped onto ours', async () => {
    const bearer = await token();
    const listed = await get('/v1/event-definitions', bearer);
    expect(listed.status).toBe(200);
    const me = await get('/v1/me', bearer);
    expect(me.body).toEqual({
      auth: 'on',
      key: null,
      token: { subject: 'client-42' },
      scopes: ['definitions:read', 'events:read'],
    });
    // A scope it does not hold: 403, as for an API key.
    const refused = await t.request('POST', '/v1/event-definitions', {
      headers: { authorization: `Bearer ${bearer}` },
      payload: {},
    });
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({ code: 'forbidden' });
    expect(jwks.fetches()).toBeGreaterThanOrEqual(1);
  });

  it('reads scp as a list or a string, and ignores scopes that are not ours', async () => {
    const asList = await token({ scope: undefined, scp: ['openid', 'triggers:read'] });
    expect((await get('/v1/me', asList)).body.scopes).toEqual(['triggers:read']);
    const asString = await token({ scope: undefined, scp: 'profile admin' });
    expect((await get('/v1/me', asString)).body.scopes).toEqual(['admin']);
  });

  it.each<[string, () => Promise<string>, RegExp]>([
    ['expired', () => token({ exp: now() - 60, iat: now() - 600 }), /expired/],
    ['from another issuer', () => token({ iss: 'https://evil.example.com' }), /"iss"/],
    ['for another audience', () => token({ aud: 'another-service' }), /"aud"/],
    [
      'unsigned (alg: none)',
      async () =>
        new UnsecuredJWT({ scope: 'admin' })
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setSubject('client-42')
          .setExpirationTime(now() + 300)
          .encode(),
      /not accepted|not a valid/,
    ],
    [
      'HS256 with the public key as the HMAC secret (HS/RS confusion)',
      async () => {
        const publicPem = await exportSPKI(rsa.publicKey);
        return new SignJWT({ scope: 'admin' })
          .setProtectedHeader({ alg: 'HS256', kid: rsa.kid })
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setSubject('client-42')
          .setExpirationTime(now() + 300)
          .sign(new TextEncoder().encode(publicPem));
      },
      /algorithm is not accepted/,
    ],
    ['signed by a key the issuer does not publish', () => token({}, stranger), /signature/],
    ['without a subject', () => token({ sub: undefined }), /"sub"|subject/],
    [
      'with its signature cut off',
      async () => (await token()).split('.').slice(0, 2).join('.').concat('.'),
      /not a valid|signature/,
    ],
  ])('refuses a token %s with 401 in the envelope', async (_, make, reason) => {
    const response = await get('/v1/event-definitions', await make());
    expect(response.status).toBe(401);
    expect(response.body.error.code).toBe('unauthorized');
    expect(response.body.error.message).toMatch(reason);
    expect(response.headers['www-authenticate']).toMatch(/^Bearer error="invalid_token"/);
  });

  it('still takes API keys, in X-API-Key and as a bearer', async () => {
    const { key } = await t.app.apiKeys.create({ name: 'k', scopes: ['definitions:read'] });
    expect((await get('/v1/event-definitions', key)).status).toBe(200);
    const viaHeader = await t.request('GET', '/v1/event-definitions', {
      headers: { 'x-api-key': key },
    });
    expect(viaHeader.status).toBe(200);
  });

  it('rate limits per token subject: tokens of one subject share a budget', async () => {
    const first = await token();
    const second = await token({ jti: 'another-token' });
    const remaining: unknown[] = [];
    for (const bearer of [first, second, first]) {
      const response = await get('/v1/event-definitions', bearer);
      expect(response.status).toBe(200);
      expect(response.headers['x-ratelimit-limit']).toBe('3');
      remaining.push(response.headers['x-ratelimit-remaining']);
    }
    expect(remaining).toEqual(['2', '1', '0']);
    const refused = await get('/v1/event-definitions', second);
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('rate_limited');
    // Another subject has its own.
    const other = await get('/v1/event-definitions', await token({ sub: 'client-43' }));
    expect(other.status).toBe(200);
    expect(other.headers['x-ratelimit-remaining']).toBe('2');
  });
});

describe.each(testBackends())('OAuth 2.0 bearer tokens with a PEM key on $name', (backend) => {
  let t: TestApp;
  let ec: SigningKey;
  const now = () => Math.floor(t.clock.now().getTime() / 1000);
  const claims = (builder: SignJWT) =>
    builder
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject('svc')
      .setExpirationTime(now() + 300);

  beforeAll(async () => {
    ec = await signingKey('ec', 'ES256');
    t = await startTestApp(backend, {
      authEnabled: true,
      oauth: {
        keys: { publicKeyPem: await exportSPKI(ec.publicKey) },
        issuer: ISSUER,
        audience: AUDIENCE,
        scopePrefix: 'https://eps.example.com/',
      },
    });
  });
  afterAll(() => t.close());

  const me = (bearer: string) =>
    t.request('GET', '/v1/me', { headers: { authorization: `Bearer ${bearer}` } });

  it('verifies with the key, mapping only scopes under the configured prefix', async () => {
    const bearer = await claims(
      new SignJWT({ scope: 'https://eps.example.com/events:publish events:read' }),
    )
      .setProtectedHeader({ alg: 'ES256' })
      .sign(ec.privateKey);
    const response = await me(bearer);
    expect(response.status).toBe(200);
    expect(response.body.scopes).toEqual(['events:publish']);
  });

  it('refuses another algorithm than the key has, and HMAC over the PEM text', async () => {
    const rsa = await signingKey('rsa', 'RS256');
    const otherKey = await claims(new SignJWT({}))
      .setProtectedHeader({ alg: 'RS256' })
      .sign(rsa.privateKey);
    expect((await me(otherKey)).status).toBe(401);
    const pem = await exportSPKI(ec.publicKey);
    const confused = await claims(new SignJWT({}))
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(pem));
    const response = await me(confused);
    expect(response.status).toBe(401);
    expect(response.body.error.message).toMatch(/algorithm is not accepted/);
  });
});

describe.each(testBackends())('OAuth 2.0 with its JWKS unreachable on $name', (backend) => {
  let t: TestApp;
  beforeAll(async () => {
    // A port nothing listens on: the provider is down.
    const closed = await startJwksServer([]);
    await closed.close();
    t = await startTestApp(backend, {
      authEnabled: true,
      oauth: { keys: { jwksUrl: closed.url }, issuer: ISSUER, audience: AUDIENCE, scopePrefix: '' },
    });
  });
  afterAll(() => t.close());

  it('answers 503 with Retry-After, not 401: the token may well be valid', async () => {
    const key = await signingKey('k', 'RS256');
    const bearer = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', kid: 'k' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject('s')
      .setExpirationTime('5m')
      .sign(key.privateKey);
    const response = await t.request('GET', '/v1/me', {
      headers: { authorization: `Bearer ${bearer}` },
    });
    expect(response.status).toBe(503);
    expect(response.body.error.code).toBe('unavailable');
    expect(response.headers['retry-after']).toBe('5');
  });
});

describe('mapScopes', () => {
  it('takes scope and scp, drops unknown and duplicate scopes', () => {
    expect(
      mapScopes({ scope: 'events:read  openid events:read', scp: ['admin', 7] as never }, ''),
    ).toEqual(['events:read', 'admin']);
    expect(mapScopes({ scope: 'api://eps/events:read events:publish' }, 'api://eps/')).toEqual([
      'events:read',
    ]);
    expect(mapScopes({}, '')).toEqual([]);
  });
});
