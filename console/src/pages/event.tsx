import { useQuery } from '@tanstack/react-query';
import { Link } from 'wouter';
import { call, eps } from '../api.ts';
import { useAccess } from '../auth.tsx';
import type { DeliveryAttempt, Firing, StoredEvent, Trace, TraceNode } from '../types.ts';
import { JsonView, Loaded, Status, shortId, TableWrap, time } from '../ui.tsx';

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
    queryFn: async () =>
      (await call(
        eps.GET('/v1/events/{eventId}/triggers', { params: { path: { eventId } } }),
      )) as unknown as {
        firings: Firing[];
      },
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

export function FiringTable({
  firings,
  retry,
}: {
  firings: Firing[];
  retry?: (firing: Firing) => void;
}) {
  return (
    <TableWrap>
      <table>
        <thead>
          <tr>
            <th scope="col">Trigger</th>
            <th scope="col">Status</th>
            <th scope="col">Action</th>
            <th scope="col">Attempts</th>
            <th scope="col">Correlation key</th>
            <th scope="col">Instances</th>
            <th scope="col">When</th>
            {retry && <th scope="col">Retry</th>}
          </tr>
        </thead>
        <tbody>
          {firings.map((firing) => (
            <tr key={firing.id}>
              <td>
                <Link href={`/triggers/${firing.triggerId}`}>{shortId(firing.triggerId)}</Link>
              </td>
              <td>
                <Status value={firing.status} />
                {firing.error ? (
                  <div className="bad">{firing.error}</div>
                ) : (
                  firing.reason && <div className="muted">{firing.reason}</div>
                )}
              </td>
              <td>{firing.action ?? firing.triggerType}</td>
              <td>
                {firing.attempts}/{firing.maxAttempts}
              </td>
              <td>{firing.correlationKey ?? '—'}</td>
              <td>
                {(firing.workflowInstanceIds ?? []).map((id) => (
                  <Link key={id} href={`/workflows/instances/${id}`}>
                    {shortId(id)}{' '}
                  </Link>
                ))}
              </td>
              <td>{time(firing.updatedAt)}</td>
              {retry && (
                <td>
                  {firing.status === 'dead' && (
                    <button type="button" onClick={() => retry(firing)}>
                      Retry
                    </button>
                  )}
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </TableWrap>
  );
}

/** Attempts of each delivery (one delivery per subscription), in order. */
export function AttemptTable({ attempts }: { attempts: DeliveryAttempt[] }) {
  return (
    <TableWrap>
      <table>
        <thead>
          <tr>
            <th scope="col">Subscription</th>
            <th scope="col">Event</th>
            <th scope="col">Attempt</th>
            <th scope="col">Outcome</th>
            <th scope="col">Status</th>
            <th scope="col">Latency</th>
            <th scope="col">Response / error</th>
            <th scope="col">When</th>
          </tr>
        </thead>
        <tbody>
          {attempts.map((attempt) => (
            <tr key={attempt.id}>
              <td>
                <Link href={`/deliveries/${attempt.subscription_id}`}>
                  {shortId(attempt.subscription_id)}
                </Link>
              </td>
              <td>
                <Link href={`/events/${attempt.event_id}`}>{shortId(attempt.event_id)}</Link>
              </td>
              <td>
                {attempt.attempt}
                {attempt.replay ? ' (replay)' : ''}
              </td>
              <td>
                <Status value={attempt.outcome} />
              </td>
              <td>{attempt.status_code ?? '—'}</td>
              <td>{attempt.latency_ms === null ? '—' : `${attempt.latency_ms} ms`}</td>
              <td className="excerpt">{attempt.error ?? ''}</td>
              <td>{time(attempt.created_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableWrap>
  );
}

function Deliveries({ eventId }: { eventId: string }) {
  const deliveries = useQuery({
    queryKey: ['event-deliveries', eventId],
    queryFn: async () =>
      (await call(
        eps.GET('/v1/events/{eventId}/deliveries', {
          params: { path: { eventId }, query: { limit: 100 } },
        }),
      )) as unknown as { deliveries: DeliveryAttempt[] },
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
    queryFn: async () =>
      (await call(
        eps.GET('/v1/events/{eventId}', { params: { path: { eventId } } }),
      )) as StoredEvent,
  });
  const trace = useQuery({
    queryKey: ['trace', eventId],
    queryFn: async () =>
      (await call(
        eps.GET('/v1/events/{eventId}/trace', { params: { path: { eventId } } }),
      )) as unknown as Trace,
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
