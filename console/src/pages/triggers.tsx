import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { Link, useLocation } from 'wouter';
import { ApiError, call, eps } from '../api.ts';
import { Can, useAccess } from '../auth.tsx';
import { triggersQuery, workflowDefinitionsQuery } from '../queries.ts';
import type { Firing } from '../types.ts';
import { DataTable, ErrorBox, FieldError, JsonView, Loaded, Status } from '../ui.tsx';
import { FiringTable } from './event.tsx';

type Trigger = Awaited<ReturnType<typeof loadTrigger>>['trigger'];

const loadTrigger = async (id: string) => {
  const answer = eps.GET('/v1/workflow-triggers/{id}', { params: { path: { id } } });
  const etag = (await answer).response.headers.get('etag') ?? '';
  return { trigger: await call(answer), etag };
};

export function TriggerList() {
  const triggers = useQuery(triggersQuery);
  return (
    <>
      <h1>Trigger lab</h1>
      <Can scope="triggers:write">
        <p>
          <Link href="/triggers/new" className="button primary">
            New trigger
          </Link>
        </p>
      </Can>
      <Loaded query={triggers}>
        {({ triggers: list = [] }) => (
          <DataTable
            rows={list}
            rowKey={(trigger) => trigger.id!}
            columns={[
              {
                header: 'Trigger',
                cell: (trigger) => (
                  <Link href={`/triggers/${trigger.id}`}>{trigger.name ?? trigger.id}</Link>
                ),
              },
              { header: 'Pattern', cell: (trigger) => <code>{trigger.eventPattern}</code> },
              { header: 'Type', cell: (trigger) => trigger.triggerType },
              {
                header: 'Condition',
                cell: (trigger) => <code>{trigger.eventCondition ?? '—'}</code>,
              },
              {
                header: 'Enabled',
                cell: (trigger) => <Status value={trigger.enabled ? 'active' : 'disabled'} />,
              },
            ]}
          />
        )}
      </Loaded>
    </>
  );
}

interface FormValues {
  name: string;
  workflowDefinitionId: string;
  eventPattern: string;
  triggerType: 'START' | 'CANCEL';
  eventCondition: string;
  inputMapping: string;
  correlationKey: string;
  priority: string;
  enabled: boolean;
  description: string;
}

const valuesOf = (trigger?: Trigger): FormValues => ({
  name: trigger?.name ?? '',
  workflowDefinitionId: trigger?.workflowDefinitionId ?? '',
  eventPattern: trigger?.eventPattern ?? '',
  triggerType: trigger?.triggerType ?? 'START',
  eventCondition: trigger?.eventCondition ?? '',
  inputMapping: trigger?.inputMapping ? JSON.stringify(trigger.inputMapping, null, 2) : '',
  correlationKey: trigger?.correlationKey ?? '',
  priority: trigger?.priority == null ? '' : String(trigger.priority),
  enabled: trigger?.enabled ?? true,
  description: trigger?.description ?? '',
});

/** The body the API takes: empty optional fields are null, the mapping is parsed JSON. */
function bodyOf(values: FormValues) {
  let inputMapping: Record<string, unknown> | null = null;
  if (values.inputMapping.trim()) {
    try {
      inputMapping = JSON.parse(values.inputMapping);
    } catch (error) {
      throw new ApiError(400, {
        code: 'validation_error',
        message: 'the input mapping is not JSON',
        details: [
          { field: 'inputMapping', code: 'invalid_json', message: (error as Error).message },
        ],
      });
    }
  }
  const orNull = (text: string) => (text.trim() ? text.trim() : null);
  return {
    name: orNull(values.name),
    workflowDefinitionId: values.workflowDefinitionId,
    eventPattern: values.eventPattern.trim(),
    triggerType: values.triggerType,
    eventCondition: orNull(values.eventCondition),
    inputMapping,
    correlationKey: orNull(values.correlationKey),
    priority: values.priority.trim() ? Number(values.priority) : null,
    enabled: values.enabled,
    description: orNull(values.description),
  };
}

const FIELDS: {
  name: keyof FormValues;
  label: string;
  hint?: string;
  multiline?: boolean;
}[] = [
  { name: 'name', label: 'Name' },
  { name: 'eventPattern', label: 'Event pattern', hint: 'e.g. orders.paid or orders.*' },
  {
    name: 'eventCondition',
    label: 'Condition',
    hint: "e.g. payload.total > 100 && metadata.tags.region == 'eu'",
  },
  {
    name: 'inputMapping',
    label: 'Input mapping (JSON)',
    hint: '{"orderId": "payload.orderId"}',
    multiline: true,
  },
  { name: 'correlationKey', label: 'Correlation key', hint: 'e.g. payload.orderId' },
  { name: 'priority', label: 'Priority', hint: 'lower fires first' },
  { name: 'description', label: 'Description' },
];

/**
 * Creates or edits a trigger. The API validates (pattern, condition, mapping, key); its
 * messages show next to the field they name.
 */
function TriggerForm({ trigger, etag }: { trigger?: Trigger; etag?: string }) {
  const [values, setValues] = useState(() => valuesOf(trigger));
  const [, navigate] = useLocation();
  const queryClient = useQueryClient();
  const workflows = useQuery(workflowDefinitionsQuery);
  const save = useMutation({
    mutationFn: async () => {
      const body = bodyOf(values);
      return trigger
        ? call(
            eps.PATCH('/v1/workflow-triggers/{id}', {
              params: { path: { id: trigger.id! }, header: { 'if-match': etag ?? '' } },
              body,
            } as never),
          )
        : call(eps.POST('/v1/workflow-triggers', { body }));
    },
    onSuccess: async (saved) => {
      await queryClient.invalidateQueries({ queryKey: ['triggers'] });
      await queryClient.invalidateQueries({ queryKey: ['trigger', saved.id] });
      navigate(`/triggers/${saved.id}`);
    },
  });
  const set = (name: keyof FormValues, value: string | boolean) =>
    setValues({ ...values, [name]: value });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    save.mutate();
  };
  const error = save.error;
  return (
    <form
      className="panel trigger-form"
      onSubmit={submit}
      aria-label={trigger ? 'Edit trigger' : 'New trigger'}
      noValidate
    >
      {error && (
        <p className="error" role="alert">
          {error instanceof ApiError ? error.envelope.message : String(error)}
        </p>
      )}
      <div className="field">
        <label htmlFor="trigger-workflowDefinitionId">Workflow</label>
        <select
          id="trigger-workflowDefinitionId"
          value={values.workflowDefinitionId}
          required
          onChange={(event) => set('workflowDefinitionId', event.target.value)}
          aria-describedby="trigger-workflowDefinitionId-error"
        >
          <option value="">Choose a workflow…</option>
          {workflows.data?.workflowDefinitions?.map((workflow) => (
            <option key={workflow.id} value={workflow.id}>
              {workflow.name}@{workflow.version}
            </option>
          ))}
        </select>
        <FieldError
          error={error}
          field="workflowDefinitionId"
          id="trigger-workflowDefinitionId-error"
        />
      </div>
      <div className="field">
        <label htmlFor="trigger-triggerType">Type</label>
        <select
          id="trigger-triggerType"
          value={values.triggerType}
          onChange={(event) => set('triggerType', event.target.value)}
        >
          <option value="START">START a workflow</option>
          <option value="CANCEL">CANCEL workflows by correlation key</option>
        </select>
      </div>
      {FIELDS.map((field) => {
        const id = `trigger-${field.name}`;
        const props = {
          id,
          value: String(values[field.name]),
          'aria-describedby': `${id}-hint ${id}-error`,
          'aria-invalid': error instanceof ApiError && error.fieldMessages(field.name).length > 0,
        };
        return (
          <div className="field" key={field.name}>
            <label htmlFor={id}>{field.label}</label>
            {field.multiline ? (
              <textarea
                {...props}
                rows={4}
                onChange={(event) => set(field.name, event.target.value)}
              />
            ) : (
              <input {...props} onChange={(event) => set(field.name, event.target.value)} />
            )}
            {field.hint && (
              <span className="muted hint" id={`${id}-hint`}>
                {field.hint}
              </span>
            )}
            <FieldError error={error} field={field.name} id={`${id}-error`} />
          </div>
        );
      })}
      <div className="field checkbox">
        <input
          id="trigger-enabled"
          type="checkbox"
          checked={values.enabled}
          onChange={(event) => set('enabled', event.target.checked)}
        />
        <label htmlFor="trigger-enabled">Enabled</label>
      </div>
      <div className="toolbar">
        <button type="submit" className="primary" disabled={save.isPending}>
          {trigger ? 'Save trigger' : 'Create trigger'}
        </button>
      </div>
    </form>
  );
}

export function NewTrigger() {
  return (
    <>
      <p>
        <Link href="/triggers">Trigger lab</Link> /
      </p>
      <h1>New trigger</h1>
      <TriggerForm />
    </>
  );
}

/** The dry run: what the trigger would do with a definition's example or a pasted event. */
function TryIt({ trigger }: { trigger: Trigger }) {
  const [source, setSource] = useState<'example' | 'event'>('example');
  const [example, setExample] = useState('0');
  const [event, setEvent] = useState(() =>
    JSON.stringify({ pattern: trigger.eventPattern?.replace(/\*+/g, 'x'), payload: {} }, null, 2),
  );
  const run = useMutation({
    mutationFn: async () => {
      let body: { example: number } | Record<string, unknown>;
      if (source === 'example') body = { example: Number(example) };
      else {
        try {
          body = JSON.parse(event);
        } catch (error) {
          throw new ApiError(400, {
            code: 'invalid_json',
            message: `the event is not JSON: ${(error as Error).message}`,
          });
        }
      }
      return await call(
        eps.POST('/v1/workflow-triggers/{id}/test', {
          params: { path: { id: trigger.id! } },
          body: body as never,
        }),
      );
    },
  });
  return (
    <section aria-labelledby="try-title">
      <h2 id="try-title">Try it</h2>
      <form
        className="panel"
        onSubmit={(formEvent) => {
          formEvent.preventDefault();
          run.mutate();
        }}
      >
        <fieldset>
          <legend>Event to test with</legend>
          <label>
            <input
              type="radio"
              checked={source === 'example'}
              onChange={() => setSource('example')}
            />{' '}
            an example of the definition, number{' '}
          </label>
          <input
            aria-label="Example number"
            type="number"
            min={0}
            value={example}
            onChange={(changeEvent) => setExample(changeEvent.target.value)}
            className="narrow"
          />
          <br />
          <label>
            <input type="radio" checked={source === 'event'} onChange={() => setSource('event')} />{' '}
            this event
          </label>
          {source === 'event' && (
            <textarea
              aria-label="Event (JSON)"
              rows={6}
              value={event}
              onChange={(changeEvent) => setEvent(changeEvent.target.value)}
            />
          )}
        </fieldset>
        <button type="submit">Run dry run</button>
      </form>
      {run.isError && <ErrorBox error={run.error} />}
      {run.data && (
        <dl className="result" aria-label="Dry run result">
          <dt>Condition</dt>
          <dd>{String(run.data.conditionResult)}</dd>
          <dt>Action</dt>
          <dd>
            <Status value={run.data.action} />
          </dd>
          <dt>Correlation key</dt>
          <dd>{run.data.correlationKey ?? '—'}</dd>
          <dt>Mapped input</dt>
          <dd>
            <JsonView value={run.data.mappedInput} label="Mapped input" />
          </dd>
        </dl>
      )}
    </section>
  );
}

function FiringHistory({ triggerId }: { triggerId: string }) {
  const { can } = useAccess();
  const queryClient = useQueryClient();
  const firings = useQuery({
    queryKey: ['trigger-firings', triggerId],
    queryFn: () =>
      call(
        eps.GET('/v1/workflow-triggers/{id}/firings', {
          params: { path: { id: triggerId }, query: { limit: 100 } },
        }),
      ),
    refetchInterval: 5000,
  });
  const retry = useMutation({
    mutationFn: (firing: Firing) =>
      call(eps.POST('/v1/trigger-firings/{id}/retry', { params: { path: { id: firing.id } } })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['trigger-firings', triggerId] }),
  });
  return (
    <section aria-labelledby="history-title">
      <h2 id="history-title">Firing history</h2>
      {retry.isError && <ErrorBox error={retry.error} />}
      <Loaded query={firings}>
        {({ firings: list }) =>
          list.length === 0 ? (
            <p className="muted">It has not fired yet.</p>
          ) : (
            <FiringTable
              firings={list}
              {...(can('triggers:write') ? { retry: (f: Firing) => retry.mutate(f) } : {})}
            />
          )
        }
      </Loaded>
    </section>
  );
}

export function TriggerPage({ id }: { id: string }) {
  const { can } = useAccess();
  const trigger = useQuery({ queryKey: ['trigger', id], queryFn: () => loadTrigger(id) });
  return (
    <Loaded query={trigger}>
      {({ trigger: data, etag }) => (
        <>
          <p>
            <Link href="/triggers">Trigger lab</Link> /
          </p>
          <h1>
            {data.name ?? data.id} <Status value={data.enabled ? 'active' : 'disabled'} />
          </h1>
          <p className="muted">
            {data.triggerType} on <code>{data.eventPattern}</code> · revision {data.revision}
          </p>
          <div className="columns">
            <section aria-labelledby="edit-title">
              <h2 id="edit-title">{can('triggers:write') ? 'Edit' : 'Definition'}</h2>
              {can('triggers:write') ? (
                <TriggerForm key={etag} trigger={data} etag={etag} />
              ) : (
                <JsonView value={data} label="Trigger" />
              )}
            </section>
            <TryIt trigger={data} />
          </div>
          <FiringHistory triggerId={id} />
        </>
      )}
    </Loaded>
  );
}
