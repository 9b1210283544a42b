import type { TestApp } from './app.ts';

/**
 * Wait resolver rounds until every event committed before the call was matched (and the
 * timeouts due on the test clock applied), or 10 s passed. The resolver only passes
 * transactions of its database that have ended, so a transaction of the app's own still open
 * (a publish in flight) may make one round stop short.
 */
export async function resolveCommitted(t: TestApp): Promise<void> {
  const target = BigInt(
    await firstValue(t, 'SELECT pg_snapshot_xmax(pg_current_snapshot())::text'),
  );
  const deadline = Date.now() + 10_000;
  for (;;) {
    await t.app.waits.resolveRounds();
    const position = BigInt(await firstValue(t, 'SELECT position_xid::text FROM wait_resolver'));
    if (position >= target || Date.now() > deadline) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function firstValue(t: TestApp, sql: string): Promise<string> {
  const { rows } = await t.db.query<Record<string, string>>(sql);
  return Object.values(rows[0] ?? {})[0] ?? '0';
}
