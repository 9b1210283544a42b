import { readdir, readFile, writeFile } from 'node:fs/promises';

/**
 * The README's delivery table, from a results file of `npm run bench`: deliveries per second
 * per burst size for ours and each peer, ours / peer, and the goal at that size.
 *
 *   tsx bench/delivery-table.ts [results file] [--write]
 *
 * Without a file: the newest file in bench/results/ with a delivery result that ran the full
 * burst sizes (a BENCH_DELIVERY_BURSTS check is not a figure). `--write` replaces the table
 * between the README's `delivery-table` markers; otherwise it is printed. Files from before
 * the other peers were added show them as not run.
 */
const PEERS = [
  ['pgBoss', 'pg-boss'],
  ['graphileWorker', 'graphile-worker'],
  ['bullMq', 'BullMQ'],
] as const;
type Peer = (typeof PEERS)[number][0];
type System = 'ours' | 'oursOneLoop' | 'oursOneThread' | Peer;

interface Machine {
  cpus: number;
  cpuModel?: string;
  memoryGiB: number;
  node: string;
  loadAverageAtStart?: number[];
}

/** One burst size as the table shows it, whatever the file's layout. */
interface Row {
  events: number;
  perSecond: Partial<Record<System, number>>;
  goal: string | null;
  goalMet: boolean | null;
}

interface DeliveryResult {
  name: 'delivery';
  skipped?: string;
  smoke?: boolean;
  ratioByBurst?: Array<
    | {
        events: number;
        deliveriesPerSecond: Record<string, number>;
        goal: string | null;
        goalMet: boolean | null;
      }
    | { events: number; ours: number; pgBoss: number; ratio: number }
  >;
  paced?: Partial<
    Record<System, { offeredEventsPerSecond: number; latencyMs: { p50: number; p99: number } }>
  >;
  goal?: string;
  goalMet?: boolean | null;
  /** Absent in files from before it was recorded, which warmed up with 200 events or fewer. */
  warmUpEventsPerSystem?: number;
}

const resultsDir = new URL('./results/', import.meta.url);
const readme = new URL('../README.md', import.meta.url);
const START = '<!-- delivery-table:start -->';
const END = '<!-- delivery-table:end -->';

async function load(path: string) {
  const text = await readFile(path, 'utf8');
  const { machine, results = [] } = JSON.parse(text) as {
    machine: Machine;
    // Files of a single run (a soak, a fuzz) may have no results list.
    results?: DeliveryResult[];
  };
  const delivery = results.find((r) => r.name === 'delivery' && !r.skipped && r.ratioByBurst);
  return delivery && !delivery.smoke ? { machine, delivery } : undefined;
}

async function newest() {
  const files = (await readdir(resultsDir))
    .filter((f) => f.endsWith('.json'))
    .sort()
    .reverse();
  for (const file of files) {
    const found = await load(new URL(file, resultsDir).pathname);
    if (found) return { file, ...found };
  }
  throw new Error('no results file with a full delivery run in bench/results/');
}

function rows(delivery: DeliveryResult): Row[] {
  return (delivery.ratioByBurst ?? []).map((b) =>
    'deliveriesPerSecond' in b
      ? { events: b.events, perSecond: b.deliveriesPerSecond, goal: b.goal, goalMet: b.goalMet }
      : {
          events: b.events,
          perSecond: { ours: b.ours, pgBoss: b.pgBoss },
          goal: null,
          goalMet: null,
        },
  );
}

const count = (n: number) => n.toLocaleString('en-US');

function peerCell(row: Row, peer: Peer): string {
  const ours = row.perSecond.ours;
  const theirs = row.perSecond[peer];
  if (theirs === undefined || ours === undefined) return 'not in this run';
  return `${count(theirs)}/s: **${(ours / theirs).toFixed(2)}**`;
}

/** The same service sending the other way (not judged): from its main loop, or one thread. */
function comparedCell(row: Row): string {
  const compared = row.perSecond.oursOneLoop ?? row.perSecond.oursOneThread;
  return compared === undefined ? 'not in this run' : `${count(compared)}/s`;
}

/** The other way of sending the run measured beside ours, as its column's header says. */
const comparedHeader = (delivery: DeliveryResult) =>
  rows(delivery).some((row) => row.perSecond.oursOneThread !== undefined)
    ? 'ours from one sender thread'
    : 'ours from one loop';

function goalCell(row: Row): string {
  if (row.goal === null) return '(not judged in this run)';
  return `${row.goal.replace('>=', '≥')} ${row.goalMet ? '✔' : '✘'}`;
}

function pacedRow(delivery: DeliveryResult): string | undefined {
  const { paced } = delivery;
  if (!paced?.ours) return undefined;
  const cell = (system: System) => {
    const run = paced[system];
    return run ? `p50 ${run.latencyMs.p50} / p99 ${run.latencyMs.p99} ms` : 'not in this run';
  };
  return `| paced at ${paced.ours.offeredEventsPerSecond} events/s | ${cell('ours')} | | ${PEERS.map(([peer]) => cell(peer)).join(' | ')} | |`;
}

function warmUp(delivery: DeliveryResult): string {
  const events = delivery.warmUpEventsPerSystem;
  return events === undefined
    ? 'each system warmed up with 200 events or fewer (the earlier method)'
    : `each system warmed up with ${count(events)} events`;
}

function table(file: string, machine: Machine, delivery: DeliveryResult): string {
  const load = machine.loadAverageAtStart
    ? `, load average ${machine.loadAverageAtStart.map((l) => l.toFixed(2)).join(' / ')} at the start`
    : '';
  const lines = [
    `From \`bench/results/${file}\`: ${machine.cpus}-core ${machine.cpuModel ?? 'CPU'}, ${machine.memoryGiB} GiB, Node ${machine.node}${load}. ` +
      `Deliveries per second (10 subscriptions per event), and for each peer its figure and ours / peer; ${warmUp(delivery)}.`,
    '',
    `| burst | ours | ${comparedHeader(delivery)} | ${PEERS.map(([, label]) => label).join(' | ')} | goal at this size |`,
    `| --- | --- | --- | ${PEERS.map(() => '---').join(' | ')} | --- |`,
    ...rows(delivery).map(
      (row) =>
        `| ${count(row.events)} events | **${count(row.perSecond.ours ?? 0)}/s** | ${comparedCell(row)} | ${PEERS.map(([peer]) => peerCell(row, peer)).join(' | ')} | ${goalCell(row)} |`,
    ),
  ];
  const paced = pacedRow(delivery);
  if (paced) lines.push(paced);
  if (
    rows(delivery).every(
      (row) => row.perSecond.oursOneLoop === undefined && row.perSecond.oursOneThread === undefined,
    )
  )
    lines.push(
      '',
      'This run predates the sender threads (DELIVERY_THREADS): ours sent from its main loop.',
    );
  if (delivery.goal !== undefined) {
    const verdict = { true: 'met ✔', false: 'not met ✘', null: 'not judged' }[
      `${delivery.goalMet ?? null}`
    ];
    lines.push('', `The run's goal (${delivery.goal.replaceAll('>=', '≥')}): ${verdict}.`);
  }
  return lines.join('\n');
}

const args = process.argv.slice(2);
const write = args.includes('--write');
const path = args.find((a) => a !== '--write');
const chosen = path
  ? await load(path).then((found) => {
      if (!found) throw new Error(`${path} has no full delivery run`);
      return { file: path.split('/').at(-1) ?? path, ...found };
    })
  : await newest();
const text = table(chosen.file, chosen.machine, chosen.delivery);
if (write) {
  const current = await readFile(readme, 'utf8');
  const start = current.indexOf(START);
  const end = current.indexOf(END);
  if (start < 0 || end < start) throw new Error(`README.md has no ${START} … ${END} markers`);
  await writeFile(
    readme,
    `${current.slice(0, start + START.length)}\n${text}\n${current.slice(end)}`,
  );
} else {
  console.log(text);
}
