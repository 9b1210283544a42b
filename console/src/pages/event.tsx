import { useQuery } from '@tanstack/react-query';
import { Link } from 'wouter';
import { call, eps } from '../api.ts';
import { useAccess } from '../auth.tsx';
import type { DeliveryAttempt, Firing, Trace, TraceNode } from '../types.ts';
import { type Column, DataTable, JsonView, Loaded, Status, shortId, time } from '../ui.tsx';

/** Each event of the trace as a row, indented by its causation depth, placed on a time axis. */
function flatten(nodes: TraceNode[], depth = 0): { node: TraceNode; depth: number }[] {
  return nodes.flatMap((node) => [{ node, depth }, ...flatten(node.children, depth + 1)]);
}

function TraceTree({ trace, current }: { trace: Trace; current: string }) {
  const rows = flatten(trace.events);
  const times = rows.map(({ node }) => Date.parse(node.timestamp));
  const start = Math.min(...times);
  const span = Math.max(1, Math.max(...times) - start);
  return (
    <section aria-labelledby="trace-title">
      <h2 id="trace-title">Trace of {trace.correlationId}</h2>
      <p className="muted">
        Causation tree on a time axis of {span} ms{trace.truncated ? ' (truncated)' : ''}.
      </p>
      <ul className="trace" aria-label="Correlation trace">
        {rows.map(({ node, depth }) => (
          <li key={node.eventId} className={node.eventId === current ? 'current' : undefined}>
            <span className="trace-label" style={{ paddingLeft: `${depth * 1.25}rem` }}>
              {depth > 0 ? '└ ' : ''}
              <Link href={`/events/${node.eventId}`}>{node.pattern}</Link>
            </span>
            <span className="trace-axis">
              <span
                className="trace-dot"
                style={{ left: `${((Date.parse(node.timestamp) - start) / span) * 100}%` }}
                title={time(node.timestamp)}
              />
            </span>
            <span className="muted">+{Date.parse(node.timestamp) - start} ms</span>
          </li>
        ))}
      </ul>
    </section>
  );
}

function Firings({ eventId }: { eventId: string }) {
  const firings = useQuery({
    queryKey: ['firings', eventId],
    queryFn: () =>
      call(eps.GET('/v1/events/{eventId}/triggers', { params: { path: { eventId } } })),
  });
  return (
    <section aria-labelledby="firings-title">
      <h2 id="firings-title">Trigger firings</h2>
      <Loaded query={firings}>
        {({ firings: list }) =>
          list.length === 0 ? (
            <p className="muted">No trigger fired.</p>
          ) : (
            <FiringTable firings={list} />
          )
        }
      </Loaded>
    </section>
  );
}

const FIRING_COLUMNS: Column<Firing>[] = [
  {
    header: 'Trigger',
    cell: (firing) => (
      <Link href={`/triggers/${firing.triggerId}`}>{shortId(firing.triggerId)}</Link>
    ),
  },
  {
    header: 'Status',
    cell: (firing) => (
      <>
        <Status value={firing.status} />
        {firing.error ? (
          <div className="bad">{firing.error}</div>
        ) : (
          firing.reason && <div className="muted">{firing.reason}</div>
        )}
      </>
    ),
  },
  { header: 'Action', cell: (firing) => firing.action },
  { header: 'Attempts', cell: (firing) => `${firing.attempts}/${firing.maxAttempts}` },
  { header: 'Correlation key', cell: (firing) => firing.correlationKey ?? '—' },
  {
    header: 'Instances',
    cell: (firing) =>
      (firing.workflowInstanceIds ?? []).map((id) => (
        <Link key={id} href={`/workflows/instances/${id}`}>
          {shortId(id)}{' '}
        </Link>
      )),
  },
  { header: 'When', cell: (firing) => time(firing.updatedAt) },
];

export function FiringTable({
  firings,
  retry,
}: {
  firings: Firing[];
  retry?: (firing: Firing) => void;
}) {
  return (
    <DataTable
      rows={firings}
      rowKey={(firing) => firing.id}
      columns={[
        ...FIRING_COLUMNS,
        !!retry && {
          header: 'Retry',
          cell: (firing) =>
            firing.status === 'dead' && (
              <button type="button" onClick={() => retry(firing)}>
                Retry
              </button>
            ),
        },
      ]}
    />
  );
}

const ATTEMPT_COLUMNS: Column<DeliveryAttempt>[] = [
  {
    header: 'Subscription',
    cell: (attempt) => (
      <Link href={`/deliveries/${attempt.subscription_id}`}>
        {shortId(attempt.subscription_id)}
      </Link>
    ),
  },
  {
    header: 'Event',
    cell: (attempt) => (
      <Link href={`/events/${attempt.event_id}`}>{shortId(attempt.event_id)}</Link>
    ),
  },
  {
    header: 'Attempt',
    cell: (attempt) => `${attempt.attempt}${attempt.replay ? ' (replay)' : ''}`,
  },
  { header: 'Outcome', cell: (attempt) => <Status value={attempt.outcome} /> },
  { header: 'Status', cell: (attempt) => attempt.status_code ?? '—' },
  {
    header: 'Latency',
    cell: (attempt) => (attempt.latency_ms === null ? '—' : `${attempt.latency_ms} ms`),
  },
  { header: 'Response / error', cell: (attempt) => attempt.error ?? '', className: 'excerpt' },
  { header: 'When', cell: (attempt) => time(attempt.created_at) },
];

/** Attempts of each delivery (one delivery per subscription), in order. */
export function AttemptTable({ attempts }: { attempts: DeliveryAttempt[] }) {
  return <DataTable rows={attempts} rowKey={(attempt) => attempt.id} columns={ATTEMPT_COLUMNS} />;
}

function Deliveries({ eventId }: { eventId: string }) {
  const deliveries = useQuery({
    queryKey: ['event-deliveries', eventId],
    queryFn: () =>
      call(
        eps.GET('/v1/events/{eventId}/deliveries', {
          params: { path: { eventId }, query: { limit: 100 } },
        }),
      ),
  });
  return (
    <section aria-labelledby="deliveries-title">
      <h2 id="deliveries-title">Deliveries</h2>
      <Loaded query={deliveries}>
        {({ deliveries: list }) =>
          list.length === 0 ? (
            <p className="muted">No delivery attempts.</p>
          ) : (
            <AttemptTable attempts={list} />
          )
        }
      </Loaded>
    </section>
  );
}

export default function EventDetail({ eventId }: { eventId: string }) {
  const { can } = useAccess();
  const event = useQuery({
    queryKey: ['event', eventId],
    queryFn: () => call(eps.GET('/v1/events/{eventId}', { params: { path: { eventId } } })),
  });
  const trace = useQuery({
    queryKey: ['trace', eventId],
    queryFn: () => call(eps.GET('/v1/events/{eventId}/trace', { params: { path: { eventId } } })),
  });
  return (
    <Loaded query={event}>
      {(data) => (
        <>
          <p>
            <Link href="/events">Events</Link> /
          </p>
          <h1>
            <code>{data.pattern}</code> <span className="muted">v{data.version}</span>
          </h1>
          <p className="muted">
            {data.eventId} · {time(data.timestamp)}
            {data.source && ` · from ${data.source.type}/${data.source.id}`}
          </p>
          <div className="columns">
            <section aria-labelledby="payload-title">
              <h2 id="payload-title">Payload</h2>
              <JsonView value={data.payload} label="Payload" />
            </section>
            <section aria-labelledby="metadata-title">
              <h2 id="metadata-title">Metadata</h2>
              <JsonView value={data.metadata} label="Metadata" />
            </section>
          </div>
          <Loaded query={trace}>{(t) => <TraceTree trace={t} current={eventId} />}</Loaded>
          {can('triggers:read') && <Firings eventId={eventId} />}
          {can('subscriptions:read') && <Deliveries eventId={eventId} />}
        </>
      )}
    </Loaded>
  );
}
