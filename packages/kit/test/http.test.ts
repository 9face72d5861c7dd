import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { Registry } from 'prom-client';
import { z } from 'zod';
import {
  ConfigError,
  createHttpApp,
  createLogger,
  env,
  httpAccessSettingsSchema,
  httpSettingsFrom,
  JSON_BODY_LIMIT,
  loadConfig,
  type HttpAccess,
} from '../src/index.ts';

const TOKEN = 'k3Jx9w0bQy2sVt7uE5fH1aLpZ8cN4mRd';

function build(t: TestContext, access?: HttpAccess, lines: string[] = []) {
  const registry = new Registry();
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const app = createHttpApp({ logger: createLogger('test', 'trace', sink), registry, notReadyReason: () => null, ...(access ? { access } : {}) });
  const calls: unknown[] = [];
  app.post('/things', async (request) => {
    calls.push(request.body);
    return { ok: true };
  });
  app.post('/pictures', { bodyLimit: 1024 * 1024, config: { bodyTypes: ['application/octet-stream', 'image/*'] } }, async (request) => {
    calls.push(request.body);
    return { bytes: (request.body as Buffer).length };
  });
  app.addContentTypeParser(['application/octet-stream', 'image/png'], { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  app.get('/things', async () => ({ things: [] }));
  t.after(() => app.close());
  const refused = async (reason: string) => {
    const match = new RegExp(`sightline_http_requests_refused_total\\{reason="${reason}"\\} (\\d+)`).exec(await registry.metrics());
    return Number(match?.[1] ?? 0);
  };
  return { app, calls, refused };
}

test('a POST a web page could send without asking (text/plain, form, multipart, no body) is refused with 415 before the route runs', async (t) => {
  const { app, calls, refused } = build(t);
  const cases: Array<[string | undefined, string]> = [
    ['text/plain', '{"action":"clear"}'],
    ['text/plain;charset=UTF-8', 'hello'],
    ['application/x-www-form-urlencoded', 'action=clear'],
    ['multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--\r\n'],
    [undefined, ''],
    [undefined, '{"action":"clear"}'],
  ];
  for (const [type, payload] of cases) {
    const response = await app.inject({ method: 'POST', url: '/things', headers: type === undefined ? {} : { 'content-type': type }, payload });
    assert.equal(response.statusCode, 415, `${type}: ${response.body}`);
    assert.equal(response.json().code, 'SIGHTLINE_HTTP_UNSUPPORTED_MEDIA_TYPE');
    assert.match(response.json().message, /application\/json/);
  }
  assert.deepEqual(calls, []);
  assert.equal(await refused('media-type'), cases.length);
});

test('PUT, PATCH and DELETE need JSON too; an empty JSON body is 400; JSON with a charset passes', async (t) => {
  const { app, calls } = build(t);
  for (const method of ['PUT', 'PATCH', 'DELETE'] as const) app.route({ method, url: '/things', handler: async () => ({ ok: true }) });
  for (const method of ['PUT', 'PATCH', 'DELETE'] as const) {
    assert.equal((await app.inject({ method, url: '/things' })).statusCode, 415, method);
    assert.equal((await app.inject({ method, url: '/things', headers: { 'content-type': 'text/plain' }, payload: '{}' })).statusCode, 415, method);
    assert.equal((await app.inject({ method, url: '/things', payload: {} })).statusCode, 200, method);
  }
  const empty = await app.inject({ method: 'POST', url: '/things', headers: { 'content-type': 'application/json' } });
  assert.equal(empty.statusCode, 400);
  const ok = await app.inject({ method: 'POST', url: '/things', headers: { 'content-type': 'application/json; charset=utf-8' }, payload: '{"a":1}' });
  assert.equal(ok.statusCode, 200);
  assert.deepEqual(calls, [{ a: 1 }]);
});

test('a route that takes images says so; it still refuses JSON and text', async (t) => {
  const { app, calls } = build(t);
  const image = Buffer.alloc(200_000, 7);
  assert.deepEqual((await app.inject({ method: 'POST', url: '/pictures', headers: { 'content-type': 'application/octet-stream' }, payload: image })).json(), {
    bytes: 200_000,
  });
  assert.deepEqual((await app.inject({ method: 'POST', url: '/pictures', headers: { 'content-type': 'image/png' }, payload: image })).json(), {
    bytes: 200_000,
  });
  for (const type of ['application/json', 'text/plain', 'image', 'image/', 'application/x-www-form-urlencoded']) {
    assert.equal((await app.inject({ method: 'POST', url: '/pictures', headers: { 'content-type': type }, payload: 'x' })).statusCode, 415, type);
  }
  assert.equal(calls.length, 2);
});

test('the Host header must name this service: loopback names, the listening host, or an allowed name; anything else is 403 and counted', async (t) => {
  const { app, calls, refused } = build(t, { host: '192.0.2.10', allowedHosts: ['alert', 'sightline.example'], token: TOKEN });
  const auth = { authorization: `Bearer ${TOKEN}` };
  const accepted = [
    'localhost',
    'localhost:8087',
    'LOCALHOST.:1',
    '127.0.0.1:8087',
    '127.0.0.1',
    '[::1]:8087',
    '[::1]',
    '192.0.2.10:8087',
    'alert:8087',
    'Sightline.Example',
  ];
  for (const host of accepted) {
    const response = await app.inject({ method: 'GET', url: '/things', headers: { host, ...auth } });
    assert.equal(response.statusCode, 200, `${host}: ${response.body}`);
  }
  const foreign = [
    'evil.example',
    'evil.example:8087',
    'alert.evil.example',
    '127.0.0.2:8087',
    'localhost@evil.example',
    '[::2]:1',
    'localhost:80:80',
    ' localhost',
    'sightline.example.evil',
  ];
  for (const host of foreign) {
    for (const method of ['GET', 'POST'] as const) {
      const response = await app.inject({
        method,
        url: method === 'GET' ? '/healthz' : '/things',
        headers: { host, ...auth, 'content-type': 'application/json' },
        payload: method === 'POST' ? '{}' : undefined,
      });
      assert.equal(response.statusCode, 403, `${method} ${JSON.stringify(host)}: ${response.body}`);
      assert.equal(response.json().code, 'SIGHTLINE_HTTP_FORBIDDEN_HOST');
    }
  }
  assert.match(
    (await app.inject({ url: '/things', headers: { host: 'evil.example', ...auth } })).json().message,
    /"evil\.example" is not a name of this service; add it to SIGHTLINE_HTTP_ALLOWED_HOSTS/,
  );
  assert.deepEqual(calls, []);
  assert.equal(await refused('host'), foreign.length * 2 + 1);
});

test('without allowed names only the loopback names pass (the default access)', async (t) => {
  const { app } = build(t);
  assert.equal((await app.inject({ url: '/healthz', headers: { host: '127.0.0.1:8081' } })).statusCode, 200);
  assert.equal((await app.inject({ url: '/healthz', headers: { host: 'broker:8081' } })).statusCode, 403);
  assert.equal((await app.inject({ url: '/metrics', headers: { host: 'rebound.attacker.example' } })).statusCode, 403);
});

test('beyond loopback the app cannot be made without a token', () => {
  const make = (access: HttpAccess) => createHttpApp({ logger: createLogger('test', 'silent'), registry: new Registry(), notReadyReason: () => null, access });
  for (const host of ['0.0.0.0', '::', '192.0.2.10', 'example.com']) {
    assert.throws(() => make({ host }), /beyond loopback and needs a token \(SIGHTLINE_HTTP_TOKEN/, host);
  }
  for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) assert.doesNotThrow(() => make({ host }), host);
});

test('with a token every route but /healthz and /readyz needs Authorization: Bearer; the token never reaches a log line', async (t) => {
  const lines: string[] = [];
  const { app, calls, refused } = build(t, { host: '0.0.0.0', token: TOKEN }, lines);
  for (const url of ['/healthz', '/readyz']) assert.equal((await app.inject({ url })).statusCode, 200, url);
  const attempts: Array<Record<string, string>> = [
    {},
    { authorization: TOKEN },
    { authorization: `Basic ${TOKEN}` },
    { authorization: `Bearer ${TOKEN.slice(0, -1)}` },
    { authorization: `Bearer ${TOKEN}x` },
    { authorization: 'Bearer ' },
  ];
  for (const headers of attempts) {
    for (const [method, url] of [
      ['GET', '/metrics'],
      ['GET', '/things'],
      ['POST', '/things'],
      ['GET', '/no-such-route'],
    ] as const) {
      const response = await app.inject({
        method,
        url,
        headers: { ...headers, 'content-type': 'application/json' },
        payload: method === 'POST' ? '{}' : undefined,
      });
      assert.equal(response.statusCode, 401, `${method} ${url} ${JSON.stringify(headers)}`);
      assert.equal(response.headers['www-authenticate'], 'Bearer');
      assert.equal(response.json().code, 'SIGHTLINE_HTTP_UNAUTHORIZED');
    }
  }
  assert.deepEqual(calls, []);
  assert.equal(await refused('token'), attempts.length * 4);
  const good = { authorization: `Bearer ${TOKEN}` };
  assert.equal((await app.inject({ url: '/metrics', headers: good })).statusCode, 200);
  assert.equal((await app.inject({ url: '/things', headers: { authorization: `bearer  ${TOKEN}` } })).statusCode, 200);
  assert.equal((await app.inject({ method: 'POST', url: '/things', headers: good, payload: { a: 1 } })).statusCode, 200);
  assert.equal(
    (await app.inject({ method: 'POST', url: '/things', headers: { ...good, 'content-type': 'text/plain' }, payload: 'x' })).statusCode,
    415,
    'the token does not make text/plain acceptable',
  );
  assert.equal((await app.inject({ url: '/no-such-route', headers: good })).statusCode, 404);
  app.log.info({ headers: { authorization: `Bearer ${TOKEN}` } }, 'a line with the header in it');
  assert.ok(lines.length > 0);
  assert.ok(!lines.join('').includes(TOKEN), 'the token is not in the logs');
});

test('tokenHeader: the routes it names also take the token in that header, compared like the bearer token; other routes do not', async (t) => {
  const lines: string[] = [];
  const tokenHeader = (url: string) => (url === '/pictures' ? 'Prediction-Key' : undefined);
  const { app, calls, refused } = build(t, { host: '0.0.0.0', token: TOKEN, tokenHeader }, lines);
  const post = (headers: Record<string, string>) =>
    app.inject({ method: 'POST', url: '/pictures', headers: { ...headers, 'content-type': 'image/png' }, payload: Buffer.from('png') });
  assert.equal((await post({ 'prediction-key': TOKEN })).statusCode, 200);
  assert.equal((await post({ 'Prediction-Key': TOKEN, authorization: 'Bearer wrong' })).statusCode, 200, 'either one right is enough');
  assert.equal((await post({ authorization: `Bearer ${TOKEN}` })).statusCode, 200);
  const wrong: Array<Record<string, string>> = [{}, { 'prediction-key': `${TOKEN}x` }, { 'prediction-key': '' }, { 'prediction-key': `Bearer ${TOKEN}` }];
  for (const headers of wrong) {
    const response = await post(headers);
    assert.equal(response.statusCode, 401, JSON.stringify(headers));
    assert.match(response.json().message, /Authorization: Bearer <token> or Prediction-Key: <token>/);
  }
  const elsewhere = await app.inject({ url: '/things', headers: { 'prediction-key': TOKEN } });
  assert.equal(elsewhere.statusCode, 401, 'only the named routes take the header');
  assert.doesNotMatch(elsewhere.json().message, /Prediction-Key/);
  assert.equal(calls.length, 3);
  assert.equal(await refused('token'), 5);
  app.log.info({ headers: { 'prediction-key': TOKEN } }, 'a line with the header in it');
  assert.ok(!lines.join('').includes(TOKEN), 'the key is not in the logs');
});

test('JSON routes take 64 KiB; a route sets its own larger limit; over it is 413 and counted', async (t) => {
  const { app, calls, refused } = build(t);
  const json = (bytes: number) => `{"a":"${'x'.repeat(bytes - 8)}"}`;
  assert.equal(json(JSON_BODY_LIMIT).length, JSON_BODY_LIMIT);
  assert.equal(
    (await app.inject({ method: 'POST', url: '/things', headers: { 'content-type': 'application/json' }, payload: json(JSON_BODY_LIMIT) })).statusCode,
    200,
  );
  const over = await app.inject({ method: 'POST', url: '/things', headers: { 'content-type': 'application/json' }, payload: json(JSON_BODY_LIMIT + 1) });
  assert.equal(over.statusCode, 413);
  assert.equal(over.json().code, 'FST_ERR_CTP_BODY_TOO_LARGE');
  assert.equal(
    (await app.inject({ method: 'POST', url: '/pictures', headers: { 'content-type': 'application/octet-stream' }, payload: Buffer.alloc(1024 * 1024) }))
      .statusCode,
    200,
  );
  assert.equal(
    (await app.inject({ method: 'POST', url: '/pictures', headers: { 'content-type': 'application/octet-stream' }, payload: Buffer.alloc(1024 * 1024 + 1) }))
      .statusCode,
    413,
  );
  assert.equal(calls.length, 2);
  assert.equal(await refused('body-too-large'), 2);
});

/** Sends `head` and then `body` chunks until the server answers; returns what it answered and how much was sent. */
async function rawRequest(port: number, head: string, chunk: Buffer, maxChunks: number): Promise<{ response: string; sent: number; closed: boolean }> {
  const socket = connect(port, '127.0.0.1');
  let response = '';
  let closed = false;
  socket.on('data', (data) => (response += data.toString('latin1')));
  const ended = new Promise<void>((resolve) => socket.on('close', () => ((closed = true), resolve())));
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(head);
  let sent = 0;
  for (let i = 0; i < maxChunks && response === '' && !closed; i++) {
    if (!socket.write(chunk)) await new Promise((resolve) => setTimeout(resolve, 5));
    sent += chunk.length;
    await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.race([ended, new Promise((resolve) => setTimeout(resolve, 2000))]);
  socket.destroy();
  return { response, sent, closed };
}

test('over a real socket: an oversize body is refused with 413 and the connection closed, without reading it whole; a foreign Host and text/plain too', async (t) => {
  const { app, calls } = build(t);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as { port: number }).port;
  const chunk = Buffer.alloc(16 * 1024, 0x61);

  const declared = await rawRequest(
    port,
    `POST /things HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${100 * 1024 * 1024}\r\n\r\n{"a":"`,
    chunk,
    6400,
  );
  assert.match(declared.response, /^HTTP\/1\.1 413 /);
  assert.ok(declared.sent < 2 * 1024 * 1024, `answered after ${declared.sent} of 100 MiB`);
  assert.ok(declared.closed, 'the connection is closed');

  const chunked = await rawRequest(
    port,
    `POST /things HTTP/1.1\r\nHost: localhost:${port}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`,
    Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]),
    6400,
  );
  assert.match(chunked.response, /^HTTP\/1\.1 413 /);
  assert.ok(chunked.sent < 2 * 1024 * 1024, `answered after ${chunked.sent} bytes of an endless chunked body`);

  const text = await fetch(`http://127.0.0.1:${port}/things`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"a":1}' });
  assert.equal(text.status, 415);
  const rebound = await rawRequest(port, `GET /things HTTP/1.1\r\nHost: rebound.attacker.example:${port}\r\nConnection: close\r\n\r\n`, Buffer.alloc(0), 0);
  assert.match(rebound.response, /^HTTP\/1\.1 403 /);
  assert.match(rebound.response, /SIGHTLINE_HTTP_FORBIDDEN_HOST/);
  const hostless = await rawRequest(port, 'GET /things HTTP/1.0\r\n\r\n', Buffer.alloc(0), 0);
  assert.match(hostless.response, /^HTTP\/1\.1 403 /, 'HTTP/1.0 without a Host');
  const json = await fetch(`http://127.0.0.1:${port}/things`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
  assert.equal(json.status, 200);
  assert.deepEqual(calls, [{ a: 1 }]);
});

const schema = z.strictObject({
  ...httpAccessSettingsSchema,
  SIGHTLINE_ALERT_HTTP_HOST: env.host('127.0.0.1'),
  SIGHTLINE_ALERT_HTTP_PORT: env.port(8087),
});
const settingsOf = (environment: NodeJS.ProcessEnv) => {
  const config = loadConfig('alert', schema, environment);
  return httpSettingsFrom('alert', { host: config.SIGHTLINE_ALERT_HTTP_HOST, port: config.SIGHTLINE_ALERT_HTTP_PORT }, config);
};
const problemsOf = (environment: NodeJS.ProcessEnv): string[] => {
  try {
    settingsOf(environment);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  return assert.fail('expected a ConfigError');
};

test('settings: listening beyond loopback without SIGHTLINE_HTTP_TOKEN is a configuration error; the token can come from a file', () => {
  assert.deepEqual(settingsOf({}), { host: '127.0.0.1', port: 8087, allowedHosts: [], token: null });
  const [problem, ...rest] = problemsOf({ SIGHTLINE_ALERT_HTTP_HOST: '0.0.0.0' });
  assert.deepEqual(rest, []);
  assert.match(problem!, /SIGHTLINE_HTTP_TOKEN \(or SIGHTLINE_HTTP_TOKEN_FILE\) is required: SIGHTLINE_ALERT_HTTP_HOST=0\.0\.0\.0 listens beyond loopback/);
  const dir = mkdtempSync(join(tmpdir(), 'sightline-http-'));
  writeFileSync(join(dir, 'http-token'), TOKEN);
  const settings = settingsOf({
    SIGHTLINE_ALERT_HTTP_HOST: '0.0.0.0',
    SIGHTLINE_HTTP_TOKEN_FILE: join(dir, 'http-token'),
    SIGHTLINE_HTTP_ALLOWED_HOSTS: 'alert, Sightline.Example.,::1',
  });
  assert.deepEqual(settings, { host: '0.0.0.0', port: 8087, allowedHosts: ['alert', 'sightline.example', '[::1]'], token: TOKEN });
  // Every service may be given these (one environment feeds the stack) without knowing them.
  assert.doesNotThrow(() => loadConfig('capture', z.strictObject({}), { SIGHTLINE_HTTP_TOKEN: TOKEN, SIGHTLINE_HTTP_ALLOWED_HOSTS: 'x' }));
});

test('settings: a weak or malformed token and host names with a scheme or port are refused, and the token is never echoed', () => {
  const weak = problemsOf({ SIGHTLINE_HTTP_TOKEN: 'secret' });
  assert.equal(weak.length, 1);
  assert.match(weak[0]!, /SIGHTLINE_HTTP_TOKEN: must be at least 32 characters/);
  assert.ok(!weak[0]!.includes('"secret"'));
  const spaced = `${TOKEN} with spaces`;
  assert.match(problemsOf({ SIGHTLINE_HTTP_TOKEN: spaced })[0]!, /must be letters, digits/);
  for (const names of ['http://alert', 'alert:8087', '*.example', 'a b']) {
    assert.match(
      problemsOf({ SIGHTLINE_HTTP_ALLOWED_HOSTS: names }).join('\n'),
      /SIGHTLINE_HTTP_ALLOWED_HOSTS.*must be host names without scheme or port/,
      names,
    );
  }
});

test('a request refused before its body is read gets its answer while the client is still sending, not a broken pipe', async (t) => {
  const app = createHttpApp({ logger: createLogger('test', 'silent'), registry: new Registry(), notReadyReason: () => null });
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  app.post('/photos/:id', { bodyLimit: 16 * 1024 * 1024, config: { bodyTypes: ['application/octet-stream'] } }, async (request) => ({
    bytes: (request.body as Buffer).length,
  }));
  t.after(() => app.close());
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  const BODY = 6 * 1024 * 1024;
  /** Sends BODY bytes in 64 KiB pieces, each after the last is written; resolves with the status line or the socket's error. */
  const send = (path: string, headers: Record<string, string>) =>
    new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      let answer = '';
      socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
      socket.on('error', (err) => resolve(`error ${(err as NodeJS.ErrnoException).code}`));
      socket.on('close', () => resolve(answer.split('\r\n')[0] ?? ''));
      const head = Object.entries({ host: '127.0.0.1', 'content-length': String(BODY), ...headers })
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('');
      socket.write(`POST ${path} HTTP/1.1\r\n${head}connection: close\r\n\r\n`);
      const piece = Buffer.alloc(64 * 1024, 0x5a);
      let sent = 0;
      const next = () => {
        if (sent >= BODY || socket.destroyed) return;
        sent += piece.length;
        if (socket.write(piece)) setImmediate(next);
        else socket.once('drain', next);
      };
      next();
    });
  assert.match(await send('/photos/a', { 'content-type': 'application/octet-stream' }), /^HTTP\/1.1 200/);
  // Refused by the router (a path that cannot be decoded) and by the gate (a body type the route does not take).
  assert.match(await send('/photos/%FF%FE', { 'content-type': 'application/octet-stream' }), /^HTTP\/1.1 400/);
  assert.match(await send('/photos/a', { 'content-type': 'text/plain' }), /^HTTP\/1.1 415/);
  assert.match(await send('/photos/a', { host: 'evil.example', 'content-type': 'application/octet-stream' }), /^HTTP\/1.1 403/);
});
