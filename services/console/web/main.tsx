import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import './styles.css';
import { api, setCsrf, type SessionInfo } from './api.ts';
import { live, useLive } from './live.ts';
import { AlertsPage } from './pages/alerts.tsx';
import { LanesPage, LaneScreen } from './pages/lanes.tsx';
import { LivePage } from './pages/live.tsx';
import { LoginPage } from './pages/login.tsx';
import { ProductsPage } from './pages/products.tsx';
import { ServicesPage } from './pages/services.tsx';
import { ZonesPage } from './pages/zones.tsx';

/** Pages by the URL's hash (#/live, #/lanes/lane-1...), so the server serves one shell for all. */
interface Route {
  page: 'live' | 'lanes' | 'alerts' | 'zones' | 'products' | 'services';
  arg: string | null;
}

function parseRoute(hash: string): Route {
  const [page = 'live', arg] = hash.replace(/^#\/?/, '').split('/');
  const known = ['live', 'lanes', 'alerts', 'zones', 'products', 'services'] as const;
  return { page: (known as readonly string[]).includes(page) ? (page as Route['page']) : 'live', arg: arg ? decodeURIComponent(arg) : null };
}

const NAV: Array<{ page: Route['page']; label: string }> = [
  { page: 'live', label: 'Live' },
  { page: 'lanes', label: 'Lanes' },
  { page: 'alerts', label: 'Alerts' },
  { page: 'zones', label: 'Zones' },
  { page: 'products', label: 'Products' },
  { page: 'services', label: 'Services and models' },
];

function useRoute(): Route {
  const [route, setRoute] = useState(parseRoute(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(location.hash));
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

function Shell({ session, onLogout }: { session: SessionInfo; onLogout: () => void }) {
  const route = useRoute();
  const state = useLive();
  const main = useRef<HTMLElement>(null);
  useEffect(() => {
    // A new page: focus its heading, so a screen reader starts there.
    main.current?.querySelector<HTMLElement>('h1')?.focus();
  }, [route.page, route.arg]);
  const canChange = session.role === 'operator';
  const laneScreen = route.page === 'lanes' && route.arg !== null;
  return (
    <div class={laneScreen ? 'shell lane-mode' : 'shell'}>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), main.current?.querySelector<HTMLElement>('h1')?.focus())}>
        Skip to content
      </a>
      <header class="top">
        <p class="brand">Sightline</p>
        <nav aria-label="Pages">
          <ul>
            {NAV.map((item) => (
              <li key={item.page}>
                <a href={`#/${item.page}`} aria-current={route.page === item.page ? 'page' : undefined}>
                  {item.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <p class="who">
          <span class={state.connected ? 'dot ok' : 'dot bad'} aria-hidden="true" />
          <span>{state.connected ? 'Live' : 'Reconnecting'}</span> · {session.user} ({session.role}){' '}
          <button type="button" onClick={onLogout}>
            Log out
          </button>
        </p>
      </header>
      <main id="main" ref={main}>
        {route.page === 'live' && <LivePage camera={route.arg} />}
        {route.page === 'lanes' && (route.arg === null ? <LanesPage /> : <LaneScreen lane={route.arg} canChange={canChange} />)}
        {route.page === 'alerts' && <AlertsPage canChange={canChange} />}
        {route.page === 'zones' && <ZonesPage canChange={canChange} />}
        {route.page === 'products' && <ProductsPage canChange={canChange} product={route.arg} />}
        {route.page === 'services' && <ServicesPage canChange={canChange} />}
      </main>
    </div>
  );
}

function App() {
  const [session, setSession] = useState<SessionInfo | null | undefined>(undefined);
  useEffect(() => {
    api.get<SessionInfo>('/api/session').then(
      (s) => setSession(s),
      () => setSession(null),
    );
    const onLoggedOut = () => setSession(null);
    window.addEventListener('sightline:logged-out', onLoggedOut);
    return () => window.removeEventListener('sightline:logged-out', onLoggedOut);
  }, []);
  useEffect(() => {
    if (session) {
      setCsrf(session.csrf);
      live.start();
    } else {
      live.stop();
    }
  }, [session]);
  if (session === undefined) return <p class="loading">Loading…</p>;
  if (session === null) return <LoginPage onLogin={setSession} />;
  const logout = () => {
    api.post('/api/logout').finally(() => setSession(null));
  };
  return <Shell session={session} onLogout={logout} />;
}

render(<App />, document.getElementById('app')!);
