import type { ReactNode } from 'react';
import { Link, Route, Router, Switch } from 'wouter';

/** The pages of the console, each at its own address under /console. */
const PAGES: { path: string; label: string }[] = [];

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
                <Link href={page.path}>{page.label}</Link>
              </li>
            ))}
            <li>
              <a href="/docs">API reference</a>
            </li>
          </ul>
        </nav>
      </header>
      <main id="main">{children}</main>
    </>
  );
}

export function App() {
  return (
    <Router base="/console">
      <Layout>
        <Switch>
          <Route>
            <h1>Event console</h1>
            <p>
              The event hub's console. The API reference is at <a href="/docs">/docs</a>.
            </p>
          </Route>
        </Switch>
      </Layout>
    </Router>
  );
}
