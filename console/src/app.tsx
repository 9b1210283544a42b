import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { lazy, type ReactNode, Suspense } from 'react';
import { Link, Redirect, Route, Router, Switch, useRoute } from 'wouter';
import { AccessProvider, useAccess } from './auth.tsx';

// Each page is its own chunk: a first visit downloads the shell and the page it opens.
const Catalog = lazy(() => import('./pages/catalog.tsx'));
const Definition = lazy(() => import('./pages/definition.tsx'));
const Events = lazy(() => import('./pages/events.tsx'));
const EventPage = lazy(() => import('./pages/event.tsx'));
const Tail = lazy(() => import('./pages/tail.tsx'));
const triggers = () => import('./pages/triggers.tsx');
const TriggerList = lazy(async () => ({ default: (await triggers()).TriggerList }));
const NewTrigger = lazy(async () => ({ default: (await triggers()).NewTrigger }));
const TriggerPage = lazy(async () => ({ default: (await triggers()).TriggerPage }));
const deliveries = () => import('./pages/deliveries.tsx');
const SubscriptionList = lazy(async () => ({ default: (await deliveries()).SubscriptionList }));
const SubscriptionPage = lazy(async () => ({ default: (await deliveries()).SubscriptionPage }));
const FlowMap = lazy(() => import('./pages/flow.tsx'));
const workflows = () => import('./pages/workflows.tsx');
const Workflows = lazy(async () => ({ default: (await workflows()).Workflows }));
const InstancePage = lazy(async () => ({ default: (await workflows()).InstancePage }));

/** The pages of the console, each at its own address under /console. */
const PAGES: { path: string; label: string }[] = [
  { path: '/catalog', label: 'Catalog' },
  { path: '/events', label: 'Events' },
  { path: '/tail', label: 'Live tail' },
  { path: '/triggers', label: 'Trigger lab' },
  { path: '/deliveries', label: 'Deliveries' },
  { path: '/workflows', label: 'Workflows' },
  { path: '/flow', label: 'Flow map' },
];

function NavLink({ path, label }: { path: string; label: string }) {
  const [active] = useRoute(`${path}/*?`);
  return (
    <Link href={path} aria-current={active ? 'page' : undefined}>
      {label}
    </Link>
  );
}

function KeyStatus() {
  const { me, forget } = useAccess();
  if (!me || me.auth === 'off') return <span className="key-status">auth off</span>;
  return (
    <span className="key-status">
      key {me.key?.name}{' '}
      <button type="button" className="link" onClick={forget}>
        forget
      </button>
    </span>
  );
}

function Layout({ children }: { children: ReactNode }) {
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="top">
        <Link href="/" className="brand">
          Event console
        </Link>
        <nav aria-label="Pages">
          <ul>
            {PAGES.map((page) => (
              <li key={page.path}>
                <NavLink {...page} />
              </li>
            ))}
            <li>
              <a href="/docs">API reference</a>
            </li>
          </ul>
        </nav>
        <KeyStatus />
      </header>
      <main id="main">
        <Suspense fallback={<p className="muted">Loading…</p>}>{children}</Suspense>
      </main>
    </>
  );
}

const queryClient = new QueryClient({
  defaultOptions: {
    // A refused key is not retried: the key prompt comes back instead.
    queries: {
      retry: (count, error) => count < 2 && !('status' in error && Number(error.status) < 500),
    },
  },
});

export function App() {
  return (
    <QueryClientProvider client={queryClient}>
      <Router base="/console">
        <AccessProvider>
          <Layout>
            <Switch>
              <Route path="/catalog" component={Catalog} />
              <Route path="/catalog/:ref">{({ ref }) => <Definition eventId={ref} />}</Route>
              <Route path="/events" component={Events} />
              <Route path="/events/:id">{({ id }) => <EventPage eventId={id} />}</Route>
              <Route path="/tail" component={Tail} />
              <Route path="/triggers" component={TriggerList} />
              <Route path="/triggers/new" component={NewTrigger} />
              <Route path="/triggers/:id">{({ id }) => <TriggerPage id={id} />}</Route>
              <Route path="/deliveries" component={SubscriptionList} />
              <Route path="/deliveries/:id">{({ id }) => <SubscriptionPage id={id} />}</Route>
              <Route path="/workflows" component={Workflows} />
              <Route path="/workflows/instances/:id">{({ id }) => <InstancePage id={id} />}</Route>
              <Route path="/flow" component={FlowMap} />
              <Route>
                <Redirect to="/catalog" />
              </Route>
            </Switch>
          </Layout>
        </AccessProvider>
      </Router>
    </QueryClientProvider>
  );
}
