import { type CliContext, unwrap } from './context.ts';

/**
 * What the commands show instead of ids: the names of triggers, subscriptions and processors
 * (a wait has none: its pattern and key), each read once per run.
 */

type Json = Record<string, unknown>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isUuid = (text: string) => UUID.test(text);

const byId = (id: string) => ({ params: { path: { id } } });

/** The `name` of a resource read, when it has one. */
async function nameOf(read: Promise<{ data?: unknown }>): Promise<string | undefined> {
  const name = ((await read).data as Json | undefined)?.name;
  return typeof name === 'string' ? name : undefined;
}

/** Names of routing targets by id, each read once; one without a name (or gone) shows its id. */
export class Names {
  private readonly cache = new Map<string, Promise<string>>();
  constructor(private readonly context: CliContext) {}

  trigger(id: string): Promise<string> {
    return this.once(`t:${id}`, id, () =>
      nameOf(this.context.client.GET('/v1/workflow-triggers/{id}', byId(id))),
    );
  }

  subscription(id: string): Promise<string> {
    return this.once(`s:${id}`, id, () =>
      nameOf(this.context.client.GET('/v1/subscriptions/{id}', byId(id))),
    );
  }

  processor(id: string): Promise<string> {
    return this.once(`p:${id}`, id, () =>
      nameOf(this.context.client.GET('/v1/event-processors/{id}', byId(id))),
    );
  }

  /** A wait as `pattern key=correlationKey`. */
  wait(id: string): Promise<string> {
    return this.once(`w:${id}`, id, async () => {
      const wait = (await this.context.client.GET('/v1/waits/{id}', byId(id))).data;
      return wait && `${wait.pattern} key=${wait.correlationKey}`;
    });
  }

  private once(key: string, id: string, read: () => Promise<string | undefined>) {
    let name = this.cache.get(key);
    if (!name) {
      name = read().then(
        (found) => found ?? id,
        () => id,
      );
      this.cache.set(key, name);
    }
    return name;
  }
}

/** Subscriptions by name (or id), for `--subscription` and `subscription/<name>`. */
export async function subscriptionsNamed(context: CliContext, name: string) {
  if (isUuid(name)) return [{ id: name, name }];
  const page = await unwrap(
    context.client.GET('/v1/subscriptions', { params: { query: { name } } }),
    `finding subscription ${name}`,
  );
  return page.subscriptions.map((s) => ({
    id: s.subscription_id,
    name: s.name ?? s.subscription_id,
  }));
}
