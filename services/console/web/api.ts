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

/** What the console said went wrong: `message` (the console's own refusals) or `error` (a service's, passed on). */
function reasonOf(status: number, json: unknown): string {
  const body = json as { message?: unknown; error?: unknown } | null;
  const text = body?.message ?? body?.error;
  return typeof text === 'string' ? text : `${status}`;
}

async function call<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
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
    if (response.status === 401 && path !== '/api/login' && path !== '/api/session') window.dispatchEvent(new Event('sightline:logged-out'));
    throw new ApiError(response.status, reasonOf(response.status, json));
  }
  return json as T;
}

/** How far an upload is: bytes sent of the total. */
export interface UploadProgress {
  sent: number;
  total: number;
}

/**
 * A form posted as multipart/form-data, as the browser encodes it, with the CSRF token. Through
 * XMLHttpRequest, which (unlike fetch) says how much of the body has been sent.
 */
function upload<T>(path: string, form: FormData, onProgress: (progress: UploadProgress) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open('POST', path);
    request.setRequestHeader('accept', 'application/json');
    request.setRequestHeader('x-csrf-token', csrf);
    request.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress({ sent: event.loaded, total: event.total });
    };
    request.onerror = () => reject(new ApiError(0, 'the console cannot be reached'));
    request.onload = () => {
      let json: unknown = null;
      try {
        json = request.responseText === '' ? null : JSON.parse(request.responseText);
      } catch {
        json = null;
      }
      if (request.status >= 200 && request.status < 300) return resolve(json as T);
      if (request.status === 401) window.dispatchEvent(new Event('sightline:logged-out'));
      reject(new ApiError(request.status, reasonOf(request.status, json)));
    };
    request.send(form);
  });
}

export const api = {
  get: <T>(path: string) => call<T>('GET', path),
  post: <T>(path: string, body?: unknown) => call<T>('POST', path, body),
  put: <T>(path: string, body?: unknown) => call<T>('PUT', path, body),
  delete: <T>(path: string) => call<T>('DELETE', path, {}),
  upload,
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
