import type { Queryable } from '../db/database.ts';
import { PatternIndex } from './pattern-index.ts';
import type { RoutingTarget, TargetKind } from './work.ts';
import { targetsVersion } from './work-store.ts';

/** Where the targets of one kind come from (the enabled triggers, the active subscriptions). */
export interface TargetSource {
  kind: TargetKind;
  /** Reads every live target; called whenever the targets version moved. */
  load(db: Queryable): Promise<RoutingTarget[]>;
}

/**
 * The in-memory matching index of every routing target, by pattern segment. It is rebuilt when
 * the targets version in the database moves — on this instance or any other sharing it — and
 * checked before each use, so no instance routes with a stale index.
 */
export class RoutingIndex {
  private index = new PatternIndex<RoutingTarget>();
  private loadedVersion = -1;
  private refreshing: Promise<void> | undefined;

  constructor(private readonly sources: TargetSource[]) {}

  /** The targets version the index holds (-1 before the first load). */
  get version(): number {
    return this.loadedVersion;
  }

  /** Rebuilds the index when the stored version differs from the loaded one. */
  refresh(db: Queryable): Promise<void> {
    this.refreshing ??= this.reloadIfStale(db).finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async reloadIfStale(db: Queryable): Promise<void> {
    const version = await targetsVersion(db);
    if (version === this.loadedVersion) return;
    const index = new PatternIndex<RoutingTarget>();
    for (const source of this.sources) {
      for (const target of await source.load(db)) index.add(target.pattern, target);
    }
    this.index = index;
    this.loadedVersion = version;
  }

  /** Targets whose pattern matches, ordered by kind then by their firing order. */
  match(eventPattern: string): RoutingTarget[] {
    return this.index
      .match(eventPattern)
      .sort(
        (a, b) =>
          a.kind.localeCompare(b.kind) || a.order[0] - b.order[0] || a.order[1] - b.order[1],
      );
  }
}
