/** Classes of routes that share one rate limit per API key (see {@link rateClassOf}). */
export const RATE_CLASSES = [
  'events.publish',
  'events.read',
  'definitions',
  'triggers',
  'subscriptions',
  'admin',
] as const;
export type RateClass = (typeof RATE_CLASSES)[number];

/** What an API key may do. `admin` implies every other scope. */
export const SCOPES = [
  'events:publish',
  'events:read',
  'definitions:read',
  'definitions:write',
  'triggers:read',
  'triggers:write',
  'subscriptions:read',
  'subscriptions:write',
  'waits:read',
  'waits:write',
  /** Event processors (derived events). Writing one publishes its output: grant it as events:publish. */
  'processors:read',
  'processors:write',
  'admin',
] as const;
export type Scope = (typeof SCOPES)[number];

/**
 * The access rule every route declares in its options (`config: { access }`): the scope a caller
 * needs, `authenticated` for routes that answer any valid key whatever its scopes (the caller's
 * own identity, `GET /v1/me`), or `public` for routes that answer anyone (health, readiness,
 * OpenAPI, metrics, the console's static files).
 */
export type AccessRule = Scope | 'authenticated' | 'public';

export const isScope = (value: string): value is Scope =>
  (SCOPES as readonly string[]).includes(value);

export function grants(held: readonly Scope[], needed: Scope): boolean {
  return held.includes('admin') || held.includes(needed);
}

/**
 * The rate class a scope's routes fall into unless a route names its own (`config.rateClass`):
 * publishing and querying events are limited apart, each management resource has its own class.
 */
export function rateClassOf(scope: Scope): RateClass {
  switch (scope) {
    case 'events:publish':
      return 'events.publish';
    case 'events:read':
      return 'events.read';
    case 'definitions:read':
    case 'definitions:write':
      return 'definitions';
    case 'triggers:read':
    case 'triggers:write':
      return 'triggers';
    case 'subscriptions:read':
    case 'subscriptions:write':
      return 'subscriptions';
    // Waits are workflow-side state, registered about as often as workflows start.
    case 'waits:read':
    case 'waits:write':
    // Processors are routing targets managed as triggers are: one budget for both.
    case 'processors:read':
    case 'processors:write':
      return 'triggers';
    case 'admin':
      return 'admin';
  }
}
