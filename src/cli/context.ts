import {
  createEpsClient,
  DEFAULT_BASE_URL,
  type EpsClient,
  isErrorEnvelope,
} from '../client/index.ts';

/** What every `eps` command gets: the client, where to write, and colours. */
export interface CliContext {
  client: EpsClient;
  baseUrl: string;
  apiKey: string | undefined;
  out: (text: string) => void;
  err: (text: string) => void;
  style: Style;
}

/** A failure the CLI reports as `error: message` plus `field: message` lines, exit code 1. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly details: readonly { field?: string; message?: string }[] = [],
    readonly exitCode = 1,
    /** The HTTP status of the service's refusal, when one caused this. */
    readonly status?: number,
  ) {
    super(message);
  }
}

/** The text of a CliError as printed: the message, then one `field: message` line per detail. */
export function describeError(error: CliError): string {
  const lines = [`error: ${error.message}`];
  for (const detail of error.details) {
    lines.push(`  ${detail.field ? `${detail.field}: ` : ''}${detail.message ?? ''}`);
  }
  return lines.join('\n');
}

/**
 * Unwraps an openapi-fetch answer: its data, or a CliError carrying the error envelope's message
 * and details (or the status when the body is no envelope, e.g. a proxy's page).
 */
export async function unwrap<T>(
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
  what: string,
): Promise<T> {
  let answer: Awaited<typeof call>;
  try {
    answer = await call;
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code;
    throw new CliError(`${what}: cannot reach the service (${cause ?? (error as Error).message})`);
  }
  const { data, error, response } = answer;
  if (response.ok) return data as T;
  if (isErrorEnvelope(error)) {
    throw new CliError(
      `${what}: ${error.error.message}`,
      error.error.details ?? [],
      1,
      response.status,
    );
  }
  throw new CliError(`${what}: HTTP ${response.status}`, [], 1, response.status);
}

export interface ConnectionOptions {
  url?: string;
  apiKey?: string;
}

/** The service's address and key: flags win over EPS_URL / EPS_API_KEY. */
export function connection(
  options: ConnectionOptions,
  env: NodeJS.ProcessEnv,
): { baseUrl: string; apiKey?: string } {
  const baseUrl = options.url ?? env.EPS_URL ?? DEFAULT_BASE_URL;
  const apiKey = options.apiKey ?? env.EPS_API_KEY;
  return apiKey ? { baseUrl, apiKey } : { baseUrl };
}

export function createContext(
  options: ConnectionOptions,
  io: { out: (text: string) => void; err: (text: string) => void; color: boolean },
  env: NodeJS.ProcessEnv = process.env,
): CliContext {
  const { baseUrl, apiKey } = connection(options, env);
  return {
    client: createEpsClient({ baseUrl, ...(apiKey ? { apiKey } : {}) }),
    baseUrl,
    apiKey,
    out: io.out,
    err: io.err,
    style: makeStyle(io.color),
  };
}

export interface Style {
  green(text: string): string;
  yellow(text: string): string;
  red(text: string): string;
  dim(text: string): string;
  bold(text: string): string;
}

function makeStyle(color: boolean): Style {
  const paint = (open: number, close: number) => (text: string) =>
    color ? `\u001b[${open}m${text}\u001b[${close}m` : text;
  return {
    green: paint(32, 39),
    yellow: paint(33, 39),
    red: paint(31, 39),
    dim: paint(2, 22),
    bold: paint(1, 22),
  };
}

/** Colours on a terminal unless NO_COLOR is set; FORCE_COLOR turns them on anywhere. */
export function wantsColor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  if (env.NO_COLOR) return false;
  if (env.FORCE_COLOR && env.FORCE_COLOR !== '0') return true;
  return stream.isTTY === true;
}
