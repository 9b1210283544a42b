import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey } from '../auth/keys.ts';
import { startTestApp, type TestApp } from '../testing/app.ts';
import { testBackends } from '../testing/backends.ts';
import { createLogger } from './logger.ts';

const BOOTSTRAP = `eps_logtest_${'z'.repeat(40)}`;

/** A logger writing into memory, and its lines parsed. */
function capturedLogger() {
  const chunks: string[] = [];
  const logger = createLogger('trace', { write: (chunk: string) => void chunks.push(chunk) });
  return {
    logger,
    text: () => chunks.join(''),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line)),
  };
}

describe.each(testBackends())('logs on $name', (backend) => {
  let t: TestApp;
  const log = capturedLogger();

  beforeAll(async () => {
    t = await startTestApp(
      backend,
      { authEnabled: true, bootstrapAdminKey: BOOTSTRAP },
      { logger: log.logger },
    );
  });
  afterAll(() => t.close());

  it('says at start that authentication is on, without the bootstrap key', () => {
    expect(log.lines()).toContainEqual(
      expect.objectContaining({ auth: 'on', msg: 'authentication is on: API keys required' }),
    );
    expect(log.lines()).toContainEqual(
      expect.objectContaining({ outcome: 'created', msg: 'bootstrap admin key ensured' }),
    );
  });

  it('writes one JSON line per request with no key, hash or secret in any line', async () => {
    const before = log.lines().filter((l) => l.msg === 'request').length;
    const created = await t.request('POST', '/v1/api-keys', {
      headers: { 'x-api-key': BOOTSTRAP },
      payload: { name: 'logged?', scopes: ['definitions:read'] },
    });
    expect(created.status).toBe(201);
    const key: string = created.body.key;
    await t.request('GET', '/v1/event-definitions', {
      headers: { authorization: `Bearer ${key}` },
    });
    await t.request('GET', '/v1/event-definitions', { headers: { 'x-api-key': key } });
    await t.request('POST', '/v1/event-definitions', {
      headers: { 'x-api-key': key },
      payload: {},
    });
    const wrong = `eps_${'w'.repeat(43)}`;
    await t.request('GET', '/v1/event-definitions', { headers: { 'x-api-key': wrong } });

    const requests = log.lines().filter((l) => l.msg === 'request');
    expect(requests.length - before).toBe(5);
    expect(requests.at(-3)).toMatchObject({
      method: 'GET',
      route: '/v1/event-definitions',
      statusCode: 200,
      apiKeyId: created.body.id,
      traceId: expect.stringMatching(/^[0-9a-f]{32}$/),
    });
    expect(requests.at(-2)).toMatchObject({ statusCode: 403, apiKeyId: created.body.id });
    expect(requests.at(-1)).toMatchObject({ statusCode: 401 });
    expect(requests.at(-1).apiKeyId).toBeUndefined();

    const text = log.text();
    for (const secret of [BOOTSTRAP, key, wrong, hashApiKey(key), hashApiKey(BOOTSTRAP)]) {
      expect(text).not.toContain(secret);
    }
    expect(text).not.toContain(key.slice(12));
  });

  it('redacts key-bearing fields wherever a log call puts them', () => {
    const secret = `eps_${'s'.repeat(43)}`;
    log.logger.info(
      {
        req: { headers: { authorization: `Bearer ${secret}`, 'x-api-key': secret } },
        headers: { authorization: `Bearer ${secret}`, 'x-api-key': secret },
        key: secret,
        config: { bootstrapAdminKey: secret },
      },
      'careless',
    );
    const line = log.lines().find((l) => l.msg === 'careless');
    expect(line.req.headers).toEqual({ authorization: '[redacted]', 'x-api-key': '[redacted]' });
    expect(line.headers).toEqual({ authorization: '[redacted]', 'x-api-key': '[redacted]' });
    expect(line.key).toBe('[redacted]');
    expect(log.text()).not.toContain(secret);
  });
});

describe.each(testBackends())('start-up log with auth off on $name', (backend) => {
  it('warns that every route is open', async () => {
    const log = capturedLogger();
    const t = await startTestApp(backend, { authEnabled: false }, { logger: log.logger });
    await t.close();
    expect(log.lines()).toContainEqual(
      expect.objectContaining({
        level: 40,
        auth: 'off',
        host: '127.0.0.1',
        msg: expect.stringContaining('authentication is OFF'),
      }),
    );
  });
});
