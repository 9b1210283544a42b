import { useQuery } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { Link, useLocation, useSearch } from 'wouter';
import { call, eps } from '../api.ts';
import { JsonView, Loaded, Pager, Status, shortId, TableWrap, time } from '../ui.tsx';

const STATUSES = ['running', 'completed', 'failed', 'cancelled'] as const;
type InstanceStatus = (typeof STATUSES)[number];
const PAGE = 50;

const listDefinitions = () =>
  call(eps.GET('/v1/workflow-definitions', { params: { query: { limit: 500 } } }));

function Definitions() {
  const definitions = useQuery({ queryKey: ['workflow-definitions'], queryFn: listDefinitions });
  return (
    <section aria-labelledby="definitions-title">
      <h2 id="definitions-title">Definitions</h2>
      <Loaded query={definitions}>
        {({ workflowDefinitions: list = [] }) => (
          <TableWrap>
            <table>
              <thead>
                <tr>
                  <th scope="col">Workflow</th>
                  <th scope="col">Version</th>
                  <th scope="col">Executor</th>
                  <th scope="col">Description</th>
                  <th scope="col">Instances</th>
                </tr>
              </thead>
              <tbody>
                {list.map((definition) => (
                  <tr key={definition.id}>
                    <td>{definition.name}</td>
                    <td>{definition.version}</td>
                    <td>{definition.executor}</td>
                    <td>{definition.description}</td>
                    <td>
                      <Link
                        href={`/workflows?${new URLSearchParams({ workflowDefinitionId: definition.id! })}`}
                      >
                        instances of {definition.name}
                      </Link>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        )}
      </Loaded>
    </section>
  );
}

function Instances() {
  const search = useSearch();
  const [, navigate] = useLocation();
  const params = new URLSearchParams(search);
  const [offset, setOffset] = useState(0);
  const [correlationKey, setCorrelationKey] = useState(params.get('correlationKey') ?? '');
  const status = params.get('status') as InstanceStatus | null;
  const workflowDefinitionId = params.get('workflowDefinitionId');
  const query = {
    limit: PAGE,
    offset,
    ...(status ? { status } : {}),
    ...(params.get('correlationKey') ? { correlationKey: params.get('correlationKey')! } : {}),
    ...(workflowDefinitionId ? { workflowDefinitionId } : {}),
  };
  const instances = useQuery({
    queryKey: ['workflow-instances', query],
    queryFn: () => call(eps.GET('/v1/workflow-instances', { params: { query } })),
    refetchInterval: 5000,
  });
  const apply = (changes: Record<string, string>) => {
    const next = new URLSearchParams(search);
    for (const [name, value] of Object.entries(changes)) {
      if (value) next.set(name, value);
      else next.delete(name);
    }
    setOffset(0);
    navigate(`/workflows?${next}`);
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    apply({ correlationKey: correlationKey.trim() });
  };
  return (
    <section aria-labelledby="instances-title">
      <h2 id="instances-title">Instances</h2>
      <form className="toolbar" onSubmit={submit} aria-label="Instance filters">
        <label htmlFor="instance-status">Status</label>
        <select
          id="instance-status"
          value={status ?? ''}
          onChange={(event) => apply({ status: event.target.value })}
        >
          <option value="">any</option>
          {STATUSES.map((value) => (
            <option key={value}>{value}</option>
          ))}
        </select>
        <label htmlFor="instance-key">Correlation key</label>
        <input
          id="instance-key"
          value={correlationKey}
          onChange={(event) => setCorrelationKey(event.target.value)}
        />
        <button type="submit">Filter</button>
        {workflowDefinitionId && (
          <button type="button" onClick={() => apply({ workflowDefinitionId: '' })}>
            All workflows
          </button>
        )}
      </form>
      <Loaded query={instances}>
        {({ workflowInstances: list = [], pagination }) => (
          <>
            <TableWrap>
              <table>
                <thead>
                  <tr>
                    <th scope="col">Instance</th>
                    <th scope="col">Status</th>
                    <th scope="col">Correlation key</th>
                    <th scope="col">Trigger event</th>
                    <th scope="col">Started</th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((instance) => (
                    <tr key={instance.id}>
                      <td>
                        <Link href={`/workflows/instances/${instance.id}`}>
                          {shortId(instance.id!)}
                        </Link>
                      </td>
                      <td>
                        <Status value={instance.status!} />
                      </td>
                      <td>{instance.correlationKey ?? '—'}</td>
                      <td>
                        {instance.triggerEventId ? (
                          <Link href={`/events/${instance.triggerEventId}`}>
                            {instance.triggerEventId}
                          </Link>
                        ) : (
                          '—'
                        )}
                      </td>
                      <td>{time(instance.createdAt)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableWrap>
            <Pager
              offset={offset}
              limit={PAGE}
              total={pagination?.total ?? 0}
              onOffset={setOffset}
            />
          </>
        )}
      </Loaded>
    </section>
  );
}

export function Workflows() {
  return (
    <>
      <h1>Workflows</h1>
      <Definitions />
      <Instances />
    </>
  );
}

export function InstancePage({ id }: { id: string }) {
  const instance = useQuery({
    queryKey: ['workflow-instance', id],
    queryFn: () => call(eps.GET('/v1/workflow-instances/{id}', { params: { path: { id } } })),
  });
  return (
    <Loaded query={instance}>
      {(data) => (
        <>
          <p>
            <Link href="/workflows">Workflows</Link> /
          </p>
          <h1>
            Instance {shortId(data.id!)} <Status value={data.status!} />
          </h1>
          <dl className="result">
            <dt>Correlation key</dt>
            <dd>{data.correlationKey ?? '—'}</dd>
            <dt>Started by</dt>
            <dd>
              {data.triggerEventId ? (
                <Link href={`/events/${data.triggerEventId}`}>{data.triggerEventId}</Link>
              ) : (
                '—'
              )}
              {data.triggerId && (
                <>
                  {' '}
                  via trigger{' '}
                  <Link href={`/triggers/${data.triggerId}`}>{shortId(data.triggerId)}</Link>
                </>
              )}
            </dd>
            {data.cancelledByEventId && (
              <>
                <dt>Cancelled by</dt>
                <dd>
                  <Link href={`/events/${data.cancelledByEventId}`}>{data.cancelledByEventId}</Link>
                </dd>
              </>
            )}
            <dt>Created</dt>
            <dd>{time(data.createdAt)}</dd>
            <dt>Updated</dt>
            <dd>{time(data.updatedAt)}</dd>
            {data.error && (
              <>
                <dt>Error</dt>
                <dd className="bad">{data.error}</dd>
              </>
            )}
          </dl>
          <h2>Input</h2>
          <JsonView value={data.input} label="Input" />
          {data.output != null && (
            <>
              <h2>Output</h2>
              <JsonView value={data.output} label="Output" />
            </>
          )}
        </>
      )}
    </Loaded>
  );
}
