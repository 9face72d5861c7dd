/** The console's own API, as the page calls it: the session's CSRF token goes with every change. */

export interface SessionInfo {
  user: string;
  role: 'operator' | 'viewer';
  csrf: string;
}

let csrf = '';

export function setCsrf(token: string): void {
  csrf = token;
}

export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

async function call<T>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method !== 'GET') {
    headers['content-type'] = 'application/json';
    headers['x-csrf-token'] = csrf;
  }
  const response = await fetch(path, { method, headers, credentials: 'same-origin', ...(method !== 'GET' ? { body: JSON.stringify(body ?? {}) } : {}) });
  const text = await response.text();
  let json: unknown = null;
  try {
    json = text === '' ? null : JSON.parse(text);
  } catch {
    json = null;
  }
  if (!response.ok) {
    const message = (json as { message?: string; error?: string } | null)?.message ?? (json as { error?: string } | null)?.error ?? `${response.status}`;
    if (response.status === 401 && path !== '/api/login' && path !== '/api/session') window.dispatchEvent(new Event('sightline:logged-out'));
    throw new ApiError(response.status, message);
  }
  return json as T;
}

export const api = {
  get: <T>(path: string) => call<T>('GET', path),
  post: <T>(path: string, body?: unknown) => call<T>('POST', path, body),
  put: <T>(path: string, body?: unknown) => call<T>('PUT', path, body),
};

export function formatMoney(minor: number, currency: string, locale = 'en-US'): string {
  try {
    return new Intl.NumberFormat(locale, { style: 'currency', currency }).format(minor / 100);
  } catch {
    return `${(minor / 100).toFixed(2)} ${currency}`;
  }
}

export function formatTime(ms: number): string {
  return new Date(ms).toLocaleTimeString();
}
