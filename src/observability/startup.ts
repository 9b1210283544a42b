/** One step of the start-up: wall and CPU (user + system) time it took, in ms. */
export interface StartupPhase {
  phase: string;
  ms: number;
  cpuMs: number;
}

const round = (ms: number) => Math.round(ms * 10) / 10;

/**
 * Where a start-up's time goes, for the `started` log line (and `bench/restart.ts`, which reads
 * it after a SIGKILL). The first phase, `node`, runs from the process's start to the first mark:
 * Node's own bootstrap, the tsx loader and loading every statically imported module. CPU time
 * is given beside wall time because on a busy machine the wall time mostly measures the queue.
 */
export class StartupTimeline {
  readonly phases: StartupPhase[] = [];
  private wall = 0;
  private cpu = { user: 0, system: 0 };

  /** Ends the phase running since the previous mark (or since the process started). */
  mark(phase: string): void {
    const wall = performance.now();
    const cpu = process.cpuUsage();
    const cpuMs = (cpu.user - this.cpu.user + cpu.system - this.cpu.system) / 1000;
    this.phases.push({ phase, ms: round(wall - this.wall), cpuMs: round(cpuMs) });
    this.wall = wall;
    this.cpu = cpu;
  }

  /** The phases as `{ name: { ms, cpuMs } }`, with Node's bootstrap and the totals. */
  summary() {
    const total = this.phases.reduce(
      (sum, { ms, cpuMs }) => ({ ms: sum.ms + ms, cpuMs: sum.cpuMs + cpuMs }),
      { ms: 0, cpuMs: 0 },
    );
    return {
      phases: Object.fromEntries(this.phases.map(({ phase, ms, cpuMs }) => [phase, { ms, cpuMs }])),
      nodeBootstrapMs: round(performance.nodeTiming.bootstrapComplete),
      totalMs: round(total.ms),
      totalCpuMs: round(total.cpuMs),
    };
  }
}
