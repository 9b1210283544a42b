import { describe, expect, it } from 'vitest';
import {
  activeSecrets,
  generateSecret,
  SECRET_ROTATION_GRACE_MS,
  secretKey,
  signatureHeaders,
  verifySignature,
} from './signature.ts';

// The signing vector published with the Standard Webhooks reference libraries.
const vector = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  msgId: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: new Date(1614265330 * 1000),
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

describe('signatureHeaders', () => {
  it('matches the Standard Webhooks test vector', () => {
    expect(
      signatureHeaders({
        msgId: vector.msgId,
        timestamp: vector.timestamp,
        body: vector.body,
        secrets: [vector.secret],
      }),
    ).toEqual({
      'webhook-id': vector.msgId,
      'webhook-timestamp': '1614265330',
      'webhook-signature': vector.signature,
    });
  });

  it('signs the same bytes given as a string or a Uint8Array, in whole seconds', () => {
    const asText = signatureHeaders({
      msgId: vector.msgId,
      timestamp: new Date(1614265330 * 1000 + 999),
      body: vector.body,
      secrets: [vector.secret],
    });
    const asBytes = signatureHeaders({
      msgId: vector.msgId,
      timestamp: vector.timestamp,
      body: new TextEncoder().encode(vector.body),
      secrets: [vector.secret],
    });
    expect(asText['webhook-signature']).toBe(vector.signature);
    expect(asBytes).toEqual(asText);
  });

  it('lists one v1 signature per secret, space separated, in the given order', () => {
    const other = generateSecret();
    const headers = signatureHeaders({
      msgId: vector.msgId,
      timestamp: vector.timestamp,
      body: vector.body,
      secrets: [other, vector.secret],
    });
    const parts = headers['webhook-signature'].split(' ');
    expect(parts).toHaveLength(2);
    expect(parts[0]).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(parts[0]).not.toBe(vector.signature);
    expect(parts[1]).toBe(vector.signature);
  });

  it('refuses an id with a dot, an empty id and no secrets', () => {
    const base = { timestamp: vector.timestamp, body: '{}', secrets: [vector.secret] };
    expect(() => signatureHeaders({ ...base, msgId: 'msg.1' })).toThrow(/contain no "."/);
    expect(() => signatureHeaders({ ...base, msgId: '' })).toThrow(/non-empty/);
    expect(() => signatureHeaders({ ...base, msgId: 'm', secrets: [] })).toThrow(/at least one/);
  });
});

describe('secrets', () => {
  it('generates whsec_ + base64 of 32 random bytes, different every time', () => {
    const a = generateSecret();
    const b = generateSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(secretKey(a)).toHaveLength(32);
    expect(a).not.toBe(b);
  });

  it('uses the decoded bytes as the key, with or without the prefix', () => {
    expect(secretKey(vector.secret)).toEqual(
      Buffer.from('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'base64'),
    );
    expect(secretKey('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')).toEqual(secretKey(vector.secret));
  });

  it.each([
    ['whsec_', 'empty'],
    ['whsec_c2hvcnQ=', 'too short'],
    [`whsec_${Buffer.alloc(65).toString('base64')}`, 'too long'],
    ['whsec_MfKQ9r8GKYqrTwjUPD8I*PZIo2LaLaSw', 'not base64'],
  ])('refuses %j (%s)', (secret) => {
    expect(() => secretKey(secret)).toThrow(/whsec_/);
  });

  it('signs with the previous secret too for 24 h after a rotation', () => {
    const rotatedAt = new Date('2026-11-27T10:00:00Z');
    const at = (ms: number) => new Date(rotatedAt.getTime() + ms);
    const secrets = { current: 'new', previous: 'old', rotatedAt };
    expect(activeSecrets(secrets, at(0))).toEqual(['new', 'old']);
    expect(activeSecrets(secrets, at(SECRET_ROTATION_GRACE_MS - 1))).toEqual(['new', 'old']);
    expect(activeSecrets(secrets, at(SECRET_ROTATION_GRACE_MS))).toEqual(['new']);
    expect(activeSecrets({ current: 'only' }, at(0))).toEqual(['only']);
  });
});

describe('verifySignature', () => {
  const now = new Date('2026-11-27T10:00:00Z');
  const body = '{"eventId":"e1","pattern":"bookings.created"}';
  const signed = (secrets: string[], timestamp = now) =>
    signatureHeaders({ msgId: 'msg_e1_s1', timestamp, body, secrets });

  it('accepts what signatureHeaders produced', () => {
    const secret = generateSecret();
    expect(verifySignature({ headers: signed([secret]), body, secret, now })).toEqual({
      valid: true,
    });
  });

  it('accepts the published vector at its own time', () => {
    const headers = {
      'webhook-id': vector.msgId,
      'webhook-timestamp': '1614265330',
      'webhook-signature': vector.signature,
    };
    const result = verifySignature({
      headers,
      body: vector.body,
      secret: vector.secret,
      now: vector.timestamp,
    });
    expect(result).toEqual({ valid: true });
  });

  it('refuses another secret, a changed body, id or timestamp', () => {
    const secret = generateSecret();
    const headers = signed([secret]);
    const check = (h: Record<string, string>, b = body, s = secret) =>
      verifySignature({ headers: h, body: b, secret: s, now });
    const refused = { valid: false, reason: 'no_matching_signature' };
    expect(check(headers, body, generateSecret())).toEqual(refused);
    expect(check(headers, `${body} `)).toEqual(refused);
    expect(check({ ...headers, 'webhook-id': 'msg_e2_s1' })).toEqual(refused);
    const oneSecondLater = String(Number(headers['webhook-timestamp']) + 1);
    expect(check({ ...headers, 'webhook-timestamp': oneSecondLater })).toEqual(refused);
  });

  it('refuses timestamps outside the tolerance, both ways', () => {
    const secret = generateSecret();
    const verifyAt = (offsetSeconds: number) =>
      verifySignature({
        headers: signed([secret], new Date(now.getTime() + offsetSeconds * 1000)),
        body,
        secret,
        now,
      });
    expect(verifyAt(-300)).toEqual({ valid: true });
    expect(verifyAt(300)).toEqual({ valid: true });
    expect(verifyAt(-301)).toEqual({ valid: false, reason: 'timestamp_out_of_tolerance' });
    expect(verifyAt(301)).toEqual({ valid: false, reason: 'timestamp_out_of_tolerance' });
  });

  it('refuses missing headers and malformed timestamps', () => {
    const secret = generateSecret();
    const headers = signed([secret]);
    const { 'webhook-signature': _, ...unsigned } = headers;
    expect(verifySignature({ headers: unsigned, body, secret, now })).toEqual({
      valid: false,
      reason: 'missing_headers',
    });
    expect(
      verifySignature({ headers: { ...headers, 'webhook-timestamp': '1e9' }, body, secret, now }),
    ).toEqual({ valid: false, reason: 'invalid_timestamp' });
  });

  it('ignores other versions and truncated signatures', () => {
    const secret = generateSecret();
    const headers = signed([secret]);
    const encoded = headers['webhook-signature'].slice(3);
    const tries = [`v1a,${encoded}`, `v2,${encoded}`, `v1,${encoded.slice(0, 20)}`, 'v1,', 'v1'];
    for (const signature of tries) {
      expect(
        verifySignature({
          headers: { ...headers, 'webhook-signature': signature },
          body,
          secret,
          now,
        }),
      ).toEqual({ valid: false, reason: 'no_matching_signature' });
    }
  });

  it('lets receivers holding either secret verify during a rotation, and only the new one after', () => {
    const previous = generateSecret();
    const current = generateSecret();
    const rotatedAt = now;
    const keyring = { current, previous, rotatedAt };
    const during = new Date(now.getTime() + 3_600_000);
    const after = new Date(now.getTime() + SECRET_ROTATION_GRACE_MS + 1000);
    const headersAt = (t: Date) => signed(activeSecrets(keyring, t), t);

    for (const secret of [previous, current]) {
      expect(verifySignature({ headers: headersAt(during), body, secret, now: during })).toEqual({
        valid: true,
      });
    }
    expect(
      verifySignature({ headers: headersAt(after), body, secret: current, now: after }),
    ).toEqual({ valid: true });
    expect(
      verifySignature({ headers: headersAt(after), body, secret: previous, now: after }),
    ).toEqual({ valid: false, reason: 'no_matching_signature' });
  });
});
