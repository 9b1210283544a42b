import { Qlobber, QlobberDedup } from 'qlobber';
import { PatternIndex } from '../src/routing/pattern-index.ts';
import { median, timeIt } from './stats.ts';

/**
 * Matching an event pattern against 10,000 and 100,000 subscriptions (about 70 % exact, 20 %
 * with `*`, 10 % with `**`), in PatternIndex and in qlobber holding the same subscriptions.
 * QlobberDedup is the like-for-like peer (each value once, as PatternIndex returns); plain
 * Qlobber, which may repeat values, is reported for reference.
 */

const vocabulary = (text: string) => text.trim().split(/\s+/);
const DOMAINS =
  vocabulary(`bookings users invoices payments orders shipments tickets accounts documents
  tasks workflows integrations customers products reviews messages calendars reports devices`);
const ENTITIES = vocabulary(`item line note comment attachment address contact status price discount
  tag owner approval schedule reminder`);
const ACTIONS = vocabulary(`created updated deleted cancelled confirmed failed completed started
  expired archived`);
const QUALIFIERS = vocabulary('v2 internal bulk retry');

/** mulberry32: the same workload on every run and machine. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function workload(subscriptionCount: number) {
  const next = random(subscriptionCount);
  const pick = <T>(list: readonly T[]) => list[Math.floor(next() * list.length)]!;
  const eventType = () => {
    const words = [pick(DOMAINS), pick(ENTITIES), pick(ACTIONS)];
    if (next() < 0.3) words.push(pick(QUALIFIERS));
    return words;
  };
  const subscriptions = Array.from({ length: subscriptionCount }, () => {
    const words = eventType();
    const kind = next();
    if (kind < 0.7) return words.join('.');
    if (kind < 0.9) {
      words[Math.floor(next() * words.length)] = '*';
      return words.join('.');
    }
    return pick([`${words[0]}.**`, `**.${words.at(-1)}`, `${words[0]}.**.${words[2]}`]);
  });
  const events = Array.from({ length: 10_000 }, () => eventType().join('.'));
  return { subscriptions, events };
}

function measure(subscriptionCount: number) {
  const { subscriptions, events } = workload(subscriptionCount);
  const options = { separator: '.', wildcard_one: '*', wildcard_some: '**' };
  const ours = new PatternIndex<number>();
  const dedup = new QlobberDedup<number>(options);
  const plain = new Qlobber<number>(options);
  subscriptions.forEach((pattern, id) => {
    ours.add(pattern, id);
    dedup.add(pattern, id);
    plain.add(pattern, id);
  });
  let matched = 0;
  let peerMatched = 0;
  for (const event of events) {
    matched += ours.match(event).length;
    peerMatched += dedup.match(event).size;
  }
  if (matched !== peerMatched)
    throw new Error(`PatternIndex matched ${matched}, qlobber ${peerMatched}`);

  let i = 0;
  const nextEvent = () => events[i++ % events.length]!;
  const runs = { ours: [] as number[], dedup: [] as number[], plain: [] as number[] };
  for (let run = 0; run < 9; run++) {
    runs.ours.push(timeIt(events.length, () => ours.match(nextEvent())));
    runs.dedup.push(timeIt(events.length, () => dedup.match(nextEvent())));
    runs.plain.push(timeIt(events.length, () => plain.match(nextEvent())));
  }
  const oursNs = median(runs.ours);
  const dedupNs = median(runs.dedup);
  const plainNs = median(runs.plain);
  return {
    subscriptions: subscriptionCount,
    matchesPerEvent: Math.round(matched / events.length),
    oursNsPerMatch: Math.round(oursNs),
    qlobberDedupNsPerMatch: Math.round(dedupNs),
    ratio: Number((oursNs / dedupNs).toFixed(2)),
    qlobberPlainNsPerMatch: Math.round(plainNs),
    ratioToPlain: Number((oursNs / plainNs).toFixed(2)),
  };
}

export function benchPatternMatching() {
  return { name: 'pattern-matching', runs: [measure(10_000), measure(100_000)] };
}
