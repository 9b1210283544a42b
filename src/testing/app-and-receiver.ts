import { afterAll, beforeAll, beforeEach } from 'vitest';
import type { AppDeps } from '../app.ts';
import type { Config } from '../config.ts';
import { startTestApp, type TestApp } from './app.ts';
import type { TestBackend } from './backends.ts';
import { startReceiver, type TestReceiver } from './receiver.ts';

/** The service of a test file and the webhook receiver its subscriptions deliver to. */
export type TestAppWithReceiver = TestApp & { receiver: TestReceiver };

/**
 * Registers beforeAll/afterAll: the service on `backend` (see {@link startTestApp}) and a
 * webhook receiver, started before the file's tests and closed after them; and beforeEach:
 * every table emptied, the receiver's requests and scripted answers forgotten. Read the fields
 * inside tests and later hooks (a file's own beforeEach runs after this one's reset).
 */
export function useAppWithReceiver(
  backend: TestBackend,
  overrides: Partial<Config> = {},
  deps: Partial<Pick<AppDeps, 'logger' | 'tracing'>> = {},
): TestAppWithReceiver {
  const fixture = {} as TestAppWithReceiver;
  beforeAll(async () => {
    Object.assign(fixture, await startTestApp(backend, overrides, deps));
    fixture.receiver = await startReceiver();
  });
  afterAll(async () => {
    await fixture.close?.();
    await fixture.receiver?.close();
  });
  beforeEach(async () => {
    await fixture.reset();
    fixture.receiver.received.length = 0;
    fixture.receiver.script.length = 0;
  });
  return fixture;
}
