import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.ts';
import {
  type ConsumerCheckMode,
  type ConsumerWarning,
  checkConsumer,
  judgeConsumer,
} from '../compatibility/consumers.ts';
import type { Database, Queryable } from '../db/database.ts';
import {
  type CircuitBreakerConfig,
  CLOSED_CIRCUIT,
  DEFAULT_CIRCUIT_BREAKER_CONFIG,
} from '../delivery/circuit-breaker.ts';
import { type CredentialCipher, mask } from '../delivery/credentials.ts';
import { checkEndpointUrl, EgressDeniedError, type EgressOptions } from '../delivery/egress.ts';
import { RESERVED_WEBHOOK_HEADERS } from '../delivery/senders.ts';
import { activeSecrets, generateSecret, secretKey } from '../delivery/signature.ts';
import { type ErrorDetail, fieldError, notFound, validationError } from '../errors.ts';
import { compileCondition } from '../expressions/condition.ts';
import { ParseError } from '../expressions/parse-error.ts';
import { assertNoPrecondition, assertRevision, reviseIfChanged } from '../http/etag.ts';
import { isUuid } from '../ids.ts';
import { BoundedMemo } from '../memo.ts';
import { activeSchemasMatching } from '../registry/consumer-schemas.ts';
import { parseSubscriptionPattern } from '../routing/pattern.ts';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../routing/retry.ts';
import { bumpTargetsVersion } from '../routing/work-store.ts';
import {
  deleteSubscription,
  disableSubscription,
  findSubscription,
  listSubscriptions,
  type SubscriptionFilters,
  saveSubscription,
} from './repository.ts';
import {
  type AuthType,
  type FILTER_TYPE,
  type StoredSubscription,
  type SubscriberTypeInput,
  type SubscriptionFormat,
  type SubscriptionView,
  storedSubscriberType,
  subscriptionConsumerSpec,
  toView,
} from './subscription.ts';

/** A subscription as the API takes it (snake_case). */
export interface SubscriptionInput {
  name?: string | null;
  labels?: Record<string, string>;
  /**
   * A signing secret of the client's own (`whsec_` + base64 of 24 to 64 bytes), so definitions
   * kept as code can hold it; never returned. Absent: a new subscription gets a generated one
   * and an existing one keeps its own.
   */
  signing_secret?: string;
  event_pattern: string;
  format?: SubscriptionFormat;
  subscriber: {
    id: string;
    type: SubscriberTypeInput;
    endpoint: string;
    headers?: Record<string, string>;
    authentication?: { type: AuthType; credentials: string } | null;
  };
  filter?: { type?: typeof FILTER_TYPE; expression: string } | null;
  retry_policy?: Partial<{
    max_attempts: number;
    backoff_factor: number;
    initial_delay_ms: number;
    max_delay_ms: number;
  }>;
  circuit_breaker?: Partial<{
    failure_threshold: number;
    reset_timeout_ms: number;
    half_open_max_calls: number;
  }>;
  description?: string | null;
}

/** NATS subjects: dot-separated tokens without wildcards or whitespace. */
const SUBJECT = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

const retryPolicyOf = (
  input: SubscriptionInput['retry_policy'],
  base: RetryPolicy,
): RetryPolicy => ({
  maxAttempts: input?.max_attempts ?? base.maxAttempts,
  backoffFactor: input?.backoff_factor ?? base.backoffFactor,
  initialDelayMs: input?.initial_delay_ms ?? base.initialDelayMs,
  maxDelayMs: input?.max_delay_ms ?? base.maxDelayMs,
});

const breakerOf = (
  input: SubscriptionInput['circuit_breaker'],
  base: CircuitBreakerConfig,
): CircuitBreakerConfig => ({
  failureThreshold: input?.failure_threshold ?? base.failureThreshold,
  resetTimeoutMs: input?.reset_timeout_ms ?? base.resetTimeoutMs,
  halfOpenMaxCalls: input?.half_open_max_calls ?? base.halfOpenMaxCalls,
});

const snakeRetryPolicy = (
  p: RetryPolicy,
): Required<NonNullable<SubscriptionInput['retry_policy']>> => ({
  max_attempts: p.maxAttempts,
  backoff_factor: p.backoffFactor,
  initial_delay_ms: p.initialDelayMs,
  max_delay_ms: p.maxDelayMs,
});

const snakeBreaker = (
  b: CircuitBreakerConfig,
): Required<NonNullable<SubscriptionInput['circuit_breaker']>> => ({
  failure_threshold: b.failureThreshold,
  reset_timeout_ms: b.resetTimeoutMs,
  half_open_max_calls: b.halfOpenMaxCalls,
});

/**
 * `input` with complete retry and breaker settings: the given fields over `base`'s (the
 * defaults when replacing, the current settings when changing).
 */
function withDefaultPolicies(
  input: SubscriptionInput,
  base?: Pick<StoredSubscription, 'retryPolicy' | 'circuitBreaker'>,
): SubscriptionInput {
  return {
    ...input,
    retry_policy: snakeRetryPolicy(
      retryPolicyOf(input.retry_policy, base?.retryPolicy ?? DEFAULT_RETRY_POLICY),
    ),
    circuit_breaker: snakeBreaker(
      breakerOf(input.circuit_breaker, base?.circuitBreaker ?? DEFAULT_CIRCUIT_BREAKER_CONFIG),
    ),
  };
}

/**
 * An input with every optional field present, so two inputs compare by what they store. Every
 * field of the input is kept (a field added later compares too: when the stored side lacks it,
 * the write happens); JSON drops the undefined ones.
 */
function normalized(input: SubscriptionInput): Record<string, unknown> {
  return JSON.parse(
    JSON.stringify({
      ...input,
      name: input.name ?? null,
      labels: input.labels ?? {},
      subscriber: {
        ...input.subscriber,
        headers: input.subscriber.headers ?? {},
        authentication: input.subscriber.authentication ?? null,
      },
      filter: input.filter ?? null,
      description: input.description ?? null,
      format: input.format ?? 'native',
      signing_secret: input.signing_secret ?? null,
    }),
  );
}

/** A created subscription and its generated signing secret (undefined when the client gave one). */
export interface Created {
  subscription: StoredSubscription;
  signingSecret: string | undefined;
  /** Findings of the filter's type check the write was accepted with. */
  warnings: ConsumerWarning[];
}

export interface SubscriptionDeps {
  db: Database;
  clock: Clock;
  cipher: CredentialCipher;
  egress: EgressOptions;
}

/** Most decrypted secrets kept at once. */
const OPENED_SECRETS_KEPT = 10_000;

/**
 * Subscription management. Credentials and signing secrets are sealed with the subscription id
 * as context; every change bumps the routing targets version so matching follows.
 */
export class Subscriptions {
  /**
   * Decrypted secrets by their sealed text (a changed secret is a new sealed text): every
   * delivery signs with them, and AES-GCM per delivery showed in the delivery profile.
   */
  private readonly opened = new BoundedMemo<string, string>(OPENED_SECRETS_KEPT);

  constructor(private readonly deps: SubscriptionDeps) {}

  private seal(id: string, field: string, plaintext: string): string {
    return this.deps.cipher.encrypt(plaintext, `subscription:${id}:${field}`);
  }

  private unseal(id: string, field: string, sealed: string): string {
    const aad = `subscription:${id}:${field}`;
    return this.opened.get(`${aad}:${sealed}`, () => this.deps.cipher.decrypt(sealed, aad));
  }

  /** The secrets that sign now: the current one, and the previous one for 24 h after a rotation. */
  signingSecrets(s: StoredSubscription, now: Date): string[] {
    return activeSecrets(
      {
        current: this.unseal(s.id, 'secret', s.signingSecretSealed),
        previous: s.previousSecretSealed
          ? this.unseal(s.id, 'previous-secret', s.previousSecretSealed)
          : undefined,
        rotatedAt: s.secretRotatedAt ?? undefined,
      },
      now,
    );
  }

  credentials(s: StoredSubscription): { type: AuthType; credentials: string } | undefined {
    if (!s.authType || !s.authCredentialsSealed) return undefined;
    return {
      type: s.authType,
      credentials: this.unseal(s.id, 'credentials', s.authCredentialsSealed),
    };
  }

  view(s: StoredSubscription): SubscriptionView {
    const credentials = this.credentials(s);
    return toView(s, credentials && mask(credentials.credentials));
  }

  /**
   * Checks every field (all failures as details), then type-checks the filter against the active
   * versions the pattern matches.
   */
  private async validate(
    input: SubscriptionInput,
    mode: ConsumerCheckMode,
  ): Promise<ConsumerWarning[]> {
    const details: ErrorDetail[] = [];
    try {
      parseSubscriptionPattern(input.event_pattern);
    } catch (error) {
      if (!(error instanceof ParseError)) throw error;
      details.push(error.toDetail('event_pattern'));
    }
    if (input.filter?.expression) {
      try {
        compileCondition(input.filter.expression);
      } catch (error) {
        if (!(error instanceof ParseError)) throw error;
        details.push(error.toDetail('filter.expression'));
      }
    }
    for (const name of Object.keys(input.subscriber.headers ?? {})) {
      if (RESERVED_WEBHOOK_HEADERS.has(name.toLowerCase())) {
        details.push(fieldError(`subscriber.headers.${name}`, 'reserved', 'is set by the service'));
      }
    }
    if (input.signing_secret !== undefined) {
      try {
        secretKey(input.signing_secret);
      } catch (error) {
        details.push(fieldError('signing_secret', 'invalid_secret', (error as Error).message));
      }
    }
    const policy = retryPolicyOf(input.retry_policy, DEFAULT_RETRY_POLICY);
    if (policy.maxDelayMs < policy.initialDelayMs) {
      details.push(
        fieldError('retry_policy.max_delay_ms', 'minimum', 'must not be below initial_delay_ms'),
      );
    }
    details.push(...(await this.endpointDetails(input.subscriber)));
    if (details.length > 0) throw validationError('subscription is invalid', details);
    const versions = await activeSchemasMatching(this.deps.db, input.event_pattern);
    return judgeConsumer(
      checkConsumer(subscriptionConsumerSpec(input.filter?.expression), versions),
      mode,
    );
  }

  private async endpointDetails(
    subscriber: SubscriptionInput['subscriber'],
  ): Promise<ErrorDetail[]> {
    if (subscriber.type === 'queue') {
      return SUBJECT.test(subscriber.endpoint)
        ? []
        : [
            fieldError(
              'subscriber.endpoint',
              'invalid_subject',
              'must be a NATS subject without wildcards, e.g. orders.created',
            ),
          ];
    }
    try {
      await checkEndpointUrl(subscriber.endpoint, this.deps.egress);
      return [];
    } catch (error) {
      if (error instanceof EgressDeniedError) return [error.toDetail('subscriber.endpoint')];
      throw error;
    }
  }

  private build(
    id: string,
    input: SubscriptionInput,
    current: StoredSubscription | undefined,
    now: Date,
  ): StoredSubscription {
    const auth = input.subscriber.authentication;
    return {
      id,
      name: input.name ?? null,
      labels: input.labels ?? {},
      eventPattern: input.event_pattern,
      subscriberId: input.subscriber.id,
      subscriberType: storedSubscriberType(input.subscriber.type),
      format: input.format ?? 'native',
      endpoint: input.subscriber.endpoint,
      headers: input.subscriber.headers ?? {},
      authType: auth ? auth.type : null,
      authCredentialsSealed: auth ? this.seal(id, 'credentials', auth.credentials) : null,
      filterExpression: input.filter?.expression ?? null,
      retryPolicy: retryPolicyOf(input.retry_policy, current?.retryPolicy ?? DEFAULT_RETRY_POLICY),
      circuitBreaker: breakerOf(
        input.circuit_breaker,
        current?.circuitBreaker ?? DEFAULT_CIRCUIT_BREAKER_CONFIG,
      ),
      circuitState: current?.circuitState ?? { ...CLOSED_CIRCUIT },
      description: input.description ?? null,
      status: current?.status ?? 'active',
      disabledReason: current?.disabledReason ?? null,
      ...this.secretsAfter(id, input.signing_secret, current, now),
      failingSince: current?.failingSince ?? null,
      createdAt: current?.createdAt ?? now,
      updatedAt: now,
      revision: current?.revision ?? 1,
    };
  }

  /**
   * The signing secrets after a write: kept unless `supplied` differs from the current one; a
   * replaced secret keeps signing for 24 h as the previous one, as after a rotation.
   */
  private secretsAfter(
    id: string,
    supplied: string | undefined,
    current: StoredSubscription | undefined,
    now: Date,
  ): Pick<StoredSubscription, 'signingSecretSealed' | 'previousSecretSealed' | 'secretRotatedAt'> {
    const kept = {
      signingSecretSealed: current?.signingSecretSealed ?? '',
      previousSecretSealed: current?.previousSecretSealed ?? null,
      secretRotatedAt: current?.secretRotatedAt ?? null,
    };
    if (supplied === undefined) return kept;
    if (!current) {
      return { ...kept, signingSecretSealed: this.seal(id, 'secret', supplied) };
    }
    const currentSecret = this.unseal(id, 'secret', current.signingSecretSealed);
    if (currentSecret === supplied) return kept;
    return {
      signingSecretSealed: this.seal(id, 'secret', supplied),
      previousSecretSealed: this.seal(id, 'previous-secret', currentSecret),
      secretRotatedAt: now,
    };
  }

  private save(tx: Queryable, s: StoredSubscription): Promise<StoredSubscription> {
    return bumpTargetsVersion(tx).then(() => saveSubscription(tx, s));
  }

  /**
   * A new subscription; `signingSecret` is the generated secret (shown once), or undefined when
   * the client supplied its own.
   */
  async create(input: SubscriptionInput, mode: ConsumerCheckMode = 'enforce'): Promise<Created> {
    const warnings = await this.validate(input, mode);
    return { ...(await this.insert(input)), warnings };
  }

  private async insert(input: SubscriptionInput): Promise<Omit<Created, 'warnings'>> {
    const id = randomUUID();
    const generated = input.signing_secret === undefined ? generateSecret() : undefined;
    const subscription = this.build(
      id,
      { ...input, signing_secret: input.signing_secret ?? generated },
      undefined,
      this.deps.clock.now(),
    );
    const saved = await this.deps.db.transaction((tx) => this.save(tx, subscription));
    return { subscription: saved, signingSecret: generated };
  }

  /**
   * `PUT /v1/subscriptions/by-name/{name}`: creates the subscription, or replaces every field of
   * the existing one with `input` (absent fields take their defaults; the signing secret and the
   * status are kept unless given).
   */
  async upsert(
    name: string,
    requiredRevision: number | '*' | undefined,
    input: SubscriptionInput,
    mode: ConsumerCheckMode = 'enforce',
  ): Promise<Created & { created: boolean }> {
    const replacement = withDefaultPolicies({ ...input, name });
    const warnings = await this.validate(replacement, mode);
    const current = await findSubscription(this.deps.db, name, false, 'name');
    if (!current) {
      assertNoPrecondition(requiredRevision);
      return { ...(await this.insert(replacement)), warnings, created: true };
    }
    const subscription = await this.revise(current, requiredRevision, replacement);
    return { subscription, signingSecret: undefined, warnings, created: false };
  }

  async get(
    id: string,
    db: Queryable = this.deps.db,
    forUpdate = false,
  ): Promise<StoredSubscription> {
    const found = isUuid(id) ? await findSubscription(db, id, forUpdate) : undefined;
    if (!found) throw notFound(`subscription ${id}`);
    return found;
  }

  list(filters: SubscriptionFilters) {
    return listSubscriptions(this.deps.db, filters);
  }

  /**
   * Applies `changes` over the current subscription; credentials are kept unless the change
   * names `subscriber.authentication` (null removes them).
   */
  async update(
    id: string,
    requiredRevision: number | '*',
    changes: Partial<SubscriptionInput>,
    mode: ConsumerCheckMode = 'enforce',
  ): Promise<{ subscription: StoredSubscription; warnings: ConsumerWarning[] }> {
    const current = await this.get(id);
    assertRevision(requiredRevision, current.revision);
    const stored = this.currentInput(current);
    const subscriber = { ...stored.subscriber, ...changes.subscriber };
    const input: SubscriptionInput = { ...stored, ...changes, subscriber };
    const warnings = await this.validate(input, mode);
    return { subscription: await this.revise(current, requiredRevision, input), warnings };
  }

  /**
   * Saves `input` over `current` (row locked, revision checked again) unless it holds what
   * `current` holds. Compared as inputs, in clear: sealed texts differ on every sealing.
   */
  private revise(
    current: StoredSubscription,
    requiredRevision: number | '*' | undefined,
    input: SubscriptionInput,
  ): Promise<StoredSubscription> {
    const stored = withDefaultPolicies(this.currentInput(current), current);
    const next = withDefaultPolicies(input, current);
    if (next.signing_secret !== undefined) {
      stored.signing_secret = this.unseal(current.id, 'secret', current.signingSecretSealed);
    }
    return reviseIfChanged(
      requiredRevision,
      current,
      normalized(next),
      () =>
        this.modify(current.id, requiredRevision ?? '*', (locked, now) =>
          this.build(current.id, input, locked, now),
        ),
      normalized(stored),
    );
  }

  private currentInput(s: StoredSubscription): SubscriptionInput {
    const credentials = this.credentials(s);
    return {
      name: s.name,
      labels: s.labels,
      event_pattern: s.eventPattern,
      format: s.format,
      subscriber: {
        id: s.subscriberId,
        type: s.subscriberType,
        endpoint: s.endpoint,
        headers: s.headers,
        ...(credentials ? { authentication: credentials } : {}),
      },
      filter: s.filterExpression ? { expression: s.filterExpression } : null,
      retry_policy: snakeRetryPolicy(s.retryPolicy),
      circuit_breaker: snakeBreaker(s.circuitBreaker),
      description: s.description,
    };
  }

  /** Locks the row, checks the revision, saves what `change` makes of it. */
  private modify(
    id: string,
    requiredRevision: number | '*',
    change: (current: StoredSubscription, now: Date) => StoredSubscription,
  ): Promise<StoredSubscription> {
    return this.deps.db.transaction(async (tx) => {
      const current = await this.get(id, tx, true);
      assertRevision(requiredRevision, current.revision);
      return this.save(tx, change(current, this.deps.clock.now()));
    });
  }

  pause(id: string) {
    return this.modify(id, '*', (s, now) => ({ ...s, status: 'paused', updatedAt: now }));
  }

  /** Back to active, from paused or disabled; a disabled one starts with a clean slate. */
  resume(id: string) {
    return this.modify(id, '*', (s, now) => ({
      ...s,
      status: 'active',
      disabledReason: null,
      failingSince: null,
      circuitState: s.status === 'disabled' ? { ...CLOSED_CIRCUIT } : s.circuitState,
      updatedAt: now,
    }));
  }

  async rotateSecret(
    id: string,
  ): Promise<{ subscription: StoredSubscription; signingSecret: string }> {
    const signingSecret = generateSecret();
    const subscription = await this.modify(id, '*', (s, now) => ({
      ...s,
      signingSecretSealed: this.seal(id, 'secret', signingSecret),
      previousSecretSealed: this.seal(
        id,
        'previous-secret',
        this.unseal(id, 'secret', s.signingSecretSealed),
      ),
      secretRotatedAt: now,
      updatedAt: now,
    }));
    return { subscription, signingSecret };
  }

  /** Disables (410 Gone, failing too long); true when this call did it. */
  disable(id: string, reason: string): Promise<boolean> {
    return this.deps.db.transaction(async (tx) => {
      const changed = await disableSubscription(tx, id, reason, this.deps.clock.now());
      if (changed) await bumpTargetsVersion(tx);
      return changed;
    });
  }

  async remove(id: string): Promise<void> {
    await this.deps.db.transaction(async (tx) => {
      if (!isUuid(id) || !(await deleteSubscription(tx, id))) throw notFound(`subscription ${id}`);
      await bumpTargetsVersion(tx);
    });
  }
}
