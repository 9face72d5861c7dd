import { request } from 'node:http';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { corruptJpegs, TINY_JPEG } from './media.ts';
import type { Random } from './random.ts';
import { deepArray, deepObject, writeJson } from './values.ts';

/**
 * Hostile requests to every route the services registered (see routes-recorder.ts): path
 * parameters, query strings, bodies, content types, Host and Origin headers, and methods the route
 * does not take. A 4xx is a correct refusal; a 5xx, a dropped connection or no answer is a finding.
 */

export interface Route {
  service: string;
  port: number;
  method: string;
  url: string;
  bodyLimit: number;
}

export type Outcome = number | 'dropped' | 'timeout' | 'unreachable' | 'closed-oversize';

export interface HttpFinding {
  service: string;
  request: string;
  outcome: Outcome;
  detail: string;
}

export interface HttpResult {
  sent: number;
  /** Per service: outcome (status code or failure) to count. */
  outcomes: Map<string, Map<string, number>>;
  findings: HttpFinding[];
  routes: number;
}

/** The routes each service's process wrote, matched to services by the HTTP port the stack gave them. */
export function loadRoutes(dir: string, serviceByPort: Map<number, string>): Route[] {
  const routes: Route[] = [];
  const seen = new Set<string>();
  for (const file of readdirSync(dir)) {
    const record = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
      port: number;
      bodyLimit: number;
      routes: Array<{ method: string; url: string; bodyLimit: number | null }>;
    };
    const service = serviceByPort.get(record.port);
    if (service === undefined) continue;
    for (const route of record.routes) {
      const key = `${service} ${route.method} ${route.url}`;
      if (seen.has(key)) continue;
      seen.add(key);
      routes.push({ service, port: record.port, method: route.method, url: route.url, bodyLimit: route.bodyLimit ?? record.bodyLimit });
    }
  }
  return routes.sort((a, b) => `${a.service}${a.url}${a.method}`.localeCompare(`${b.service}${b.url}${b.method}`));
}

/** Path parameter values, already percent-encoded where needed (a lone surrogate cannot be encoded by encodeURIComponent). */
const PATH_VALUES = [
  'lane-1',
  'demo',
  'centernet-coco',
  'x',
  'a'.repeat(65),
  'a'.repeat(8000),
  '%00',
  '..%2F..%2Fetc%2Fpasswd',
  '..',
  '__proto__',
  'constructor',
  'toString',
  '%E2%80%AE',
  '%ED%A0%80',
  '%FF%FE',
  '%F0%9F%98%80',
  '-1',
  '1e308',
  'NaN',
  '%20',
  '%25',
  '%2F',
  'a%0D%0AX-Injected:1',
  '$SYS',
  '%C0%AE',
];

const QUERY_VALUES = [
  '0',
  '-1',
  '1',
  '0.5',
  '1e308',
  '9007199254740993',
  '8640000000000001',
  'NaN',
  'Infinity',
  '',
  'a'.repeat(5000),
  '%00',
  '%E2%80%AE',
  '%ED%A0%80',
  '__proto__',
  'active',
  'x',
  '2026-13-45T99:99:99Z',
  '%5B%5D',
];

const HOSTS = (port: number) => [
  `127.0.0.1:${port}`,
  `localhost:${port}`,
  'evil.example',
  `evil.example:${port}`,
  '127.0.0.1.nip.io',
  '',
  `[::1]:${port}`,
  'a'.repeat(300),
  'xn--80ak6aa92e.com',
];

const OTHER_METHODS = ['PUT', 'DELETE', 'PATCH', 'OPTIONS', 'POST', 'GET', 'PROPFIND'];

interface Body {
  name: string;
  contentType: string | null;
  bytes: Buffer;
}

function bodies(random: Random, jsonBody: (random: Random) => Buffer, jpegs: Array<{ name: string; bytes: Buffer }>): Array<() => Body> {
  const json = (name: string, text: string, contentType = 'application/json'): Body => ({ name, contentType, bytes: Buffer.from(text) });
  const multipart = (field: string, content: Buffer): Body => {
    const boundary = 'fuzzboundary';
    const bytes = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="x.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`),
      content,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    return { name: `multipart ${field}`, contentType: `multipart/form-data; boundary=${boundary}`, bytes };
  };
  return [
    () => ({ ...json('channel payload', ''), bytes: jsonBody(random) }),
    () => ({ ...json('channel payload', ''), bytes: jsonBody(random) }),
    () => ({ ...json('channel payload as text/plain', '', 'text/plain'), bytes: jsonBody(random) }),
    () => json('empty object', '{}'),
    () => json('null', 'null'),
    () => json('array', '[]'),
    () => json('number 1e999', '1e999'),
    () => json('empty body', ''),
    () => json('truncated', '{"model":'),
    () => json('prototype keys', '{"__proto__":{"polluted":"fuzz"},"constructor":{"prototype":{"polluted":"fuzz"}},"model":"centernet-coco","action":"clear"}'),
    () => json('deep array', writeJson(deepArray(100_000))),
    () => json('deep object', writeJson(deepObject(50_000))),
    () => json('2 MiB string', JSON.stringify({ model: 'x'.repeat(2 * 1024 * 1024) })),
    () => json('20 MiB string', JSON.stringify({ model: 'x'.repeat(20 * 1024 * 1024) })),
    () => json('form', 'model=centernet-coco&action=clear', 'application/x-www-form-urlencoded'),
    () => json('json as text/plain', '{"action":"clear"}', 'text/plain'),
    () => json('json with utf-7 charset', '{"action":"clear"}', 'application/json; charset=utf-7'),
    () => json('json with odd type', '{"action":"clear"}', 'application/json-patch+json'),
    () => json('no content type', '{"action":"clear"}', ''),
    () => json('long content type', '{}', `application/json; ${'x=y; '.repeat(2000)}`),
    () => ({ name: 'tiny jpeg', contentType: 'application/octet-stream', bytes: TINY_JPEG }),
    () => {
      const jpeg = random.pick(jpegs);
      return { name: `jpeg ${jpeg.name}`, contentType: 'application/octet-stream', bytes: jpeg.bytes };
    },
    () => ({ name: 'jpeg as image/jpeg', contentType: 'image/jpeg', bytes: TINY_JPEG }),
    () => multipart('imageData', random.pick(jpegs).bytes),
    () => multipart('imageData', TINY_JPEG),
    () => ({ name: 'multipart garbage', contentType: 'multipart/form-data; boundary=x', bytes: random.bytes(4096) }),
    () => ({ name: 'random bytes', contentType: 'application/octet-stream', bytes: random.bytes(64 * 1024) }),
    () => ({ name: '5 MiB octets', contentType: 'application/octet-stream', bytes: random.bytes(5 * 1024 * 1024) }),
  ];
}

export interface HttpFuzzOptions {
  count: number;
  deadline: number;
  concurrency: number;
  timeoutMs: number;
  /** A JSON payload of some channel (valid or mutated), for bodies. */
  jsonBody: (random: Random) => Buffer;
  /** Extra query parameter names (from the services' OpenAPI documents). */
  queryNames: string[];
}

function fillPath(url: string, random: Random): string {
  return url
    .split('/')
    .map((level) => (level.startsWith(':') ? random.pick(PATH_VALUES) : level === '*' ? random.pick(PATH_VALUES) : level))
    .join('/');
}

function query(random: Random, names: string[]): string {
  const parts: string[] = [];
  const n = 1 + random.int(3);
  for (let i = 0; i < n; i++) {
    const roll = random.int(10);
    if (roll === 0) parts.push('__proto__[polluted]=fuzz');
    else if (roll === 1) parts.push('constructor[prototype][polluted]=fuzz');
    else if (roll === 2) {
      const name = random.pick(names);
      parts.push(`${name}=1&${name}=2`);
    } else parts.push(`${random.pick(names)}=${random.pick(QUERY_VALUES)}`);
  }
  return `?${parts.join('&')}`;
}

function send(
  route: Route,
  method: string,
  path: string,
  headers: Record<string, string>,
  body: Buffer | null,
  timeoutMs: number,
): Promise<{ outcome: Outcome; detail: string }> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (outcome: Outcome, detail: string) => {
      if (!settled) {
        settled = true;
        resolve({ outcome, detail });
      }
    };
    let req: ReturnType<typeof request>;
    try {
      req = request({ host: '127.0.0.1', port: route.port, method, path, headers, agent: false, setHost: false });
    } catch (err) {
      // The client itself refused to send it (an illegal header or path): not a request.
      done('unreachable', `not sent: ${(err as Error).message}`);
      return;
    }
    req.setTimeout(timeoutMs, () => {
      done('timeout', `no answer in ${timeoutMs} ms`);
      req.destroy();
    });
    req.on('response', (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => {
        if (text.length < 300) text += chunk.toString('utf8');
      });
      res.on('end', () => done(res.statusCode ?? 0, text.slice(0, 300)));
      res.on('error', () => done(res.statusCode ?? 0, text.slice(0, 300)));
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') return done('unreachable', err.message);
      // A server may refuse an oversize upload by closing the connection before reading it all.
      if (body !== null && body.length > route.bodyLimit) return done('closed-oversize', err.message);
      done('dropped', `${err.code ?? ''} ${err.message}`);
    });
    if (body !== null) req.end(body);
    else req.end();
  });
}

/** A finding is anything but a status below 500: a server error, a dropped connection, no answer. `/readyz` may answer 503: that is its job. */
export function isFinding(route: Route, outcome: Outcome): boolean {
  if (typeof outcome === 'number') return outcome >= 500 && !(outcome === 503 && route.url === '/readyz');
  return outcome === 'dropped' || outcome === 'timeout';
}

export async function fuzzHttp(routes: Route[], base: Random, options: HttpFuzzOptions): Promise<HttpResult> {
  const result: HttpResult = { sent: 0, outcomes: new Map(), findings: [], routes: routes.length };
  if (routes.length === 0) return result;
  const names = [...new Set(['limit', 'since', 'until', 'cursor', 'state', 'type', 'camera', 'lane', 'severity', 'model', 'page', ...options.queryNames])];
  const order = base.shuffle(routes);
  const jpegs = corruptJpegs(TINY_JPEG, base.fork('jpegs'));
  let next = 0;
  const worker = async () => {
    while (next < options.count && Date.now() < options.deadline) {
      const i = next++;
      // Each request draws from its own generator, so a replay makes the same requests whatever the interleaving.
      const random = base.fork(`request-${i}`);
      const makeBody = bodies(random, options.jsonBody, jpegs);
      const route = order[i % order.length]!;
      const method = random.chance(0.15) ? random.pick(OTHER_METHODS) : route.method;
      const path = fillPath(route.url, random) + (random.chance(0.4) ? query(random, names) : '');
      const headers: Record<string, string> = { host: random.chance(0.7) ? `127.0.0.1:${route.port}` : random.pick(HOSTS(route.port)) };
      if (random.chance(0.2)) headers.origin = random.pick(['http://evil.example', 'null', `http://127.0.0.1:${route.port}`]);
      let body: Buffer | null = null;
      let bodyName = '';
      const takesBody = !['GET', 'HEAD', 'OPTIONS'].includes(method) || (method === 'GET' && random.chance(0.05));
      if (takesBody) {
        const made = random.pick(makeBody)();
        body = made.bytes;
        bodyName = ` [${made.name}, ${made.bytes.length} bytes]`;
        if (made.contentType) headers['content-type'] = made.contentType;
        // Said explicitly: Node's client sends a GET or DELETE body with neither a length nor chunking.
        headers['content-length'] = String(made.bytes.length);
      }
      const { outcome, detail } = await send(route, method, path, headers, body, options.timeoutMs);
      result.sent++;
      const byOutcome = result.outcomes.get(route.service) ?? new Map<string, number>();
      byOutcome.set(String(outcome), (byOutcome.get(String(outcome)) ?? 0) + 1);
      result.outcomes.set(route.service, byOutcome);
      if (isFinding(route, outcome)) {
        const shownPath = path.length > 120 ? `${path.slice(0, 100)}… (${path.length} chars)` : path;
        result.findings.push({ service: route.service, request: `${method} ${shownPath} host=${headers.host!.slice(0, 40)}${bodyName}`, outcome, detail });
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return result;
}

/** Query parameter names from each OpenAPI document the services serve. */
export async function openApiQueryNames(routes: Route[]): Promise<string[]> {
  const names = new Set<string>();
  for (const route of routes.filter((r) => r.url === '/openapi.json' && r.method === 'GET')) {
    try {
      const doc = (await (await fetch(`http://127.0.0.1:${route.port}/openapi.json`, { signal: AbortSignal.timeout(5000) })).json()) as {
        paths?: Record<string, Record<string, { parameters?: Array<{ name?: string; in?: string }> }>>;
      };
      for (const ops of Object.values(doc.paths ?? {})) {
        for (const op of Object.values(ops)) for (const p of op.parameters ?? []) if (p.in === 'query' && p.name) names.add(p.name);
      }
    } catch {
      // a service without a readable document adds no names
    }
  }
  return [...names];
}
