import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { Link } from 'wouter';
import { call, eps } from '../api.ts';
import { Can, useAccess } from '../auth.tsx';
import { subscriptionsQuery } from '../queries.ts';
import type { Subscription } from '../types.ts';
import {
  type Column,
  DataTable,
  ErrorBox,
  LabelledInput,
  Loaded,
  NewerOlder,
  Status,
  shortId,
  time,
} from '../ui.tsx';
import { AttemptTable } from './event.tsx';

const LOG_PAGE = 50;

const SUBSCRIPTION_COLUMNS: Column<Subscription>[] = [
  {
    header: 'Subscription',
    cell: (s) => (
      <Link href={`/deliveries/${s.subscription_id}`}>{s.name ?? s.subscription_id}</Link>
    ),
  },
  { header: 'Pattern', cell: (s) => <code>{s.event_pattern}</code> },
  {
    header: 'Endpoint',
    cell: (s) => `${s.subscriber.type} ${s.subscriber.endpoint}`,
    className: 'excerpt',
  },
  { header: 'Status', cell: (s) => <Status value={s.status} /> },
  {
    header: 'Circuit',
    cell: ({ circuit_breaker: circuit }) => (
      <>
        <Status value={circuit.state} />{' '}
        {circuit.consecutive_failures > 0 && `${circuit.consecutive_failures} failures`}
      </>
    ),
  },
];

export function SubscriptionList() {
  const subscriptions = useQuery({
    ...subscriptionsQuery,
    refetchInterval: 5000,
  });
  return (
    <>
      <h1>Deliveries</h1>
      <Loaded query={subscriptions}>
        {({ subscriptions: list }) => (
          <DataTable rows={list} rowKey={(s) => s.subscription_id} columns={SUBSCRIPTION_COLUMNS} />
        )}
      </Loaded>
    </>
  );
}

function DeadLetters({ subscription }: { subscription: Subscription }) {
  const id = subscription.subscription_id;
  const { can } = useAccess();
  const queryClient = useQueryClient();
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const letters = useQuery({
    queryKey: ['dead-letters', id],
    queryFn: () =>
      call(eps.GET('/v1/dead-letters', { params: { query: { subscriptionId: id, limit: 100 } } })),
    refetchInterval: 5000,
  });
  const refresh = () => {
    setSelected(new Set());
    void queryClient.invalidateQueries({ queryKey: ['dead-letters', id] });
    void queryClient.invalidateQueries({ queryKey: ['attempts', id] });
  };
  const redeliver = useMutation({
    mutationFn: async (ids: string[]) => {
      for (const letter of ids) {
        await call(
          eps.POST('/v1/dead-letters/{id}/redeliver', { params: { path: { id: letter } } }),
        );
      }
      return ids.length;
    },
    onSuccess: refresh,
  });
  const redeliverAll = useMutation({
    mutationFn: () =>
      call(eps.POST('/v1/subscriptions/{id}/dead-letters/redeliver', { params: { path: { id } } })),
    onSuccess: refresh,
  });
  const toggle = (letter: string) => {
    const next = new Set(selected);
    if (!next.delete(letter)) next.add(letter);
    setSelected(next);
  };
  const writable = can('subscriptions:write');
  return (
    <section aria-labelledby="dead-title">
      <h2 id="dead-title">Dead letters</h2>
      {(redeliver.isError || redeliverAll.isError) && (
        <ErrorBox error={redeliver.error ?? redeliverAll.error} />
      )}
      {redeliver.data !== undefined && <p role="status">{redeliver.data} queued again.</p>}
      {redeliverAll.data && <p role="status">{redeliverAll.data.requeued} queued again.</p>}
      <Loaded query={letters}>
        {({ deadLetters: list }) =>
          list.length === 0 ? (
            <p className="muted">No dead letters.</p>
          ) : (
            <>
              {writable && (
                <div className="toolbar">
                  <button
                    type="button"
                    disabled={selected.size === 0 || redeliver.isPending}
                    onClick={() => redeliver.mutate([...selected])}
                  >
                    Redeliver selected ({selected.size})
                  </button>
                  <button
                    type="button"
                    disabled={redeliverAll.isPending}
                    onClick={() => redeliverAll.mutate()}
                  >
                    Redeliver all
                  </button>
                </div>
              )}
              <DataTable
                label="Dead letters"
                rows={list}
                rowKey={(letter) => letter.id}
                columns={[
                  writable && {
                    header: 'Select',
                    cell: (letter) => (
                      <input
                        type="checkbox"
                        aria-label={`Select dead letter of event ${letter.event_id}`}
                        checked={selected.has(letter.id)}
                        onChange={() => toggle(letter.id)}
                      />
                    ),
                  },
                  {
                    header: 'Event',
                    cell: (letter) => (
                      <Link href={`/events/${letter.event_id}`}>{letter.event_id}</Link>
                    ),
                  },
                  { header: 'Attempts', cell: (letter) => letter.attempts },
                  { header: 'Last error', cell: (letter) => letter.error, className: 'excerpt' },
                  { header: 'Dead since', cell: (letter) => time(letter.dead_since) },
                  writable && {
                    header: 'Redeliver',
                    cell: (letter) => (
                      <button
                        type="button"
                        aria-label={`Redeliver event ${letter.event_id}`}
                        disabled={redeliver.isPending}
                        onClick={() => redeliver.mutate([letter.id])}
                      >
                        Redeliver
                      </button>
                    ),
                  },
                ]}
              />
            </>
          )
        }
      </Loaded>
    </section>
  );
}

function DeliveryLog({ id }: { id: string }) {
  const [offset, setOffset] = useState(0);
  const attempts = useQuery({
    queryKey: ['attempts', id, offset],
    queryFn: () =>
      call(
        eps.GET('/v1/subscriptions/{id}/deliveries', {
          params: { path: { id }, query: { limit: LOG_PAGE, offset } },
        }),
      ),
    refetchInterval: 3000,
  });
  return (
    <section aria-labelledby="log-title">
      <h2 id="log-title">Delivery log</h2>
      <Loaded query={attempts}>
        {({ deliveries }) => (
          <>
            {deliveries.length === 0 ? (
              <p className="muted">No attempts yet.</p>
            ) : (
              <AttemptTable attempts={deliveries} />
            )}
            <NewerOlder
              label="Delivery log pages"
              onNewer={offset > 0 ? () => setOffset(Math.max(0, offset - LOG_PAGE)) : undefined}
              onOlder={
                deliveries.length < LOG_PAGE ? undefined : () => setOffset(offset + LOG_PAGE)
              }
            />
          </>
        )}
      </Loaded>
    </section>
  );
}

/** datetime-local value of a moment (local time, minutes). */
const localInput = (date: Date) =>
  new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);

/**
 * Replays a time range: the answer says how many events matched and were queued; progress is
 * the replayed attempts the delivery log shows since.
 */
function Replay({ id }: { id: string }) {
  const [start, setStart] = useState(() => localInput(new Date(Date.now() - 3_600_000)));
  const [end, setEnd] = useState(() => localInput(new Date(Date.now() + 60_000)));
  const replay = useMutation({
    mutationFn: async () => ({
      startedAt: new Date().toISOString(),
      ...(await call(
        eps.POST('/v1/subscriptions/{id}/replay', {
          params: { path: { id } },
          body: { startTime: new Date(start).toISOString(), endTime: new Date(end).toISOString() },
        }),
      )),
    }),
  });
  const progress = useQuery({
    queryKey: ['replay-progress', id, replay.data?.startedAt],
    enabled: !!replay.data,
    refetchInterval: (query) =>
      (query.state.data ?? 0) >= (replay.data?.queued ?? 0) ? false : 1000,
    queryFn: async () => {
      const { deliveries } = await call(
        eps.GET('/v1/subscriptions/{id}/deliveries', {
          params: { path: { id }, query: { limit: 1000 } },
        }),
      );
      const since = replay.data!.startedAt;
      return new Set(
        deliveries
          .filter((d) => d.replay && d.outcome === 'delivered' && d.created_at >= since)
          .map((d) => d.delivery_id),
      ).size;
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    replay.mutate();
  };
  return (
    <section aria-labelledby="replay-title">
      <h2 id="replay-title">Replay a time range</h2>
      <form className="toolbar" onSubmit={submit}>
        <LabelledInput
          id="replay-start"
          label="From"
          type="datetime-local"
          value={start}
          onValue={setStart}
        />
        <LabelledInput
          id="replay-end"
          label="until"
          type="datetime-local"
          value={end}
          onValue={setEnd}
        />
        <button type="submit" disabled={replay.isPending}>
          Replay
        </button>
      </form>
      {replay.isError && <ErrorBox error={replay.error} />}
      {replay.data && (
        <p role="status">
          {replay.data.matched} events matched, {replay.data.queued} queued; delivered so far:{' '}
          {progress.data ?? 0}
          {replay.data.queued > 0 && (
            <progress
              max={replay.data.queued}
              value={progress.data ?? 0}
              aria-label="Replay progress"
            />
          )}
        </p>
      )}
    </section>
  );
}

function Actions({ subscription }: { subscription: Subscription }) {
  const id = subscription.subscription_id;
  const queryClient = useQueryClient();
  const [secret, setSecret] = useState<string>();
  const action = useMutation({
    mutationFn: async (kind: 'pause' | 'resume' | 'rotate') => {
      const path = { params: { path: { id } } };
      if (kind === 'rotate') {
        const rotated = await call(eps.POST('/v1/subscriptions/{id}/rotate-secret', path));
        setSecret(rotated.signing_secret);
        return;
      }
      await call(
        kind === 'pause'
          ? eps.POST('/v1/subscriptions/{id}/pause', path)
          : eps.POST('/v1/subscriptions/{id}/resume', path),
      );
    },
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['subscription', id] }),
  });
  return (
    <div className="toolbar">
      {subscription.status === 'active' ? (
        <button type="button" onClick={() => action.mutate('pause')}>
          Pause
        </button>
      ) : (
        <button type="button" onClick={() => action.mutate('resume')}>
          Resume
        </button>
      )}
      <button
        type="button"
        className="danger"
        onClick={() => {
          if (window.confirm('Rotate the signing secret? Receivers must accept the new one.'))
            action.mutate('rotate');
        }}
      >
        Rotate secret
      </button>
      {action.isError && <ErrorBox error={action.error} />}
      {secret && (
        <p role="status">
          New signing secret (shown once): <code>{secret}</code>
        </p>
      )}
    </div>
  );
}

export function SubscriptionPage({ id }: { id: string }) {
  const subscription = useQuery({
    queryKey: ['subscription', id],
    queryFn: () => call(eps.GET('/v1/subscriptions/{id}', { params: { path: { id } } })),
    refetchInterval: 5000,
  });
  return (
    <Loaded query={subscription}>
      {(s) => (
        <>
          <p>
            <Link href="/deliveries">Deliveries</Link> /
          </p>
          <h1>
            {s.name ?? shortId(s.subscription_id)} <Status value={s.status} />
          </h1>
          <p className="muted">
            <code>{s.event_pattern}</code> → {s.subscriber.type} {s.subscriber.endpoint} · format{' '}
            {s.format}
          </p>
          <p>
            Circuit breaker <Status value={s.circuit_breaker.state} />,{' '}
            {s.circuit_breaker.consecutive_failures} of {s.circuit_breaker.failure_threshold}{' '}
            failures in a row
            {s.failing_since && (
              <span className="warn"> · failing since {time(s.failing_since)}</span>
            )}
            {s.disabled_reason && <span className="bad"> · {s.disabled_reason}</span>}
          </p>
          <Can scope="subscriptions:write">
            <Actions subscription={s} />
          </Can>
          <DeadLetters subscription={s} />
          <Can scope="subscriptions:write">
            <Replay id={id} />
          </Can>
          <DeliveryLog id={id} />
        </>
      )}
    </Loaded>
  );
}
