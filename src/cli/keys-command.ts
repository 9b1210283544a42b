import { parseArgs } from 'node:util';
import { ApiKeys } from '../auth/api-keys.ts';
import { API_KEY_KINDS, type ApiKeyKind } from '../auth/repository.ts';
import { isScope, SCOPES, type Scope } from '../auth/scopes.ts';
import type { Clock } from '../clock.ts';
import type { Database } from '../db/database.ts';
import { AppError } from '../errors.ts';

export const USAGE = `usage:
  eps keys create --scopes <scope>[,<scope>…] [--name <name>] [--kind service]
  eps keys list [--kind service|standard]
  eps keys revoke <id>
  (npm run keys -- … is the same)
scopes: ${SCOPES.join(', ')} (admin implies every scope)
kind: service makes a service account (a named system's key, listed apart; --name required)`;

export interface KeysCommandDeps {
  db: Database;
  clock: Clock;
  /** Standard output: the command's result, as JSON. */
  out: (text: string) => void;
  /** Standard error: usage, errors and notes for the person at the terminal. */
  err: (text: string) => void;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: { scopes: { type: 'string' }, name: { type: 'string' }, kind: { type: 'string' } },
  });
}

const isKind = (value: string): value is ApiKeyKind =>
  (API_KEY_KINDS as readonly string[]).includes(value);

/** Why `create` cannot run with these arguments, or undefined when it can. */
function createMisuse(
  scopes: string[],
  rest: string[],
  name: string,
  kind: string,
): string | undefined {
  if (scopes.length === 0) return 'create needs --scopes';
  if (!isKind(kind)) return `--kind must be one of ${API_KEY_KINDS.join(', ')}`;
  if (kind === 'service' && name.trim() === '') return 'a service account needs --name';
  const unknown = scopes.filter((s) => !isScope(s));
  if (unknown.length > 0) return `unknown scope ${unknown.join(', ')}`;
  if (rest.length > 0) return `unexpected argument ${rest.join(' ')}`;
  if (name.length > 255) return '--name must be at most 255 characters';
  return undefined;
}

/**
 * The `keys` command: create, list and revoke API keys straight in the database, for the first
 * key of a deployment and for operators. Returns the exit code (0 done, 1 failed, 2 misuse).
 */
export async function runKeysCommand(argv: string[], deps: KeysCommandDeps): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    deps.err(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const apiKeys = new ApiKeys({ db: deps.db, clock: deps.clock, cacheSeconds: 0 });
  const [command, ...rest] = parsed.positionals;
  switch (command) {
    case 'create': {
      const scopes = (parsed.values.scopes ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const name = parsed.values.name ?? '';
      const kind = parsed.values.kind ?? 'standard';
      const misuse = createMisuse(scopes, rest, name, kind);
      if (misuse) {
        deps.err(`${misuse}\n${USAGE}`);
        return 2;
      }
      const created = await apiKeys.create({
        name,
        scopes: scopes as Scope[],
        kind: kind as ApiKeyKind,
      });
      deps.out(JSON.stringify(created, null, 2));
      deps.err('Store the key now: it is not shown again (only its SHA-256 is kept).');
      return 0;
    }
    case 'list': {
      const kind = parsed.values.kind;
      if (kind !== undefined && !isKind(kind)) {
        deps.err(`--kind must be one of ${API_KEY_KINDS.join(', ')}\n${USAGE}`);
        return 2;
      }
      const { keys } = await apiKeys.list(1_000_000, 0, kind);
      deps.out(JSON.stringify(keys, null, 2));
      return 0;
    }
    case 'revoke': {
      const [id, ...extra] = rest;
      if (id === undefined || extra.length > 0 || !UUID.test(id)) {
        deps.err(`revoke needs the id (a UUID) of one key\n${USAGE}`);
        return 2;
      }
      try {
        deps.out(JSON.stringify(await apiKeys.revoke(id), null, 2));
        return 0;
      } catch (error) {
        if (error instanceof AppError) {
          deps.err(error.message);
          return 1;
        }
        throw error;
      }
    }
    default:
      deps.err(USAGE);
      return 2;
  }
}
