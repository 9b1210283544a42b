import { describe, expect, it } from 'vitest';
import { type GraphNode, loopThrough } from './graph.ts';

const node = (name: string, eventPattern: string, outputPattern: string): GraphNode => ({
  id: name,
  name,
  eventPattern,
  outputPattern,
});

describe('the processor graph', () => {
  it('finds a processor that consumes its own output', () => {
    expect(loopThrough(node('self', 'orders.*', 'orders.audited'), [])).toEqual(['self', 'self']);
  });

  it('finds a loop through others, matching wildcards, and names a shortest one', () => {
    const others = [
      node('a', 'orders.placed', 'orders.audited'),
      node('b', '**.audited', 'orders.archived'),
      node('c', 'orders.audited', 'billing.charged'),
      node('d', 'billing.*', 'orders.archived'),
    ];
    expect(loopThrough(node('new', 'orders.archived', 'orders.placed'), others)).toEqual([
      'new',
      'a',
      'b',
      'new',
    ]);
  });

  it('finds no loop in a chain, and ignores the stored version of the candidate itself', () => {
    const others = [
      node('a', 'orders.placed', 'orders.audited'),
      node('new', 'orders.audited', 'orders.placed'),
    ];
    expect(loopThrough(node('new', 'orders.audited', 'orders.archived'), others)).toBeUndefined();
  });

  it('terminates on a loop among others that does not pass the candidate', () => {
    const others = [node('x', 'a.one', 'a.two'), node('y', 'a.two', 'a.one')];
    expect(loopThrough(node('new', 'b.in', 'a.one'), others)).toBeUndefined();
  });
});
