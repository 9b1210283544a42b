import { Graph, layout } from '@dagrejs/dagre';
import { useQuery } from '@tanstack/react-query';
import { Background, Controls, type Edge, MarkerType, type Node, ReactFlow } from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import { useState } from 'react';
import { Link, useLocation } from 'wouter';
import { matchesPattern } from '../../../src/routing/pattern.ts';
import { call, eps } from '../api.ts';
import { useAccess } from '../auth.tsx';
import {
  eventProcessorsQuery,
  subscriptionsQuery,
  triggersQuery,
  workflowDefinitionsQuery,
} from '../queries.ts';
import { DataTable, ErrorBox } from '../ui.tsx';

type Kind = 'definition' | 'trigger' | 'workflow' | 'subscription' | 'processor';
interface FlowNode {
  id: string;
  kind: Kind;
  label: string;
  href: string;
}
interface FlowEdge {
  from: string;
  to: string;
  attempts: number;
  failures: number;
}

const NODE_WIDTH = 190;
const NODE_HEIGHT = 48;
const WINDOWS = [1, 5, 15] as const;

const KIND_LABEL: Record<Kind, string> = {
  definition: 'event',
  trigger: 'trigger',
  workflow: 'workflow',
  subscription: 'subscription',
  processor: 'processor',
};

function useFlowData(minutes: number) {
  const { can } = useAccess();
  const definitions = useQuery({
    queryKey: ['definitions', 'latest'],
    queryFn: () =>
      call(eps.GET('/v1/event-definitions', { params: { query: { latest: true, limit: 500 } } })),
  });
  const triggers = useQuery({
    ...triggersQuery,
    enabled: can('triggers:read'),
  });
  const workflows = useQuery({
    ...workflowDefinitionsQuery,
    enabled: can('triggers:read'),
  });
  const subscriptions = useQuery({
    ...subscriptionsQuery,
    enabled: can('subscriptions:read'),
  });
  const processors = useQuery({
    ...eventProcessorsQuery,
    enabled: can('processors:read'),
  });
  const rates = useQuery({
    queryKey: ['flow-rates', minutes],
    queryFn: () => call(eps.GET('/v1/flow/rates', { params: { query: { minutes } } })),
    refetchInterval: 5000,
  });
  const queries = [definitions, triggers, workflows, subscriptions, processors, rates];
  return {
    error: queries.find((q) => q.isError)?.error,
    pending: definitions.isPending || rates.isPending,
    definitions: definitions.data?.definitions ?? [],
    triggers: triggers.data?.triggers ?? [],
    workflows: workflows.data?.workflowDefinitions ?? [],
    subscriptions: subscriptions.data?.subscriptions ?? [],
    processors: processors.data?.processors ?? [],
    rates: rates.data?.edges ?? [],
  };
}

/**
 * The graph: definitions → triggers → workflows, definitions → subscriptions, and definitions →
 * event processors → their output definitions, with rates.
 */
function buildGraph(data: ReturnType<typeof useFlowData>): {
  nodes: FlowNode[];
  edges: FlowEdge[];
} {
  const nodes: FlowNode[] = [];
  const edges: FlowEdge[] = [];
  const rateOf = (
    kind: 'trigger' | 'delivery' | 'processor',
    pattern: string | undefined,
    targetId: string,
  ) =>
    data.rates
      .filter(
        (r) =>
          r.kind === kind &&
          r.targetId === targetId &&
          (pattern === undefined || r.pattern === pattern),
      )
      .reduce(
        (sum, r) => ({
          attempts: sum.attempts + (pattern === undefined ? r.fired : r.attempts),
          failures: sum.failures + (pattern === undefined ? 0 : r.failures),
        }),
        { attempts: 0, failures: 0 },
      );
  for (const d of data.definitions) {
    nodes.push({
      id: `d:${d.pattern}`,
      kind: 'definition',
      label: d.name ?? d.pattern!,
      href: `/catalog/${d.event_id}`,
    });
  }
  for (const w of data.workflows) {
    nodes.push({
      id: `w:${w.id}`,
      kind: 'workflow',
      label: `${w.name}@${w.version}`,
      href: `/workflows?${new URLSearchParams({ workflowDefinitionId: w.id! })}`,
    });
  }
  /** A node that reads events of `pattern`, with an edge from each definition it matches. */
  const reader = (
    node: FlowNode,
    rateKind: 'trigger' | 'delivery' | 'processor',
    targetId: string,
    pattern: string,
  ) => {
    nodes.push(node);
    for (const d of data.definitions) {
      if (matchesPattern(pattern, d.pattern!)) {
        edges.push({
          from: `d:${d.pattern}`,
          to: node.id,
          ...rateOf(rateKind, d.pattern, targetId),
        });
      }
    }
  };
  for (const t of data.triggers) {
    const node: FlowNode = {
      id: `t:${t.id}`,
      kind: 'trigger',
      label: t.name ?? `${t.triggerType} ${t.eventPattern}`,
      href: `/triggers/${t.id}`,
    };
    reader(node, 'trigger', t.id!, t.eventPattern!);
    edges.push({
      from: node.id,
      to: `w:${t.workflowDefinitionId}`,
      ...rateOf('trigger', undefined, t.id!),
    });
  }
  for (const s of data.subscriptions) {
    const node: FlowNode = {
      id: `s:${s.subscription_id}`,
      kind: 'subscription',
      label: s.name ?? s.subscriber.id,
      href: `/deliveries/${s.subscription_id}`,
    };
    reader(node, 'delivery', s.subscription_id, s.event_pattern);
  }
  for (const p of data.processors) {
    // The console has no processor page: its node opens the events it derived, by their source.
    const source = p.output!.source ?? { type: 'processor', id: p.id! };
    const node: FlowNode = {
      id: `p:${p.id}`,
      kind: 'processor',
      label: p.name!,
      href: `/events?${new URLSearchParams({ 'source.type': source.type, 'source.id': source.id })}`,
    };
    reader(node, 'processor', p.id!, p.eventPattern!);
    edges.push({
      from: node.id,
      to: `d:${p.output!.pattern}`,
      ...rateOf('processor', undefined, p.id!),
    });
  }
  const known = new Set(nodes.map((n) => n.id));
  return { nodes, edges: edges.filter((e) => known.has(e.from) && known.has(e.to)) };
}

/**
 * Positions from dagre, left to right in ranks: events, then triggers, subscriptions and
 * processors, then workflows and the processors' output events.
 */
function laidOut(graph: { nodes: FlowNode[]; edges: FlowEdge[] }): {
  nodes: Node[];
  edges: Edge[];
} {
  const g = new Graph();
  g.setGraph({ rankdir: 'LR', nodesep: 24, ranksep: 110 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const node of graph.nodes) g.setNode(node.id, { width: NODE_WIDTH, height: NODE_HEIGHT });
  for (const edge of graph.edges) g.setEdge(edge.from, edge.to);
  layout(g);
  return {
    nodes: graph.nodes.map((node) => {
      const { x, y } = g.node(node.id);
      return {
        id: node.id,
        position: { x: x - NODE_WIDTH / 2, y: y - NODE_HEIGHT / 2 },
        data: { label: `${KIND_LABEL[node.kind]}: ${node.label}`, href: node.href },
        className: `flow-node flow-${node.kind}`,
        style: { width: NODE_WIDTH },
        connectable: false,
        draggable: false,
      };
    }),
    edges: graph.edges.map((edge) => ({
      id: `${edge.from}>${edge.to}`,
      source: edge.from,
      target: edge.to,
      label:
        edge.attempts || edge.failures
          ? `${edge.attempts}${edge.failures ? ` · ${edge.failures} failed` : ''}`
          : '',
      animated: edge.attempts > 0,
      className: edge.failures > 0 ? 'flow-edge-failing' : undefined,
      markerEnd: { type: MarkerType.ArrowClosed },
    })),
  };
}

function NodeLink({ node }: { node: FlowNode }) {
  return (
    <>
      {KIND_LABEL[node.kind]} <Link href={node.href}>{node.label}</Link>
    </>
  );
}

export default function FlowMap() {
  const [minutes, setMinutes] = useState<number>(5);
  const [, navigate] = useLocation();
  const data = useFlowData(minutes);
  const graph = buildGraph(data);
  const { nodes, edges } = laidOut(graph);
  const names = new Map(graph.nodes.map((n) => [n.id, n]));
  return (
    <>
      <h1>Flow map</h1>
      <div className="toolbar">
        <label htmlFor="flow-window">Rates over the last</label>
        <select
          id="flow-window"
          value={minutes}
          onChange={(event) => setMinutes(Number(event.target.value))}
        >
          {WINDOWS.map((w) => (
            <option key={w} value={w}>
              {w} {w === 1 ? 'minute' : 'minutes'}
            </option>
          ))}
        </select>
        <span className="muted">attempts per edge (this process), refreshed every 5 s</span>
      </div>
      {data.error ? <ErrorBox error={data.error} /> : null}
      <section className="flow" aria-label="Flow graph">
        {!data.pending && (
          <ReactFlow
            nodes={nodes}
            edges={edges}
            fitView
            nodesConnectable={false}
            proOptions={{ hideAttribution: true }}
            onNodeClick={(_, node) => navigate(String(node.data.href))}
          >
            <Background />
            <Controls showInteractive={false} />
          </ReactFlow>
        )}
      </section>
      {/* Not before the rates are in: an edge's 0 would be a guess, not a count. */}
      {!data.pending && (
        <DataTable
          label="Flow edges"
          caption={`Edges, with attempts and failures over the last ${minutes} min`}
          rows={graph.edges}
          rowKey={(edge) => `${edge.from}>${edge.to}`}
          columns={[
            { header: 'From', cell: (edge) => <NodeLink node={names.get(edge.from)!} /> },
            { header: 'To', cell: (edge) => <NodeLink node={names.get(edge.to)!} /> },
            { header: 'Attempts', cell: (edge) => edge.attempts },
            {
              header: 'Failures',
              cell: (edge) => edge.failures,
              className: (edge) => (edge.failures > 0 ? 'bad' : undefined),
            },
          ]}
        />
      )}
    </>
  );
}
