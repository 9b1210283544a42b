import type { TestApp } from './app.ts';

/**
 * A builtin workflow definition named `name` with a START trigger on `eventPattern`, so that
 * every matching event starts an instance; the definition's id.
 */
export async function builtinWorkflowStartedBy(
  t: TestApp,
  eventPattern: string,
  name: string,
): Promise<string> {
  const definition = await t.request('POST', '/v1/workflow-definitions', { payload: { name } });
  if (definition.status !== 201) throw new Error(`workflow definition: ${definition.status}`);
  const trigger = await t.request('POST', '/v1/workflow-triggers', {
    payload: { workflowDefinitionId: definition.body.id, eventPattern, triggerType: 'START' },
  });
  if (trigger.status !== 201) throw new Error(`workflow trigger: ${trigger.status}`);
  return definition.body.id;
}

/**
 * A running builtin instance with `correlationKey`: an `order.placed` event (whose definition
 * the caller registered) published with that correlation id and routed; the instance's id.
 */
export async function startBuiltinInstance(t: TestApp, correlationKey: string): Promise<string> {
  await builtinWorkflowStartedBy(t, 'order.placed', 'order-flow');
  const placed = await t.request('POST', '/v1/events', {
    payload: { pattern: 'order.placed', payload: {}, metadata: { correlationId: correlationKey } },
  });
  if (placed.status !== 202) throw new Error(`order.placed: ${placed.status}`);
  while ((await t.app.workers.runOnce()) > 0) {}
  const instances = await t.request(
    'GET',
    `/v1/workflow-instances?correlationKey=${correlationKey}`,
  );
  return instances.body.workflowInstances[0].id;
}
