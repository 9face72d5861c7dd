import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '@sightline/kit';
import { loadUplinkConfig } from '../src/config.ts';
import { makeCerts, tempDir } from './helpers.ts';

const BASE = { SIGHTLINE_UPLINK_URL: 'mqtts://mqtt.example.com:8883', SIGHTLINE_UPLINK_TOPIC_PREFIX: 'sites/store-7' };

function problems(env: Record<string, string>): string[] {
  try {
    loadUplinkConfig(env, '/srv');
  } catch (err) {
    assert.ok(err instanceof ConfigError, `not a ConfigError: ${(err as Error).message}`);
    return err.problems;
  }
  assert.fail('the configuration was accepted');
}

test('defaults: the channels the uplink is a subscriber of, never frames; QoS 1; the queue in the data dir', () => {
  const config = loadUplinkConfig({ ...BASE, SIGHTLINE_UPLINK_TOPIC_PREFIX: 'sites/store-7/' }, '/srv');
  assert.deepEqual(config.channels.map((channel) => channel.name).sort(), [
    'alerts',
    'availability',
    'basket',
    'camera-status',
    'detections',
    'lane-event',
    'scan',
  ]);
  assert.equal(config.upstream.topicPrefix, 'sites/store-7');
  assert.equal(config.upstream.qos, 1);
  assert.equal(config.upstream.tls, true);
  assert.equal(config.upstream.clientId, 'sightline-uplink-sites-store-7');
  assert.equal(config.queue.dir, '/srv/.data/uplink/queue');
  assert.equal(config.localClientId, 'sightline-uplink');
  const listed = loadUplinkConfig({ ...BASE, SIGHTLINE_UPLINK_CHANNELS: 'frame, alerts', SIGHTLINE_UPLINK_QOS: '0' }, '/srv');
  assert.deepEqual(listed.channels.map((channel) => channel.name).sort(), ['alerts', 'frame']);
  assert.equal(listed.upstream.qos, 0);
  // Plain MQTT is for an upstream on this machine only.
  assert.equal(loadUplinkConfig({ ...BASE, SIGHTLINE_UPLINK_URL: 'mqtt://127.0.0.1:1884' }).upstream.tls, false);
});

test('hostile upstream URLs are refused with the reason', () => {
  assert.deepEqual(problems({ SIGHTLINE_UPLINK_TOPIC_PREFIX: 'sites/a' }), [
    'SIGHTLINE_UPLINK_URL: is required: the upstream broker, e.g. mqtts://mqtt.example.com:8883',
  ]);
  assert.match(problems({ ...BASE, SIGHTLINE_UPLINK_URL: '' }).join('\n'), /SIGHTLINE_UPLINK_URL: must be a URL like mqtts:\/\/mqtt.example.com:8883/);
  assert.deepEqual(problems({ ...BASE, SIGHTLINE_UPLINK_URL: 'http://mqtt.example.com' }), [
    'SIGHTLINE_UPLINK_URL: must be mqtts:// (or mqtt:// to a loopback address), not http://',
  ]);
  assert.deepEqual(problems({ ...BASE, SIGHTLINE_UPLINK_URL: 'mqtt://mqtt.example.com:1883' }), [
    'SIGHTLINE_UPLINK_URL: plain mqtt:// would send the password and every message in clear text to mqtt.example.com; use mqtts:// (plain mqtt:// is only for a loopback address)',
  ]);
  assert.match(problems({ ...BASE, SIGHTLINE_UPLINK_URL: 'mqtt://10.0.0.5' }).join('\n'), /clear text to 10\.0\.0\.5/);
  // Credentials in the URL would end up wherever the URL is shown: refused, and not echoed.
  const withPassword = problems({ ...BASE, SIGHTLINE_UPLINK_URL: 'mqtts://site:hunter2-secret@mqtt.example.com' });
  assert.deepEqual(withPassword, ['SIGHTLINE_UPLINK_URL: must not carry credentials; use SIGHTLINE_UPLINK_USERNAME and SIGHTLINE_UPLINK_PASSWORD_FILE']);
  assert.match(problems({ ...BASE, SIGHTLINE_UPLINK_URL: 'mqtts://mqtt.example.com/x?y=1' }).join('\n'), /must be scheme:\/\/host:port, nothing after/);
  const unparseable = problems({ ...BASE, SIGHTLINE_UPLINK_URL: 'mqtts://site:hunter 2@mqtt example' }).join('\n');
  assert.match(unparseable, /must be a URL like .*got "mqtts:\/\/\*\*\*@mqtt example"/);
  assert.doesNotMatch(unparseable, /hunter/);
});

test('files: a missing CA file, a CA that is not a certificate, a key without its certificate; every problem at once, no secret shown', async (t) => {
  const dir = tempDir(t);
  const certs = await makeCerts(dir);
  const garbage = path.join(dir, 'garbage.pem');
  writeFileSync(garbage, 'not a certificate');
  const passwordFile = path.join(dir, 'password');
  writeFileSync(passwordFile, 'file-secret-8d2f\n');
  assert.deepEqual(problems({ ...BASE, SIGHTLINE_UPLINK_CA_FILE: path.join(dir, 'missing-ca.pem') }), [
    `SIGHTLINE_UPLINK_CA_FILE: cannot read ${path.join(dir, 'missing-ca.pem')}: ENOENT`,
  ]);
  // Each value is checked first, every problem at once; then how they fit together, every problem at once.
  const values = problems({ ...BASE, SIGHTLINE_UPLINK_CHANNELS: 'alerts,frames', SIGHTLINE_UPLINK_QUEUE_MAX_BYTES: '10', SIGHTLINE_UPLINK_QOS: '2' });
  assert.equal(values.length, 3, values.join('\n'));
  assert.match(values.join('\n'), /SIGHTLINE_UPLINK_CHANNELS: "frames" is not a channel \(channels: frame, camera-status/);
  assert.match(values.join('\n'), /SIGHTLINE_UPLINK_QUEUE_MAX_BYTES: must be at least 65536/);
  assert.match(values.join('\n'), /SIGHTLINE_UPLINK_QOS: must be 0 or 1/);
  const all = problems({
    ...BASE,
    SIGHTLINE_UPLINK_CA_FILE: garbage,
    SIGHTLINE_UPLINK_KEY_FILE: certs.serverKey,
    SIGHTLINE_UPLINK_PASSWORD_FILE: passwordFile,
  });
  assert.equal(all.length, 3, all.join('\n'));
  assert.match(all.join('\n'), /SIGHTLINE_UPLINK_PASSWORD: needs SIGHTLINE_UPLINK_USERNAME/);
  assert.match(all.join('\n'), /SIGHTLINE_UPLINK_CA: is not a PEM certificate/);
  assert.match(all.join('\n'), /SIGHTLINE_UPLINK_CERT and SIGHTLINE_UPLINK_KEY: give both or neither/);
  assert.doesNotMatch(all.join('\n'), /file-secret|BEGIN/);

  // A good set loads; the password comes from its file.
  const config = loadUplinkConfig({
    ...BASE,
    SIGHTLINE_UPLINK_CA_FILE: certs.ca,
    SIGHTLINE_UPLINK_CERT_FILE: certs.serverCert,
    SIGHTLINE_UPLINK_KEY_FILE: certs.serverKey,
    SIGHTLINE_UPLINK_USERNAME: 'store-7',
    SIGHTLINE_UPLINK_PASSWORD_FILE: passwordFile,
  });
  assert.equal(config.upstream.password, 'file-secret-8d2f');
  assert.match(config.upstream.ca!, /BEGIN CERTIFICATE/);
});

test('TLS settings with plain mqtt:// to loopback, a missing prefix and a typo are refused', () => {
  const got = problems({ SIGHTLINE_UPLINK_URL: 'mqtt://127.0.0.1', SIGHTLINE_UPLINK_CA: 'x', SIGHTLINE_UPLINK_PREFIX: 'sites/a' });
  assert.deepEqual(got.sort(), [
    'SIGHTLINE_UPLINK_PREFIX: unknown setting for uplink',
    'SIGHTLINE_UPLINK_TOPIC_PREFIX: is required: where this site publishes upstream, e.g. sites/store-7',
  ]);
  const tls = problems({ ...BASE, SIGHTLINE_UPLINK_URL: 'mqtt://localhost:1884', SIGHTLINE_UPLINK_CA: 'x' });
  assert.ok(tls.includes('SIGHTLINE_UPLINK_CA: only used with mqtts://'), tls.join('\n'));
});
