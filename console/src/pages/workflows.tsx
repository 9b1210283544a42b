import { useQuery } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { Link, useLocation, useSearch } from 'wouter';
import { call, eps } from '../api.ts';
import { workflowDefinitionsQuery } from '../queries.ts';
import {
  DataTable,
  JsonView,
  LabelledInput,
  Loaded,
  Pager,
  Status,
  shortId,
  time,
} from '../ui.tsx';

const STATUSES = ['running', 'completed', 'failed', 'cancelled'] as const;
type InstanceStatus = (typeof STATUSES)[number];
const PAGE = 50;

function Definitions() {
  const definitions = useQuery(workflowDefinitionsQuery);
  return (
    <section aria-labelledby="definitions-title">
      <h2 id="definitions-title">Definitions</h2>
      <Loaded query={definitions}>
        {({ workflowDefinitions: list = [] }) => (
          <DataTable
            rows={list}
            rowKey={(definition) => definition.id!}
            columns={[
              { header: 'Workflow', cell: (definition) => definition.name },
              { header: 'Version', cell: (definition) => definition.version },
              { header: 'Executor', cell: (definition) => definition.executor },
              { header: 'Description', cell: (definition) => definition.description },
              {
                header: 'Instances',
                cell: (definition) => (
                  <Link
                    href={`/workflows?${new URLSearchParams({ workflowDefinitionId: definition.id! })}`}
                  >
                    instances of {definition.name}
                  </Link>
                ),
              },
            ]}
          />
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
        <LabelledInput
          id="instance-key"
          label="Correlation key"
          value={correlationKey}
          onValue={setCorrelationKey}
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
            <DataTable
              rows={list}
              rowKey={(instance) => instance.id!}
              columns={[
                {
                  header: 'Instance',
                  cell: (instance) => (
                    <Link href={`/workflows/instances/${instance.id}`}>
                      {shortId(instance.id!)}
                    </Link>
                  ),
                },
                { header: 'Status', cell: (instance) => <Status value={instance.status!} /> },
                { header: 'Correlation key', cell: (instance) => instance.correlationKey ?? '—' },
                {
                  header: 'Trigger event',
                  cell: (instance) =>
                    instance.triggerEventId ? (
                      <Link href={`/events/${instance.triggerEventId}`}>
                        {instance.triggerEventId}
                      </Link>
                    ) : (
                      '—'
                    ),
                },
                { header: 'Started', cell: (instance) => time(instance.createdAt) },
              ]}
            />
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
