import type { Upstream } from './config.ts';

/** What a service answered: its status and JSON body, or why it could not be asked. */
export type UpstreamAnswer = { ok: true; status: number; body: unknown } | UpstreamFailure;
export type UpstreamFailure = { ok: false; status: 502 | 504; body: { error: string; message: string } };
/** A service's answer as bytes (an image), with its media type. */
export type UpstreamBytes = { ok: true; status: number; type: string; body: Buffer } | UpstreamFailure;

/** The most the console reads of one answer (the alert list's largest page is about 1 MiB). */
export const MAX_UPSTREAM_BYTES = 4 * 1024 * 1024;

export interface CallOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as they are, with this Content-Type (a form the console passes on untouched). */
  raw?: { bytes: Buffer; type: string };
  timeoutMs?: number;
}

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

  private async send(service: Upstream, path: string, accept: string, options: CallOptions): Promise<Response | UpstreamFailure> {
    const headers: Record<string, string> = { accept };
    if (this.token !== null) headers.authorization = `Bearer ${this.token}`;
    let body: string | Uint8Array<ArrayBuffer> | undefined;
    if (options.raw !== undefined) {
      headers['content-type'] = options.raw.type;
      const { bytes } = options.raw;
      body = new Uint8Array(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength);
    } else if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    try {
      return await fetch(`${this.urls[service]}${path}`, {
        method: options.method ?? 'GET',
        headers,
        ...(body !== undefined ? { body } : {}),
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
  }

  async call(service: Upstream, path: string, options: CallOptions = {}): Promise<UpstreamAnswer> {
    const response = await this.send(service, path, 'application/json', options);
    if (!(response instanceof Response)) return response;
    const declared = Number(response.headers.get('content-length') ?? 0);
    if (declared > MAX_UPSTREAM_BYTES) {
      await response.body?.cancel();
      return tooLarge(service, MAX_UPSTREAM_BYTES);
    }
    const text = await response.text();
    if (text.length > MAX_UPSTREAM_BYTES) return tooLarge(service, MAX_UPSTREAM_BYTES);
    try {
      return { ok: true, status: response.status, body: text === '' ? null : JSON.parse(text) };
    } catch {
      return { ok: false, status: 502, body: { error: 'bad gateway', message: `${service} answered ${response.status} with a body that is not JSON` } };
    }
  }

  /** An answer as bytes (a photo), read up to `maxBytes`: more is a 502, never buffered whole. */
  async bytes(service: Upstream, path: string, options: { maxBytes: number; timeoutMs?: number }): Promise<UpstreamBytes> {
    const response = await this.send(service, path, '*/*', { ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}) });
    if (!(response instanceof Response)) return response;
    if (Number(response.headers.get('content-length') ?? 0) > options.maxBytes) {
      await response.body?.cancel();
      return tooLarge(service, options.maxBytes);
    }
    const chunks: Buffer[] = [];
    let length = 0;
    const reader = response.body?.getReader();
    try {
      for (let read = await reader?.read(); read !== undefined && !read.done; read = await reader!.read()) {
        length += read.value.length;
        if (length > options.maxBytes) {
          await reader!.cancel();
          return tooLarge(service, options.maxBytes);
        }
        chunks.push(Buffer.from(read.value));
      }
    } catch (err) {
      const timedOut = (err as Error).name === 'TimeoutError';
      return {
        ok: false,
        status: timedOut ? 504 : 502,
        body: {
          error: timedOut ? 'gateway timeout' : 'bad gateway',
          message: `${service} ${timedOut ? 'did not finish its answer in time' : 'broke off its answer'}`,
        },
      };
    }
    return { ok: true, status: response.status, type: response.headers.get('content-type') ?? '', body: Buffer.concat(chunks, length) };
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

function tooLarge(service: Upstream, limit: number): UpstreamFailure {
  return { ok: false, status: 502, body: { error: 'bad gateway', message: `${service} answered more than ${limit} bytes` } };
}
