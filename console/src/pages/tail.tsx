import { type FormEvent, useEffect, useRef, useState } from 'react';
import { Link } from 'wouter';
import { ApiError, eps, errorMessage } from '../api.ts';
import { readSse } from '../sse.ts';
import type { StoredEvent } from '../types.ts';
import { ErrorBox, LabelledInput, time } from '../ui.tsx';

/** Most events kept: older ones fall off, so the tab's memory stays flat however long it runs. */
export const TAIL_BUFFER = 2000;
/** The view is redrawn at most this often, whatever the event rate. */
const RENDER_INTERVAL_MS = 200;
const ROW_HEIGHT = 28;
const VIEW_ROWS = 20;
/** Rows drawn beyond the visible ones, so fast scrolling shows no gaps. */
const OVERSCAN = 5;

type Connection = 'connecting' | 'live' | 'closed' | 'error';

/**
 * Follows GET /v1/events/stream: events arrive into a bounded buffer (newest first) and the
 * list is redrawn on a timer, showing only the rows in view.
 */
function useTail(pattern: string) {
  const buffer = useRef<StoredEvent[]>([]);
  const received = useRef(0);
  const [connection, setConnection] = useState<Connection>('connecting');
  const [error, setError] = useState<string>();
  useEffect(() => {
    buffer.current = [];
    received.current = 0;
    const abort = new AbortController();
    setConnection('connecting');
    (async () => {
      const {
        data,
        error: refused,
        response,
      } = await eps.GET('/v1/events/stream', {
        params: { query: pattern ? { pattern } : {} },
        parseAs: 'stream',
        signal: abort.signal,
      });
      if (!response.ok || !data) {
        setError(
          errorMessage(
            refused
              ? new ApiError(response.status, refused.error)
              : new Error(`${response.status}`),
          ),
        );
        setConnection('error');
        return;
      }
      setConnection('live');
      for await (const message of readSse(data)) {
        if (message.event !== 'message') continue;
        const event = JSON.parse(message.data) as StoredEvent;
        buffer.current.unshift(event);
        if (buffer.current.length > TAIL_BUFFER) buffer.current.length = TAIL_BUFFER;
        received.current++;
      }
      setConnection('closed');
    })().catch((failure: unknown) => {
      if (!abort.signal.aborted) {
        setError(errorMessage(failure));
        setConnection('error');
      }
    });
    return () => abort.abort();
  }, [pattern]);
  return { buffer, received, connection, error };
}

export default function Tail() {
  const [draft, setDraft] = useState('');
  const [pattern, setPattern] = useState('');
  const [paused, setPaused] = useState(false);
  const { buffer, received, connection, error } = useTail(pattern);
  const [shown, setShown] = useState<{ events: StoredEvent[]; received: number }>({
    events: [],
    received: 0,
  });
  const [scrollTop, setScrollTop] = useState(0);

  // While paused the list stays as it is; only the count of what arrived meanwhile moves.
  const [waiting, setWaiting] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => {
      setShown((current) => {
        if (paused) {
          setWaiting(received.current - current.received);
          return current;
        }
        setWaiting(0);
        return received.current === current.received
          ? current
          : { events: buffer.current.slice(), received: received.current };
      });
    }, RENDER_INTERVAL_MS);
    return () => clearInterval(timer);
  }, [paused, buffer, received]);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    setPattern(draft.trim());
  };
  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const visible = shown.events.slice(first, first + VIEW_ROWS + 2 * OVERSCAN);
  return (
    <>
      <h1>Live tail</h1>
      <form className="toolbar" onSubmit={submit}>
        <LabelledInput
          id="tail-pattern"
          label="Pattern"
          placeholder="** (everything)"
          value={draft}
          onValue={setDraft}
        />
        <button type="submit">Follow</button>
        <button
          type="button"
          className="primary"
          onClick={() => setPaused(!paused)}
          aria-pressed={paused}
        >
          {paused ? 'Resume' : 'Pause'}
        </button>
      </form>
      <p className="muted" aria-live="polite">
        <span className={`status status-${connection}`}>{connection}</span> · {shown.received}{' '}
        received · showing the latest {shown.events.length} (at most {TAIL_BUFFER})
        {paused && waiting > 0 ? ` · ${waiting} new while paused` : ''}
      </p>
      {error && <ErrorBox error={error} />}
      <div
        className="tail"
        role="log"
        aria-label="Live events"
        // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must be reachable by keyboard (axe scrollable-region-focusable)
        tabIndex={0}
        style={{ height: ROW_HEIGHT * VIEW_ROWS }}
        onScroll={(event) => setScrollTop(event.currentTarget.scrollTop)}
      >
        <div style={{ height: shown.events.length * ROW_HEIGHT, position: 'relative' }}>
          {visible.map((event, index) => (
            <div
              key={event.eventId}
              className="tail-row"
              style={{ top: (first + index) * ROW_HEIGHT, height: ROW_HEIGHT }}
            >
              <span className="muted">{time(event.timestamp)}</span>
              <code>{event.pattern}</code>
              <Link href={`/events/${event.eventId}`}>{event.eventId}</Link>
              <span className="tail-payload">{JSON.stringify(event.payload)}</span>
            </div>
          ))}
        </div>
      </div>
    </>
  );
}
