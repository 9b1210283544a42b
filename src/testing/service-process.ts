import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The service as a real child process (`src/main.ts`), for restart and crash tests. */
export interface ServiceProcess {
  child: ChildProcess;
  /** Base URL once listening. */
  url: string;
  output(): string;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

interface RunningProcess {
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; output: string }>;
}

export function runService(env: Record<string, string>): RunningProcess {
  // node itself, with tsx as a loader: the tsx CLI would run the service in a grandchild that
  // a signal to the child does not reach.
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<{ code: number | null; output: string }>((resolve) =>
    // 'close', not 'exit': the output pipes may still hold data when the process has exited.
    child.on('close', (code) => resolve({ code, output })),
  );
  return { child, output: () => output, exited };
}

export async function startService(
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<ServiceProcess> {
  const { child, output, exited } = runService(env);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      // Not left running: the caller never gets a handle to stop it.
      child.kill('SIGKILL');
      reject(new Error(`service did not start:\n${output()}`));
    }, timeoutMs);
    const onData = () => {
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output());
      if (match) {
        clearTimeout(timer);
        // Not scanned again: a long run's output grows with every logged line.
        child.stdout!.off('data', onData);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', onData);
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`service exited with ${code}:\n${output()}`));
    });
  });
  return {
    child,
    url,
    output,
    async stop(signal = 'SIGTERM') {
      child.kill(signal);
      return (await exited).code;
    },
  };
}
