import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { startTestBroker } from '@sightline/kit/testing';
import { loadConsoleConfig, setAccount } from '../src/index.ts';
import { MAX_FAILURES } from '../src/routes/auth.ts';
import { login, OPERATOR, startConsole, VIEWER } from './helpers.ts';

const TOKEN = 'a-shared-service-token-of-32-characters-or-more';

test('login: a wrong password and an unknown user get the same answer; the right one a session cookie that scripts and other sites cannot use', async (t) => {
  const broker = await startTestBroker(t);
  const { app } = await startConsole(t, broker.url);
  const http = app.runtime.http;
  for (const payload of [
    { username: OPERATOR.username, password: 'wrong password' },
    { username: 'nobody', password: OPERATOR.password },
  ]) {
    const res = await http.inject({ method: 'POST', url: '/api/login', payload });
    assert.equal(res.statusCode, 401);
    assert.deepEqual(res.json(), { error: 'unauthorized', message: 'wrong user name or password' });
    assert.equal(res.headers['set-cookie'], undefined);
  }
  const res = await http.inject({ method: 'POST', url: '/api/login', payload: OPERATOR });
  assert.equal(res.statusCode, 200);
  const body = res.json();
  assert.equal(body.user, OPERATOR.username);
  assert.equal(body.role, 'operator');
  assert.match(body.csrf, /^[A-Za-z0-9_-]{43}$/);
  const cookie = String(res.headers['set-cookie']);
  assert.match(cookie, /^sightline_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200; Secure$/);
  const session = await http.inject({ url: '/api/session', headers: { cookie: cookie.split(';')[0]! } });
  assert.deepEqual(session.json(), body);
  assert.equal((await http.inject({ url: '/api/session' })).statusCode, 401);
});

test('every API call needs a session; every change also this origin, the CSRF token and an operator', async (t) => {
  const broker = await startTestBroker(t);
  const { app } = await startConsole(t, broker.url);
  const http = app.runtime.http;
  assert.equal((await http.inject({ url: '/api/lanes' })).statusCode, 401);
  assert.equal(
    (await http.inject({ url: '/api/lanes', headers: { cookie: 'sightline_session=forged-forged-forged-forged-forged-forged-for' } })).statusCode,
    401,
  );
  const { cookie, csrf } = await login(app, OPERATOR);
  const change = (headers: Record<string, string>) =>
    http.inject({ method: 'POST', url: '/api/alerts/alert-1/acknowledge', payload: {}, headers: { cookie, host: 'localhost', ...headers } });
  const noToken = await change({});
  assert.equal(noToken.statusCode, 403);
  assert.match(noToken.json().message, /X-CSRF-Token/);
  assert.equal((await change({ 'x-csrf-token': csrf.replace(/^./, csrf[0] === 'A' ? 'B' : 'A') })).statusCode, 403);
  const crossOrigin = await change({ 'x-csrf-token': csrf, origin: 'http://evil.example' });
  assert.equal(crossOrigin.statusCode, 403);
  assert.match(crossOrigin.json().message, /cross-origin/);
  assert.equal((await change({ 'x-csrf-token': csrf, 'sec-fetch-site': 'cross-site' })).statusCode, 403);
  // All checks passed: the call reaches the alert service, which is down here.
  const passed = await change({ 'x-csrf-token': csrf, origin: 'http://localhost' });
  assert.equal(passed.statusCode, 502);
  assert.match(passed.json().message, /alert cannot be reached/);

  const viewer = await login(app, VIEWER);
  const refused = await http.inject({
    method: 'POST',
    url: '/api/alerts/alert-1/acknowledge',
    payload: {},
    headers: { cookie: viewer.cookie, 'x-csrf-token': viewer.csrf },
  });
  assert.equal(refused.statusCode, 403);
  assert.match(refused.json().message, /victor is a viewer account: it can look but not change/);
  const out = await http.inject({ method: 'POST', url: '/api/logout', payload: {}, headers: { cookie: viewer.cookie, 'x-csrf-token': viewer.csrf } });
  assert.equal(out.statusCode, 200);
  assert.match(String(out.headers['set-cookie']), /Max-Age=0/);
  assert.equal((await http.inject({ url: '/api/session', headers: { cookie: viewer.cookie } })).statusCode, 401);
});

test('a changed password or a removed account ends its sessions at the next request', async (t) => {
  const broker = await startTestBroker(t);
  const { app, usersFile } = await startConsole(t, broker.url);
  const http = app.runtime.http;
  const { cookie } = await login(app, VIEWER);
  assert.equal((await http.inject({ url: '/api/session', headers: { cookie } })).statusCode, 200);
  await setAccount(usersFile, VIEWER.username, 'a new viewer password', 'viewer');
  assert.equal((await http.inject({ url: '/api/session', headers: { cookie } })).statusCode, 401);
  const again = await login(app, { username: VIEWER.username, password: 'a new viewer password' });
  writeFileSync(usersFile, JSON.stringify({ version: 1, users: {} }));
  assert.equal((await http.inject({ url: '/api/session', headers: { cookie: again.cookie } })).statusCode, 401);
});

test('hostile logins: empty, not JSON, extra keys, too long, too big, wrong type, and a guessing run, each refused with the reason', async (t) => {
  const broker = await startTestBroker(t);
  const { app } = await startConsole(t, broker.url);
  const http = app.runtime.http;
  const post = (payload: string, type = 'application/json') => http.inject({ method: 'POST', url: '/api/login', payload, headers: { 'content-type': type } });
  assert.equal((await post('')).statusCode, 400);
  assert.equal((await post('{"username":')).statusCode, 400);
  const extra = await post(JSON.stringify({ ...OPERATOR, role: 'operator' }));
  assert.equal(extra.statusCode, 400);
  assert.match(extra.json().message, /role/);
  const long = await post(JSON.stringify({ username: 'u'.repeat(65), password: 'x' }));
  assert.equal(long.statusCode, 400);
  assert.match(long.json().message, /username: must be at most 64 characters/);
  assert.equal((await post(JSON.stringify({ username: 'a', password: 'p'.repeat(5000) }))).statusCode, 413);
  assert.equal((await post('username=olga&password=x', 'application/x-www-form-urlencoded')).statusCode, 415);
  assert.equal((await post(JSON.stringify({ username: '../../etc/passwd', password: 'x' }))).statusCode, 401);
  assert.equal((await post(JSON.stringify({ username: '__proto__', password: 'x' }))).statusCode, 401);

  for (let i = 0; i < MAX_FAILURES; i++) assert.equal((await post(JSON.stringify({ username: VIEWER.username, password: `guess ${i}` }))).statusCode, 401);
  const blocked = await post(JSON.stringify(VIEWER));
  assert.equal(blocked.statusCode, 429, 'even the right password, once the account is being guessed');
  assert.equal(blocked.headers['retry-after'], '900');
});

test('a broken accounts file: logins answer 503 with the reason, and nobody gets in', async (t) => {
  const broker = await startTestBroker(t);
  const { app, usersFile } = await startConsole(t, broker.url);
  writeFileSync(usersFile, '{"version": 1, "users": {"olga": {"hash": "plain text", "role": "operator"}}}');
  const res = await app.runtime.http.inject({ method: 'POST', url: '/api/login', payload: OPERATOR });
  assert.equal(res.statusCode, 503);
  assert.match(res.json().message, /users\.olga\.hash: bad password hash/);
});

test('Host and token: other names are refused; with a token, only /metrics asks for it (browsers log in instead)', async (t) => {
  const broker = await startTestBroker(t);
  const { app } = await startConsole(t, broker.url, { SIGHTLINE_HTTP_TOKEN: TOKEN });
  const http = app.runtime.http;
  assert.equal((await http.inject({ url: '/', headers: { host: 'evil.example' } })).statusCode, 403);
  const page = await http.inject({ url: '/', headers: { 'accept-encoding': 'gzip' } });
  assert.equal(page.statusCode, 200);
  assert.equal(page.headers['content-encoding'], 'gzip');
  assert.match(String(page.headers['content-security-policy']), /script-src 'self'/);
  assert.match(String(page.headers['content-security-policy']), /frame-ancestors 'none'/);
  assert.equal((await http.inject({ url: '/metrics' })).statusCode, 401);
  assert.equal((await http.inject({ url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } })).statusCode, 200);
  assert.equal((await http.inject({ method: 'POST', url: '/api/login', payload: OPERATOR })).statusCode, 200);
  const script = await http.inject({ url: '/assets/app.js' });
  assert.equal(script.statusCode, 200);
  assert.match(String(script.headers['content-type']), /^text\/javascript/);
  assert.equal((await http.inject({ url: '/assets/..%2F..%2Fpackage.json' })).statusCode, 404);
});

test('the Services page lists the uplink only where it is set up (SIGHTLINE_CONSOLE_SERVICES names it), every other service always', () => {
  const base = { SIGHTLINE_DATA_DIR: '/tmp/sightline-console-config-test' };
  const without = loadConsoleConfig(base);
  assert.ok(!without.listed.includes('uplink'));
  assert.ok(
    ['broker', 'capture', 'inference', 'checkout', 'tts', 'speaker', 'alert', 'azurite', 'sync'].every((name) => without.listed.includes(name as never)),
  );
  const named = loadConsoleConfig({ ...base, SIGHTLINE_CONSOLE_SERVICES: 'uplink=http://127.0.0.1:8091' });
  assert.ok(named.listed.includes('uplink'));
});
