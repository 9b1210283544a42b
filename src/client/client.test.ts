import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { checkedInTypesAreCurrent } from './generate.ts';
import { createEpsClient, type EpsClient, isErrorEnvelope } from './index.ts';

describe('the generated client types', () => {
  it('are those of the current routes (else run `npm run client:generate`)', async () => {
    const { current } = await checkedInTypesAreCurrent();
    expect(
      current,
      'src/client/generated/openapi.ts differs from the routes: run `npm run client:generate`',
    ).toBe(true);
  });
});

describe.each(testBackends())(
  'the typed client against a listening service on $name',
  (backend) => {
    let service: TestApp;
    let eps: EpsClient;

    beforeAll(async () => {
      service = await startTestApp(backend);
      await service.app.server.listen({ port: 0, host: '127.0.0.1' });
      const { port } = service.app.server.server.address() as AddressInfo;
      eps = createEpsClient({ baseUrl: `http://127.0.0.1:${port}/` });
    });
    afterAll(() => service?.close());

    it('registers and reads a definition, and answers errors in the envelope', async () => {
      const created = await eps.POST('/v1/event-definitions', {
        body: {
          event_id: 'BookingEvents.created',
          name: 'Booking Created',
          pattern: 'bookings.created',
          version: '1.0.0',
          payload_schema: { type: 'object' },
        },
      });
      expect(created.response.status).toBe(201);
      const read = await eps.GET('/v1/event-definitions/{ref}', {
        params: { path: { ref: 'bookings.created' } },
      });
      expect(read.response.status).toBe(200);
      expect(read.data).toMatchObject({ event_id: 'BookingEvents.created', version: '1.0.0' });

      const missing = await eps.GET('/v1/event-definitions/{ref}', {
        params: { path: { ref: 'nothing.here' } },
      });
      expect(missing.response.status).toBe(404);
      expect(isErrorEnvelope(missing.error)).toBe(true);
    });
  },
);
