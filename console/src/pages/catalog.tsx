import { useQuery } from '@tanstack/react-query';
import { useDeferredValue, useState } from 'react';
import { Link } from 'wouter';
import { call, eps } from '../api.ts';
import { LabelledInput, Loaded, Status } from '../ui.tsx';

type Definition = NonNullable<Awaited<ReturnType<typeof listDefinitions>>['definitions']>[number];

const listDefinitions = (q: string) =>
  call(
    eps.GET('/v1/event-definitions', {
      params: { query: { latest: true, limit: 500, ...(q ? { q } : {}) } },
    }),
  );

interface UiMetadata {
  icon?: string;
  color?: string;
  category?: string;
}

const UNCATEGORISED = 'uncategorised';

/** Definitions by ui_metadata.category, categories and names in alphabetical order. */
function byCategory(definitions: Definition[]): [string, Definition[]][] {
  const groups = new Map<string, Definition[]>();
  for (const definition of definitions) {
    const category = (definition.ui_metadata as UiMetadata | undefined)?.category || UNCATEGORISED;
    groups.set(category, [...(groups.get(category) ?? []), definition]);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([category, list]) => [
      category,
      list.sort((a, b) => (a.name ?? '').localeCompare(b.name ?? '')),
    ]);
}

/**
 * The icon of a definition on its color: ui_metadata.icon is a name (`calendar`, `cart`) or a
 * symbol; names show as their initial, so no icon font or image has to ship for every name.
 */
export function DefinitionIcon({ meta }: { meta: unknown }) {
  const { icon, color } = (meta ?? {}) as UiMetadata;
  const text = !icon ? '•' : [...icon].length <= 2 ? icon : icon[0]!.toUpperCase();
  return (
    <span className="icon" aria-hidden="true" style={{ borderColor: color ?? 'var(--border)' }}>
      {text}
    </span>
  );
}

export default function Catalog() {
  const [search, setSearch] = useState('');
  const q = useDeferredValue(search.trim());
  const definitions = useQuery({ queryKey: ['definitions', q], queryFn: () => listDefinitions(q) });
  return (
    <>
      <h1>Catalog</h1>
      <div className="toolbar">
        <LabelledInput
          id="catalog-search"
          label="Search"
          type="search"
          placeholder="name, pattern or event_id"
          value={search}
          onValue={setSearch}
        />
      </div>
      <Loaded query={definitions}>
        {({ definitions: list = [] }) =>
          list.length === 0 ? (
            <p className="muted">No event definitions{q ? ` match “${q}”` : ''}.</p>
          ) : (
            byCategory(list).map(([category, members]) => (
              <section key={category} aria-labelledby={`category-${category}`}>
                <h2 id={`category-${category}`}>{category}</h2>
                <ul className="cards">
                  {members.map((definition) => (
                    <li
                      key={definition.id}
                      className="panel card"
                      style={{ borderLeftColor: (definition.ui_metadata as UiMetadata)?.color }}
                    >
                      <DefinitionIcon meta={definition.ui_metadata} />
                      <div>
                        <Link href={`/catalog/${encodeURIComponent(definition.event_id!)}`}>
                          {definition.name}
                        </Link>
                        <div className="muted">
                          <code>{definition.pattern}</code> · {definition.event_id} · v
                          {definition.version} <Status value={definition.status ?? 'active'} />
                        </div>
                        {definition.description && <p>{definition.description}</p>}
                      </div>
                    </li>
                  ))}
                </ul>
              </section>
            ))
          )
        }
      </Loaded>
    </>
  );
}
