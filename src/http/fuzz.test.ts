import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isErrorEnvelope } from '../client/index.ts';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { bookingDefinition } from '../testing/fixtures.ts';
import { answerValidator, type Operation, operationsOf, requestFor } from '../testing/fuzz.ts';

/**
 * Every operation of /openapi.json driven with generated valid and hostile requests, auth on:
 * no answer is a 5xx, every 4xx is the error envelope, and every answer to the documented
 * method matches the description (its status is listed, its body fits that status's schema).
 * `npm test` runs a bounded number; `npm run fuzz` sets FUZZ_REQUESTS (≥ 10,000).
 */
const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 300);
/**
 * The draws' seed. Fixed for `npm test`, so that a CI run turns red because the code changed,
 * not because it drew other requests than the last run; `npm run fuzz` (bench/fuzz.ts) draws a
 * new seed each run to explore. `FUZZ_SEED=<n>` draws a printed run's requests again.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_203);
if (!Number.isSafeInteger(SEED))
  throw new Error(`FUZZ_SEED is not an integer: ${process.env.FUZZ_SEED}`);

describe.each(testBackends())('fuzzing every operation of the description on $name', (backend) => {
  let t: TestApp;
  let admin: string;
  let operations: Operation[];
  let check: ReturnType<typeof answerValidator>;
  beforeAll(async () => {
    t = await startTestApp(backend, { authEnabled: true });
    admin = (await t.app.apiKeys.create({ name: 'fuzz', scopes: ['admin'] })).key;
    await t.request('POST', '/v1/event-definitions', {
      payload: bookingDefinition(),
      headers: { 'x-api-key': admin },
    });
    const doc = (await t.request('GET', '/openapi.json')).body;
    operations = operationsOf(doc);
    check = answerValidator(doc);
  });
  afterAll(() => t.close());

  it(`answers ${REQUESTS} generated requests without a 5xx, in the envelope, as described`, async () => {
    const auth = fc.oneof(
      { weight: 18, arbitrary: fc.constant({ 'x-api-key': admin }) },
      { weight: 1, arbitrary: fc.constant({}) },
      { weight: 1, arbitrary: fc.constant({ authorization: 'Bearer eps_not_a_key' }) },
    );
    const requests = fc.oneof(...operations.map((operation) => requestFor(operation, auth)));
    const tally = { requests: 0, serverErrors: 0, outsideEnvelope: 0, undescribed: 0 };
    const problems: string[] = [];
    console.info(
      `fuzz on ${backend.name}: seed ${SEED} (FUZZ_SEED=${SEED} draws these requests again)`,
    );
    await fc.assert(
      fc.asyncProperty(requests, async (request) => {
        const response = await t.app.server.inject({
          method: request.method as 'GET',
          url: request.url,
          headers: request.headers,
          ...(request.payload === undefined ? {} : { payload: request.payload }),
        });
        tally.requests += 1;
        const where = `${request.method} ${request.url} ${request.payload?.slice(0, 200) ?? ''}`;
        const status = response.statusCode;
        let body: unknown;
        try {
          body = response.body === '' ? undefined : JSON.parse(response.body);
        } catch {
          body = response.body;
        }
        if (status >= 500) {
          tally.serverErrors += 1;
          problems.push(`${status} ${where}`);
        } else if (status >= 400 && request.method !== 'HEAD' && !isErrorEnvelope(body)) {
          tally.outsideEnvelope += 1;
          problems.push(`not the envelope: ${status} ${where}`);
        }
        const operation = operations.find((o) => o.operationId === request.operationId)!;
        if (request.method === operation.method && status !== 405) {
          const mismatch = check(operation, status, body);
          if (mismatch) {
            tally.undescribed += 1;
            problems.push(`${mismatch} (${where})`);
          }
        }
      }),
      { numRuns: REQUESTS, seed: SEED, endOnFailure: false },
    );
    console.info(`fuzz on ${backend.name}: ${JSON.stringify(tally)}`);
    expect(problems.slice(0, 20)).toEqual([]);
    expect(tally.requests).toBe(REQUESTS);
  }, 600_000);
});
