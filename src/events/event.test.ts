import { describe, expect, it } from 'vitest';
import { bodyHash, type EventInput } from './event.ts';

describe('bodyHash', () => {
  const body = {
    pattern: 'orders.placed',
    eventId: 'e-1',
    payload: { z: [3, { b: 'é"\\', a: null }, [], {}], a: 1.5e-7, m: true, u: '\u2028' },
    metadata: { tags: { k: 'v' } },
  } as unknown as EventInput;

  it('is the hash stored for bodies received before (a repeat stays a duplicate, not a conflict)', () => {
    // Pinned: event_ids.body_hash holds this value for this body; another would turn a
    // publisher's retry of an event stored earlier into a 409.
    expect(bodyHash(body)).toBe('STah7Qr_tnfnVIaJDx8qn4tpxKgN_UW2_w9HjnbBByo');
  });

  it('does not depend on the order of keys, at any depth', () => {
    const reordered = {
      metadata: { tags: { k: 'v' } },
      payload: { u: '\u2028', m: true, a: 1.5e-7, z: [3, { a: null, b: 'é"\\' }, [], {}] },
      eventId: 'e-1',
      pattern: 'orders.placed',
    } as unknown as EventInput;
    expect(bodyHash(reordered)).toBe(bodyHash(body));
  });

  it('differs when a value differs, also inside arrays', () => {
    const changed = structuredClone(body) as unknown as { payload: { z: unknown[] } };
    changed.payload.z[0] = 4;
    expect(bodyHash(changed as unknown as EventInput)).not.toBe(bodyHash(body));
  });
});
