import assert from 'node:assert/strict';
import { openSync, readdirSync, readFileSync, closeSync, writeSync, appendFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { channels, createTopics } from '@sightline/schemas';
import { captureLogs, cloudReader, localClient, PREFIX, sleep, startTestBroker, startUplink, startUpstream, tempDir, uplinkEnv, waitUntil } from './helpers.ts';

const local = createTopics('sightline');

async function publishScans(client: MqttClient, from: number, to: number): Promise<void> {
  for (let n = from; n < to; n++) {
    await client.publishAsync(
      local.topic(channels.scan, { lane: 'lane-1' }),
      channels.scan.codec.encode({ ...channels.scan.example, id: `scan-${n}`, seq: n }),
      {
        qos: 1,
      },
    );
  }
}

const seqs = (messages: Array<{ payload: Buffer }>) => messages.map((m) => JSON.parse(m.payload.toString()).seq as number);
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

test('a wrong password is refused with a clear reason, never logged; nothing is lost, and the right one delivers it all', async (t) => {
  const broker = await startTestBroker(t);
  const upstream = await startUpstream(t);
  const reader = await cloudReader(t, upstream, `${PREFIX}/lanes/#`);
  const dataDir = tempDir(t);
  const wrong = 'not-the-password-91c3e0';
  const app = await startUplink(t, uplinkEnv(upstream, broker.url, dataDir, { SIGHTLINE_UPLINK_PASSWORD: wrong }));
  await waitUntil('refused', () => app.state().upstream.state === 'refused', 10_000);
  assert.match(app.state().upstream.reason!, /upstream refused the login .*check SIGHTLINE_UPLINK_USERNAME and SIGHTLINE_UPLINK_PASSWORD/);
  const services = await localClient(t, broker.url);
  await publishScans(services, 0, 5);
  await waitUntil('queued', () => app.queue.messages === 5, 5000);
  const ready = await fetch(`http://127.0.0.1:${app.runtime.httpPort()}/readyz`);
  assert.equal(ready.status, 503);
  assert.match(((await ready.json()) as { reason: string }).reason, /refused the login/);
  assert.match(app.logs.text(), /upstream refused the connection/);
  assert.doesNotMatch(app.logs.text(), new RegExp(wrong));
  await app.stop();

  const fixed = await startUplink(t, uplinkEnv(upstream, broker.url, dataDir));
  await waitUntil('delivered after the fix', () => reader.messages.length >= 5, 10_000);
  assert.deepEqual(seqs(reader.messages), range(0, 5));
  assert.equal(fixed.state().upstream.state, 'connected');
});

test('an upstream certificate the configured CA did not sign is refused with a clear reason; messages wait', async (t) => {
  const broker = await startTestBroker(t);
  const upstream = await startUpstream(t);
  const app = await startUplink(t, uplinkEnv(upstream, broker.url, tempDir(t), { SIGHTLINE_UPLINK_CA_FILE: upstream.certs.otherCa }));
  await waitUntil('refused', () => app.state().upstream.state === 'refused', 10_000);
  assert.match(app.state().upstream.reason!, /upstream certificate not trusted \([A-Z_]+\): check SIGHTLINE_UPLINK_CA/);
  const services = await localClient(t, broker.url);
  await publishScans(services, 0, 3);
  await waitUntil('queued', () => app.queue.messages === 3, 5000);
  await sleep(500);
  assert.equal(app.queue.messages, 3, 'messages left the queue without a trusted upstream');
  assert.equal(app.state().forwarded, 0);
});

test('a restart with a non-empty queue delivers it, then what the local broker kept meanwhile, in order', async (t) => {
  const broker = await startTestBroker(t);
  const upstream = await startUpstream(t);
  const reader = await cloudReader(t, upstream, `${PREFIX}/lanes/#`);
  await upstream.stop();
  const dataDir = tempDir(t);
  const env = uplinkEnv(upstream, broker.url, dataDir);
  const first = await startUplink(t, env);
  const services = await localClient(t, broker.url);
  await publishScans(services, 0, 20);
  await waitUntil('queued', () => first.queue.messages === 20, 5000);
  await first.stop();
  // While the uplink is away, its persistent session on the local broker keeps what arrives.
  await publishScans(services, 20, 25);
  await upstream.start();

  const second = await startUplink(t, env);
  await waitUntil('all delivered', () => reader.messages.length >= 25, 10_000);
  await sleep(200);
  assert.deepEqual(seqs(reader.messages), range(0, 25));
  await waitUntil('the queue empties', () => second.queue.messages === 0, 5000);
  await second.stop();

  // Delivered is gone: a third start sends nothing again.
  const third = await startUplink(t, env);
  await waitUntil('connected', () => third.state().upstream.state === 'connected', 10_000);
  await sleep(300);
  assert.equal(third.queue.messages, 0);
  assert.equal(reader.messages.length, 25);
});

test('a corrupt queue file is reported in the log and counted; the records around the damage are delivered', async (t) => {
  const broker = await startTestBroker(t);
  const upstream = await startUpstream(t);
  const reader = await cloudReader(t, upstream, `${PREFIX}/lanes/#`);
  await upstream.stop();
  const dataDir = tempDir(t);
  const env = uplinkEnv(upstream, broker.url, dataDir);
  const first = await startUplink(t, env);
  const services = await localClient(t, broker.url);
  // Two-digit numbers: records of one size.
  await publishScans(services, 10, 40);
  await waitUntil('queued', () => first.queue.messages === 30, 5000);
  await first.stop();

  const queueDir = path.join(dataDir, 'uplink', 'queue');
  const [segment] = readdirSync(queueDir).filter((name) => name.endsWith('.seg'));
  const file = path.join(queueDir, segment!);
  const data = readFileSync(file);
  const recordBytes = data.length / 30;
  assert.ok(Number.isInteger(recordBytes), 'the scans should make records of one size');
  // Scribble over the middle of record 10 (a damaged sector), and leave half a record at the end (a torn write).
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.alloc(40, 0xee), 0, 40, recordBytes * 10 + 20);
  closeSync(fd);
  appendFileSync(file, data.subarray(0, Math.floor(recordBytes / 2)));

  await upstream.start();
  const logs = captureLogs();
  const second = await startUplink(t, env, logs);
  await waitUntil('the rest delivered', () => reader.messages.length >= 29, 10_000);
  await sleep(200);
  assert.deepEqual(seqs(reader.messages), [...range(10, 20), ...range(21, 40)]);
  assert.equal(second.state().dropped.corrupt, 2);
  assert.match(logs.text(), /unreadable stretch in a queue file: skipped, the records after it are kept/);
  assert.match(logs.text(), /queue file ends in an unreadable record \(a torn write\?\): skipped/);
  // New messages follow the last whole record, not the torn tail.
  await publishScans(services, 40, 42);
  await waitUntil('new ones delivered', () => reader.messages.length >= 31, 10_000);
  assert.deepEqual(seqs(reader.messages).slice(-2), [40, 41]);
});
