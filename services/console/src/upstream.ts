import type { Upstream } from './config.ts';

/** What a service answered: its status and JSON body, or why it could not be asked. */
export type UpstreamAnswer = { ok: true; status: number; body: unknown } | { ok: false; status: 502 | 504; body: { error: string; message: string } };

/** The most the console reads of one answer (the alert list's largest page is about 1 MiB). */
export const MAX_UPSTREAM_BYTES = 4 * 1024 * 1024;

/**
 * The console's backend calls the services' HTTP APIs with the shared bearer token; the browser
 * never sees the token. Every call has a timeout, and an answer too large or not JSON is a 502.
 */
export class Upstreams {
  private readonly urls: Record<Upstream, string>;
  private readonly token: string | null;
  private readonly timeoutMs: number;

  constructor(urls: Record<Upstream, string>, token: string | null, timeoutMs = 5000) {
    this.urls = urls;
    this.token = token;
    this.timeoutMs = timeoutMs;
  }

  url(service: Upstream): string {
    return this.urls[service];
  }

  async call(service: Upstream, path: string, options: { method?: 'GET' | 'POST' | 'PUT'; body?: unknown; timeoutMs?: number } = {}): Promise<UpstreamAnswer> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.token !== null) headers.authorization = `Bearer ${this.token}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(`${this.urls[service]}${path}`, {
        method: options.method ?? 'GET',
        headers,
        ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
        signal: AbortSignal.timeout(options.timeoutMs ?? this.timeoutMs),
        redirect: 'error',
      });
    } catch (err) {
      const timedOut = (err as Error).name === 'TimeoutError';
      return {
        ok: false,
        status: timedOut ? 504 : 502,
        body: { error: timedOut ? 'gateway timeout' : 'bad gateway', message: `${service} ${timedOut ? 'did not answer in time' : 'cannot be reached'}` },
      };
    }
    const declared = Number(response.headers.get('content-length') ?? 0);
    if (declared > MAX_UPSTREAM_BYTES) {
      await response.body?.cancel();
      return { ok: false, status: 502, body: { error: 'bad gateway', message: `${service} answered more than ${MAX_UPSTREAM_BYTES} bytes` } };
    }
    const text = await response.text();
    if (text.length > MAX_UPSTREAM_BYTES)
      return { ok: false, status: 502, body: { error: 'bad gateway', message: `${service} answered more than ${MAX_UPSTREAM_BYTES} bytes` } };
    try {
      return { ok: true, status: response.status, body: text === '' ? null : JSON.parse(text) };
    } catch {
      return { ok: false, status: 502, body: { error: 'bad gateway', message: `${service} answered ${response.status} with a body that is not JSON` } };
    }
  }

  /** Plain text (Prometheus metrics), or null when it cannot be had. */
  async text(service: Upstream, path: string): Promise<string | null> {
    const headers: Record<string, string> = {};
    if (this.token !== null) headers.authorization = `Bearer ${this.token}`;
    try {
      const response = await fetch(`${this.urls[service]}${path}`, { headers, signal: AbortSignal.timeout(this.timeoutMs), redirect: 'error' });
      if (!response.ok) return null;
      const text = await response.text();
      return text.length > MAX_UPSTREAM_BYTES ? null : text;
    } catch {
      return null;
    }
  }
}
