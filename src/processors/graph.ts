import { matchesPattern } from '../routing/pattern.ts';

/**
 * The pattern graph of event processors: an edge leads from a processor to every processor whose
 * `eventPattern` (wildcards allowed) matches its output pattern (always concrete), i.e. whose
 * input its derived events can be.
 */
export interface GraphNode {
  id: string;
  name: string;
  eventPattern: string;
  outputPattern: string;
}

/**
 * The loop `candidate` would close among `others` — the names along it, starting and ending at
 * the candidate — or undefined when its derived events can never come back to it. Conditions
 * are not considered: a loop that a condition might break is still refused, since whether it
 * breaks depends on payloads no check at creation can know. Breadth first, so the loop named is
 * a shortest one; each processor is visited once, so this is linear in the edges.
 */
export function loopThrough(candidate: GraphNode, others: GraphNode[]): string[] | undefined {
  const nodes = [candidate, ...others.filter((node) => node.id !== candidate.id)];
  const cameFrom = new Map<string, GraphNode>();
  let frontier = [candidate];
  while (frontier.length > 0) {
    const next: GraphNode[] = [];
    for (const from of frontier) {
      for (const to of nodes) {
        if (!matchesPattern(to.eventPattern, from.outputPattern)) continue;
        if (to.id === candidate.id) return pathTo(from, cameFrom, candidate);
        if (cameFrom.has(to.id)) continue;
        cameFrom.set(to.id, from);
        next.push(to);
      }
    }
    frontier = next;
  }
  return undefined;
}

/** The names from `start` to `last` along the search's steps, then back to `start`. */
function pathTo(last: GraphNode, cameFrom: Map<string, GraphNode>, start: GraphNode): string[] {
  const between: string[] = [];
  let node: GraphNode | undefined = last;
  while (node && node.id !== start.id) {
    between.unshift(node.name);
    node = cameFrom.get(node.id);
  }
  return [start.name, ...between, start.name];
}
