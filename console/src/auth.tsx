import { useQuery, useQueryClient } from '@tanstack/react-query';
import {
  createContext,
  type FormEvent,
  type ReactNode,
  useContext,
  useEffect,
  useState,
} from 'react';
import { apiKey, call, eps, onAuthRefused } from './api.ts';
import { ErrorBox, LabelledInput } from './ui.tsx';

type Me = Awaited<ReturnType<typeof loadMe>>;
const loadMe = () => call(eps.GET('/v1/me'));

interface Access {
  me: Me | undefined;
  /** Whether the key may do what `scope` allows (`admin` allows everything). */
  can(scope: Me['scopes'][number]): boolean;
  forget(): void;
}

const AccessContext = createContext<Access>({ me: undefined, can: () => false, forget() {} });

/** Hides (rather than disables) what the key may not do: a read-only key sees no write buttons. */
export const useAccess = () => useContext(AccessContext);

export function Can({ scope, children }: { scope: Me['scopes'][number]; children: ReactNode }) {
  return useAccess().can(scope) ? children : null;
}

function KeyPrompt({ reason, onKey }: { reason: string | null; onKey: (key: string) => void }) {
  const [key, setKey] = useState('');
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (key.trim()) onKey(key.trim());
  };
  return (
    <div className="prompt-backdrop">
      <form className="panel prompt" onSubmit={submit} aria-labelledby="key-prompt-title">
        <h1 id="key-prompt-title">API key</h1>
        <p>
          Authentication is on. Enter an API key; it is kept in this tab only (sessionStorage) and
          sent as <code>X-API-Key</code>.
        </p>
        {reason && <ErrorBox error={reason} />}
        <LabelledInput
          id="api-key"
          label="Key"
          type="password"
          autoComplete="off"
          value={key}
          onValue={setKey}
          placeholder="eps_…"
        />
        <button type="submit" className="primary">
          Use key
        </button>
      </form>
    </div>
  );
}

/**
 * Asks who the key is (GET /v1/me) and shows the key prompt while there is no accepted key;
 * any 401/403 from the API brings the prompt back.
 */
export function AccessProvider({ children }: { children: ReactNode }) {
  const queryClient = useQueryClient();
  const [refused, setRefused] = useState<string | null>(null);
  const me = useQuery({ queryKey: ['me'], queryFn: loadMe, retry: false, staleTime: 60_000 });

  useEffect(
    () =>
      onAuthRefused((status) =>
        setRefused(
          status === 401
            ? 'The API did not accept the key.'
            : 'The key lacks the scope this page needs; enter another key.',
        ),
      ),
    [],
  );

  const acceptKey = (key: string) => {
    apiKey.set(key);
    setRefused(null);
    void queryClient.resetQueries();
  };
  const access: Access = {
    me: me.data,
    can: (scope) =>
      !!me.data && (me.data.scopes.includes('admin') || me.data.scopes.includes(scope)),
    forget() {
      apiKey.clear();
      setRefused('Key forgotten.');
      queryClient.clear();
    },
  };
  const needKey = refused !== null || me.isError;
  return (
    <AccessContext.Provider value={access}>
      {needKey ? (
        <KeyPrompt reason={refused} onKey={acceptKey} />
      ) : me.data ? (
        children
      ) : (
        <p>Loading…</p>
      )}
    </AccessContext.Provider>
  );
}
