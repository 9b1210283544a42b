import { useMutation, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { Link } from 'wouter';
import { matchesPattern } from '../../../src/routing/pattern.ts';
import { call, eps } from '../api.ts';
import { useAccess } from '../auth.tsx';
import { subscriptionsQuery, triggersQuery } from '../queries.ts';
import { DataTable, ErrorBox, JsonView, Loaded, Status, time } from '../ui.tsx';
import { DefinitionIcon } from './catalog.tsx';
import { SchemaTree } from './schema-tree.tsx';

type Version = NonNullable<Awaited<ReturnType<typeof loadVersions>>['versions']>[number];

const loadVersions = (ref: string) =>
  call(eps.GET('/v1/event-definitions/{ref}/versions', { params: { path: { ref } } }));

const semverOrder = (a: string, b: string) => a.localeCompare(b, undefined, { numeric: true });

function Timeline({
  versions,
  selected,
  onSelect,
}: {
  versions: Version[];
  selected: string;
  onSelect: (version: string) => void;
}) {
  return (
    <ol className="timeline" aria-label="Versions">
      {versions.map((version) => (
        <li key={version.id} className={version.version === selected ? 'selected' : undefined}>
          <button
            type="button"
            aria-pressed={version.version === selected}
            onClick={() => onSelect(version.version!)}
          >
            v{version.version}
          </button>{' '}
          <Status value={version.status ?? 'active'} />
          <div className="muted">{time(version.created_at)}</div>
          {version.sunset_at && <div className="warn">sunset {time(version.sunset_at)}</div>}
        </li>
      ))}
    </ol>
  );
}

/**
 * The changes from one version to a later one, as the compatibility endpoint finds them when
 * the later schema is checked as that version (under the event's mode; the endpoint reports
 * which earlier versions the mode compares with).
 */
function Compare({ eventId, versions }: { eventId: string; versions: Version[] }) {
  const [from, setFrom] = useState(versions.at(-2)?.version ?? '');
  const [to, setTo] = useState(versions.at(-1)?.version ?? '');
  const check = useMutation({
    mutationFn: () => {
      const later = versions.find((v) => v.version === to)!;
      return call(
        eps.POST('/v1/event-definitions/{ref}/compatibility', {
          params: { path: { ref: eventId } },
          body: { payload_schema: later.payload_schema ?? {}, version: to },
        }),
      );
    },
  });
  const result = check.data;
  const changes = result?.changes.filter((change) => change.version === from) ?? [];
  return (
    <section aria-labelledby="compare-title">
      <h2 id="compare-title">Changes between versions</h2>
      <form
        className="toolbar"
        onSubmit={(event) => {
          event.preventDefault();
          check.mutate();
        }}
      >
        <label htmlFor="compare-from">From</label>
        <select id="compare-from" value={from} onChange={(event) => setFrom(event.target.value)}>
          {versions.map((v) => (
            <option key={v.id}>{v.version}</option>
          ))}
        </select>
        <label htmlFor="compare-to">to</label>
        <select id="compare-to" value={to} onChange={(event) => setTo(event.target.value)}>
          {versions.map((v) => (
            <option key={v.id}>{v.version}</option>
          ))}
        </select>
        <button type="submit" disabled={semverOrder(from, to) >= 0 || check.isPending}>
          Compare
        </button>
      </form>
      {check.isError && <ErrorBox error={check.error} />}
      {result &&
        (result.against.includes(from) ? (
          changes.length === 0 ? (
            <p>
              No schema changes from {from} to {to}.
            </p>
          ) : (
            <DataTable
              caption={`${from} → ${to} under ${result.mode}`}
              rows={changes}
              rowKey={(change) => `${change.code}${change.path}${change.direction}`}
              columns={[
                { header: 'Change', cell: (change) => <code>{change.code}</code> },
                { header: 'Where', cell: (change) => <code>{change.path}</code> },
                {
                  header: 'Breaking',
                  cell: (change) =>
                    change.breaking ? <span className="bad">breaking</span> : 'no',
                },
              ]}
            />
          )
        ) : (
          <p className="muted">
            Under {result.mode}, {to} is checked against{' '}
            {result.against.join(', ') || 'no earlier version'}; pick one of those to compare with.
          </p>
        ))}
    </section>
  );
}

function Readers({ pattern }: { pattern: string }) {
  const { can } = useAccess();
  const triggers = useQuery({
    ...triggersQuery,
    enabled: can('triggers:read'),
  });
  const subscriptions = useQuery({
    ...subscriptionsQuery,
    enabled: can('subscriptions:read'),
  });
  const reading = <T,>(list: T[] | undefined, patternOf: (item: T) => string) =>
    (list ?? []).filter((item) => matchesPattern(patternOf(item), pattern));
  return (
    <section aria-labelledby="readers-title">
      <h2 id="readers-title">Read by</h2>
      {can('triggers:read') && (
        <Loaded query={triggers}>
          {(data) => (
            <ul>
              {reading(data.triggers, (t) => t.eventPattern!).map((trigger) => (
                <li key={trigger.id}>
                  trigger <Link href={`/triggers/${trigger.id}`}>{trigger.name ?? trigger.id}</Link>{' '}
                  <span className="muted">
                    ({trigger.triggerType} on {trigger.eventPattern})
                  </span>
                </li>
              ))}
            </ul>
          )}
        </Loaded>
      )}
      {can('subscriptions:read') && (
        <Loaded query={subscriptions}>
          {(data) => (
            <ul>
              {reading(data.subscriptions, (s) => s.event_pattern).map((subscription) => (
                <li key={subscription.subscription_id}>
                  subscription{' '}
                  <Link href={`/deliveries/${subscription.subscription_id}`}>
                    {subscription.name ?? subscription.subscription_id}
                  </Link>{' '}
                  <span className="muted">({subscription.event_pattern})</span>
                </li>
              ))}
            </ul>
          )}
        </Loaded>
      )}
    </section>
  );
}

/** `1 event`, `1,204 events`. */
const eventCount = (count: number) =>
  `${count.toLocaleString('en')} event${count === 1 ? '' : 's'}`;

function Producers({ eventId }: { eventId: string }) {
  const producers = useQuery({
    queryKey: ['producers', eventId],
    queryFn: () =>
      call(
        eps.GET('/v1/event-definitions/{ref}/producers', { params: { path: { ref: eventId } } }),
      ),
  });
  return (
    <section aria-labelledby="producers-title">
      <h2 id="producers-title">Producers on deprecated versions</h2>
      <Loaded query={producers}>
        {({ producers: list }) =>
          list.length === 0 ? (
            <p className="muted">None.</p>
          ) : (
            <ul>
              {list.map((p) => (
                <li key={`${p.version}${p.source_type}${p.source_id}`}>
                  {p.source_type}/{p.source_id} on v{p.version}: {eventCount(p.count)}, last{' '}
                  {time(p.last_seen_at)}
                </li>
              ))}
            </ul>
          )
        }
      </Loaded>
    </section>
  );
}

export default function DefinitionPage({ eventId }: { eventId: string }) {
  const versions = useQuery({
    queryKey: ['versions', eventId],
    queryFn: () => loadVersions(eventId),
  });
  const [chosen, setChosen] = useState<string>();
  return (
    <Loaded query={versions}>
      {(data) => {
        const list = [...(data.versions ?? [])].sort((a, b) => semverOrder(a.version!, b.version!));
        const current = list.find((v) => v.version === chosen) ?? list.at(-1);
        if (!current) return <p>No versions.</p>;
        return (
          <>
            <p>
              <Link href="/catalog">Catalog</Link> /
            </p>
            <h1>
              <DefinitionIcon meta={current.ui_metadata} /> {current.name}{' '}
              <span className="muted">v{current.version}</span>
            </h1>
            <p>
              <code>{current.pattern}</code> · {current.event_id} ·{' '}
              <Status value={current.status ?? 'active'} />
              {current.sunset_at && (
                <span className="warn"> · sunset {time(current.sunset_at)}</span>
              )}
            </p>
            {current.description && <p>{current.description}</p>}
            <div className="columns">
              <section aria-labelledby="versions-title">
                <h2 id="versions-title">Versions</h2>
                <Timeline versions={list} selected={current.version!} onSelect={setChosen} />
              </section>
              <section aria-labelledby="schema-title">
                <h2 id="schema-title">Payload schema of v{current.version}</h2>
                <SchemaTree schema={current.payload_schema} />
              </section>
            </div>
            <section aria-labelledby="examples-title">
              <h2 id="examples-title">Examples</h2>
              {(current.examples ?? []).length === 0 ? (
                <p className="muted">None.</p>
              ) : (
                current.examples!.map((example, index) => (
                  // biome-ignore lint/suspicious/noArrayIndexKey: examples have no identity but their place
                  <JsonView key={index} value={example} label={`Example ${index + 1}`} />
                ))
              )}
            </section>
            {list.length > 1 && <Compare eventId={current.event_id!} versions={list} />}
            <Producers eventId={current.event_id!} />
            <Readers pattern={current.pattern!} />
          </>
        );
      }}
    </Loaded>
  );
}
