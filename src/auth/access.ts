import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import type { Clock } from '../clock.ts';
import { AppError } from '../errors.ts';
import type { ApiKeys, Principal } from './api-keys.ts';
import {
  looksLikeJwt,
  type OAuthVerifier,
  type TokenIdentity,
  tokenRateLimitSubject,
} from './oauth.ts';
import type { RateLimiter } from './rate-limit.ts';
import {
  type AccessRule,
  grants,
  isScope,
  RATE_CLASSES,
  type RateClass,
  rateClassOf,
  type Scope,
} from './scopes.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Required on every route: the scope a caller's API key needs, or `public`. A route without
     * it stops the server from starting.
     */
    access?: AccessRule;
    /** The rate limit the route counts against; default: the class of its access scope. */
    rateClass?: RateClass;
  }
  interface FastifyRequest {
    /**
     * The verified API key or bearer token of the call (also when refused with 403 or 429);
     * undefined on public routes and when auth is off.
     */
    principal: Caller | undefined;
  }
}

/** A verified caller: an API key (service accounts included) or an OAuth 2.0 bearer token. */
export type Caller = Principal | TokenIdentity;

/** A registered route and its access rule, as collected when routes are registered. */
export interface RouteAccess {
  method: string;
  url: string;
  access: AccessRule;
  rateClass: RateClass | undefined;
}

export interface AccessControlOptions {
  apiKeys: ApiKeys;
  rateLimiter: RateLimiter;
  clock: Clock;
  /**
   * When false (loopback development) every route is open; limits still apply, counted per
   * client address, so a client sees the same X-RateLimit headers as in production.
   */
  authEnabled: boolean;
  /**
   * Verifies OAuth 2.0 bearer tokens (JWTs) sent as `Authorization: Bearer`; undefined (no
   * OAUTH_* configuration) → API keys only.
   */
  oauth?: OAuthVerifier;
}

/**
 * A route registered without a valid `config.access` (or with an unknown `rateClass`); thrown
 * while registering, so start-up fails.
 */
export class AccessRuleError extends Error {
  override name = 'AccessRuleError';
}

const isAccessRule = (value: unknown): value is AccessRule =>
  value === 'public' || value === 'authenticated' || (typeof value === 'string' && isScope(value));

/** What the caller presented: a key in `X-API-Key`, or a key or token as `Authorization: Bearer`. */
function presentedCredential(
  request: FastifyRequest,
): { value: string; header: 'x-api-key' | 'authorization' } | undefined {
  const header = request.headers['x-api-key'];
  if (typeof header === 'string' && header !== '') {
    return { value: header.trim(), header: 'x-api-key' };
  }
  const authorization = request.headers.authorization;
  if (typeof authorization !== 'string') return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  return match?.[1] === undefined ? undefined : { value: match[1], header: 'authorization' };
}

/**
 * The verified caller of a credential, or undefined when it is no valid key. A JWT in
 * `Authorization: Bearer` goes to the OAuth verifier when one is configured (which throws its
 * own 401 saying why, or 503); anything else must be an API key.
 */
async function authenticate(
  credential: { value: string; header: string },
  options: AccessControlOptions,
): Promise<Caller | undefined> {
  if (options.oauth && credential.header === 'authorization' && looksLikeJwt(credential.value)) {
    return options.oauth.verify(credential.value);
  }
  return options.apiKeys.authenticate(credential.value);
}

/** What rate limits count against: the key, the token's subject, or (auth off) the address. */
function rateLimitSubject(caller: Caller): string {
  return caller.type === 'api_key' ? caller.keyId : tokenRateLimitSubject(caller.subject);
}

const unauthorized = (message: string) =>
  new AppError(401, 'unauthorized', message, [], { 'www-authenticate': 'Bearer' });

/**
 * Access control of every route: each route must declare `config.access` (checked as routes
 * are registered), requests to non-public routes need an API key holding that scope (401, 403),
 * and each key — with auth off, each client address — is rate limited per route class (429). Returns the registered routes with their
 * rules, which grows as routes are registered.
 */
export function installAccessControl(
  app: FastifyInstance,
  options: AccessControlOptions,
): RouteAccess[] {
  const routes: RouteAccess[] = [];
  app.decorateRequest('principal', undefined);

  app.addHook('onRoute', (route: RouteOptions) => {
    const access = route.config?.access;
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (!isAccessRule(access)) {
      throw new AccessRuleError(
        `route ${methods.join(',')} ${route.url} must declare config.access ` +
          `('public' or a scope), got ${JSON.stringify(access)}`,
      );
    }
    const rateClass = route.config?.rateClass;
    if (rateClass !== undefined && !(RATE_CLASSES as readonly string[]).includes(rateClass)) {
      throw new AccessRuleError(
        `route ${methods.join(',')} ${route.url} has an unknown config.rateClass ${rateClass}`,
      );
    }
    for (const method of methods) routes.push({ method, url: route.url, access, rateClass });
    if (access !== 'public' && route.schema) {
      // The OpenAPI document tells clients which key a route needs.
      route.schema = {
        ...route.schema,
        security: [{ apiKey: [] }, { bearerAuth: [] }],
        description: [
          route.schema.description,
          access === 'authenticated'
            ? 'Requires an API key (any scope).'
            : `Requires an API key with scope \`${access}\`.`,
        ]
          .filter(Boolean)
          .join(' '),
      };
    }
  });

  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const access = request.routeOptions.config.access;
    // No rule: the not-found handler, which answers 404 to anyone.
    if (access === undefined || access === 'public') return;
    if (!options.authEnabled) {
      // Nobody to identify: the client address is what tells callers apart.
      if (access !== 'authenticated') {
        await enforceRateLimit(request, reply, addressSubject(request), access, options);
      }
      return;
    }
    const credential = presentedCredential(request);
    if (credential === undefined) {
      throw unauthorized(
        options.oauth
          ? 'an API key or a bearer token is required (X-API-Key or Authorization: Bearer)'
          : 'an API key is required (X-API-Key or Authorization: Bearer)',
      );
    }
    const principal = await authenticate(credential, options);
    if (!principal) throw unauthorized('the API key is invalid or revoked');
    // Known before the scope check, so the request log names the key a 403 refused.
    request.principal = principal;
    // Any valid key may ask who it is; such routes are cheap (the key is cached) and unlimited,
    // since a rate class follows a scope and a read-only key should not spend another's budget.
    if (access === 'authenticated') return;
    if (!grants(principal.scopes, access)) {
      const holder = principal.type === 'api_key' ? 'API key' : 'bearer token';
      throw new AppError(403, 'forbidden', `the ${holder} lacks the scope ${access}`);
    }
    await enforceRateLimit(request, reply, rateLimitSubject(principal), access, options);
  });
  return routes;
}

/** The rate-limit subject of an unauthenticated caller (auth off): its address. */
const addressSubject = (request: FastifyRequest): string => `ip:${request.ip}`;

async function enforceRateLimit(
  request: FastifyRequest,
  reply: FastifyReply,
  subject: string,
  access: Scope,
  options: AccessControlOptions,
): Promise<void> {
  const rateClass = request.routeOptions.config.rateClass ?? rateClassOf(access);
  const decision = await options.rateLimiter.take(subject, rateClass);
  if (!decision) return;
  reply.headers({
    'x-ratelimit-limit': String(decision.limit),
    'x-ratelimit-remaining': String(decision.remaining),
    'x-ratelimit-reset': String(Math.ceil(decision.resetAt.getTime() / 1000)),
  });
  if (!decision.allowed) {
    const retryAfter = Math.max(
      1,
      Math.ceil((decision.resetAt.getTime() - options.clock.now().getTime()) / 1000),
    );
    throw new AppError(
      429,
      'rate_limited',
      `rate limit of ${decision.limit} requests per minute for ${rateClass} exceeded`,
      [],
      { 'retry-after': String(retryAfter) },
    );
  }
}
