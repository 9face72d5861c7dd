import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type SessionInfo } from '../api.ts';

export function LoginPage({ onLogin }: { onLogin: (session: SessionInfo) => void }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = 'Log in · Sightline console';
  }, []);
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    setBusy(true);
    setError(null);
    try {
      onLogin(await api.post<SessionInfo>('/api/login', { username: String(form.get('username') ?? ''), password: String(form.get('password') ?? '') }));
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" class="login">
      <h1 ref={heading} tabIndex={-1}>
        Sightline console
      </h1>
      <form onSubmit={submit} aria-describedby={error ? 'login-error' : undefined}>
        <p>
          <label for="username">User name</label>
          <input id="username" name="username" autocomplete="username" required maxLength={64} />
        </p>
        <p>
          <label for="password">Password</label>
          <input id="password" name="password" type="password" autocomplete="current-password" required maxLength={256} />
        </p>
        {error && (
          <p id="login-error" class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          Log in
        </button>
      </form>
    </main>
  );
}
