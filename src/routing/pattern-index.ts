import { ONE, parseSubscriptionPattern, SOME } from './pattern.ts';

class TrieNode<T> {
  literal: Map<string, TrieNode<T>> | undefined;
  one: TrieNode<T> | undefined;
  some: TrieNode<T> | undefined;
  /** The values whose pattern ends here; an array because matching copies it out. */
  readonly values: T[] = [];
  readonly members = new Set<T>();
  /**
   * For a node reached through `**`: the match that last entered it and the first word it
   * entered from. Entering again from a later word would repeat work already done, which is
   * what makes `**.**.**.x` exponential in a naive trie walk.
   */
  enteredIn = 0;
  enteredFrom = 0;

  isEmpty(): boolean {
    return this.values.length === 0 && !this.literal?.size && !this.one && !this.some;
  }
}

/**
 * Values (triggers, subscriptions) keyed by subscription pattern, found by event pattern. A trie
 * by segment: a literal child per word, a `*` child and a `**` child per node. Matching walks
 * only the branches the event's words allow and visits each (node, word position) at most once.
 * It allocates the word list and the result, plus a set to drop repeats only while some value is
 * registered under several patterns.
 */
export class PatternIndex<T> {
  private readonly root = new TrieNode<T>();
  /** How many patterns each value is registered under. */
  private readonly patternCounts = new Map<T, number>();
  /** Values registered under several patterns, which a match may reach more than once. */
  private shared = 0;
  private matchCount = 0;
  /** The value lists a match reached, kept between matches to spare the allocation. */
  private readonly hits: T[][] = [];
  private pairs = 0;

  /** The number of (pattern, value) pairs held. */
  get size(): number {
    return this.pairs;
  }

  /**
   * Registers `value` under `pattern`; false when it already was. Throws a ParseError
   * (`invalid_pattern`) for an invalid pattern.
   */
  add(pattern: string, value: T): boolean {
    let node = this.root;
    for (const segment of parseSubscriptionPattern(pattern)) node = grow(node, segment);
    if (node.members.has(value)) return false;
    node.members.add(value);
    node.values.push(value);
    this.pairs++;
    const count = (this.patternCounts.get(value) ?? 0) + 1;
    this.patternCounts.set(value, count);
    if (count === 2) this.shared++;
    return true;
  }

  /** Unregisters `value` from `pattern`; false when it was not registered there. */
  remove(pattern: string, value: T): boolean {
    let node = this.root;
    const path: TrieNode<T>[] = [node];
    const segments = pattern.split('.');
    for (const segment of segments) {
      const child = childOf(node, segment);
      if (!child) return false;
      path.push(child);
      node = child;
    }
    if (!node.members.delete(value)) return false;
    node.values.splice(node.values.indexOf(value), 1);
    this.pairs--;
    const count = (this.patternCounts.get(value) ?? 1) - 1;
    if (count === 0) this.patternCounts.delete(value);
    else this.patternCounts.set(value, count);
    if (count === 1) this.shared--;
    // Prune the branch the removal emptied, so churn does not grow the trie.
    for (let depth = segments.length; depth > 0; depth--) {
      const [parent, child, segment] = [path[depth - 1], path[depth], segments[depth - 1]];
      if (!parent || !child?.isEmpty() || segment === undefined) break;
      unlink(parent, segment);
    }
    return true;
  }

  /** Every value whose pattern matches `eventPattern`, each once, in no particular order. */
  match(eventPattern: string): T[] {
    const hits = this.hits;
    this.matchCount++;
    this.visit(this.root, eventPattern.split('.'), 0);
    // Sized once: growing the result value by value costs more than the walk itself.
    let total = 0;
    for (const hit of hits) total += hit.length;
    const found = new Array<T>(total);
    let at = 0;
    for (const hit of hits) for (const value of hit) found[at++] = value;
    hits.length = 0;
    return this.shared === 0 ? found : [...new Set(found)];
  }

  private visit(node: TrieNode<T>, words: string[], i: number): void {
    if (node.some) this.enterSome(node.some, words, i);
    const word = words[i];
    if (word === undefined) {
      if (node.values.length > 0) this.hits.push(node.values);
      return;
    }
    const literal = node.literal?.get(word);
    if (literal) this.visit(literal, words, i + 1);
    if (node.one) this.visit(node.one, words, i + 1);
  }

  /** `**` consumed the words from `from` up to any later position: continue from each. */
  private enterSome(node: TrieNode<T>, words: string[], from: number): void {
    let to = words.length;
    if (node.enteredIn === this.matchCount) {
      if (node.enteredFrom <= from) return;
      to = node.enteredFrom - 1;
    }
    node.enteredIn = this.matchCount;
    node.enteredFrom = from;
    for (let i = from; i <= to; i++) this.visit(node, words, i);
  }
}

function childOf<T>(node: TrieNode<T>, segment: string): TrieNode<T> | undefined {
  if (segment === ONE) return node.one;
  if (segment === SOME) return node.some;
  return node.literal?.get(segment);
}

function grow<T>(node: TrieNode<T>, segment: string): TrieNode<T> {
  const existing = childOf(node, segment);
  if (existing) return existing;
  const child = new TrieNode<T>();
  if (segment === ONE) node.one = child;
  else if (segment === SOME) node.some = child;
  else {
    node.literal ??= new Map();
    node.literal.set(segment, child);
  }
  return child;
}

function unlink<T>(parent: TrieNode<T>, segment: string): void {
  if (segment === ONE) parent.one = undefined;
  else if (segment === SOME) parent.some = undefined;
  else parent.literal?.delete(segment);
}
