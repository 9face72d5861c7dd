import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '@sightline/kit';
// Azurite's account lives with Azurite; a path, not a dependency, so the sync image does not carry Azurite.
import { azuriteConnectionString } from '../../../infra/azurite/account.ts';
import { loadSyncConfig, parseConnectionString } from '../src/config.ts';
import { tempDir } from './helpers.ts';

const SECRET = 'c2VjcmV0LWtleS1kby1ub3QtcHJpbnQ=';

function problems(env: Record<string, string>): string[] {
  try {
    loadSyncConfig(env, '/srv');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

test('defaults: the dev stack Azurite, port 8088, data under <data dir>/sync, the documented policy', () => {
  const config = loadSyncConfig({}, '/srv');
  assert.equal(config.http.port, 8088);
  assert.equal(config.dataDir, '/srv/.data/sync');
  assert.equal(config.blob.kind, 'connection-string');
  assert.equal(config.blob.kind === 'connection-string' && config.blob.blobEndpoint, 'http://127.0.0.1:10000/devstoreaccount1');
  assert.equal(config.container, 'sightline-frames');
  assert.deepEqual(config.selection, { uncertainMin: 0.3, uncertainMax: 0.8, samplesPerHour: 2, maxUploadsPerHour: 200 });
  assert.deepEqual(config.outbox, { ttlMs: 86_400_000, maxBytes: 1024 ** 3, fsync: true });
  assert.equal(config.upload.retryMaxMs, 60_000);
  assert.equal(config.keptList, 1000);
  assert.equal(loadSyncConfig({ SIGHTLINE_SYNC_KEPT_LIST: '50' }, '/srv').keptList, 50);
  assert.match(problems({ SIGHTLINE_SYNC_KEPT_LIST: '0' }).join('\n'), /SIGHTLINE_SYNC_KEPT_LIST: must be at least 1/);
});

test('malformed connection strings are refused with the cause, never echoing the secret', () => {
  const cases: Array<[string, RegExp]> = [
    ['just some text', /expected Key=Value pairs/],
    [`AccountKey=${SECRET}`, /has no AccountName/],
    ['AccountName=acct;DefaultEndpointsProtocol=https', /neither AccountKey nor SharedAccessSignature/],
    ['AccountName=acct;AccountKey=not base64!!', /AccountKey that is not base64/],
    [`AccountName=acct;AccountKey=${SECRET};BlobEndpoint=ftp://x`, /not an http\(s\) URL/],
    [`AccountName=acct;AccountKey=${SECRET};BlobEndpoint=::nope`, /not a URL/],
  ];
  for (const [value, expected] of cases) {
    const found = problems({ SIGHTLINE_SYNC_CONNECTION_STRING: value });
    assert.equal(found.length, 1, found.join('\n'));
    assert.match(found[0]!, expected);
    assert.match(found[0]!, /^SIGHTLINE_SYNC_CONNECTION_STRING: /);
    assert.ok(!found[0]!.includes(SECRET) && !found[0]!.includes(value), found[0]);
  }
  assert.ok('accountName' in parseConnectionString(azuriteConnectionString()));
  assert.ok('accountName' in parseConnectionString('UseDevelopmentStorage=true'));
  assert.ok('accountName' in parseConnectionString(`DefaultEndpointsProtocol=https;AccountName=prod1;AccountKey=${SECRET};EndpointSuffix=core.windows.net`));
});

test('the connection string can come from a file; SAS and account URL go together; every problem is reported at once', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'cs');
  writeFileSync(file, `${azuriteConnectionString('127.0.0.1', 10123)}\n`);
  const config = loadSyncConfig({ SIGHTLINE_SYNC_CONNECTION_STRING_FILE: file }, '/srv');
  assert.equal(config.blob.kind === 'connection-string' && config.blob.blobEndpoint, 'http://127.0.0.1:10123/devstoreaccount1');

  const sas = loadSyncConfig({ SIGHTLINE_SYNC_ACCOUNT_URL: 'https://acct.blob.core.windows.net', SIGHTLINE_SYNC_SAS_TOKEN: '?sv=2024&sig=abc' }, '/srv');
  assert.deepEqual(sas.blob, { kind: 'sas', accountUrl: 'https://acct.blob.core.windows.net', sasToken: 'sv=2024&sig=abc' });
  assert.match(problems({ SIGHTLINE_SYNC_ACCOUNT_URL: 'https://acct.blob.core.windows.net' }).join('\n'), /SAS_TOKEN: required/);
  assert.match(
    problems({ SIGHTLINE_SYNC_ACCOUNT_URL: 'https://a', SIGHTLINE_SYNC_SAS_TOKEN: 'x', SIGHTLINE_SYNC_CONNECTION_STRING: azuriteConnectionString() }).join(
      '\n',
    ),
    /both set/,
  );

  const many = problems({ SIGHTLINE_SYNC_CONTAINER: 'Bad_Name', SIGHTLINE_SYNC_UNCERTAIN_MIN: '2', SIGHTLINE_SYNC_FSYNC: 'maybe', SIGHTLINE_SYNC_TYPO: '1' });
  assert.equal(many.length, 4, many.join('\n'));
  assert.match(many.join('\n'), /SIGHTLINE_SYNC_TYPO: unknown setting/);
  assert.match(problems({ SIGHTLINE_SYNC_UNCERTAIN_MIN: '0.9', SIGHTLINE_SYNC_UNCERTAIN_MAX: '0.5' }).join('\n'), /must not be above/);
});

test('camera bounds: defaults, a list, and a per-camera ring larger than all of them refused', () => {
  const defaults = loadSyncConfig({}, '/srv');
  assert.deepEqual(
    [defaults.cameras, defaults.maxCameras, defaults.cameraIdleMs, defaults.ring],
    [null, 64, 60_000, { frames: 50, bytes: 32 * 1024 ** 2, totalBytes: 256 * 1024 ** 2 }],
  );
  assert.deepEqual(loadSyncConfig({ SIGHTLINE_SYNC_CAMERAS: 'front, back,front' }, '/srv').cameras, ['front', 'back']);
  const found = problems({ SIGHTLINE_SYNC_CAMERAS: 'ok,not ok', SIGHTLINE_SYNC_MAX_CAMERAS: '0' });
  assert.equal(found.length, 2, found.join('\n'));
  assert.match(found.join('\n'), /SIGHTLINE_SYNC_CAMERAS/);
  assert.match(found.join('\n'), /SIGHTLINE_SYNC_MAX_CAMERAS/);
  assert.deepEqual(problems({ SIGHTLINE_SYNC_RING_BYTES: String(64 * 1024 ** 2), SIGHTLINE_SYNC_RINGS_MAX_BYTES: String(32 * 1024 ** 2) }), [
    "SIGHTLINE_SYNC_RING_BYTES: must not be above SIGHTLINE_SYNC_RINGS_MAX_BYTES (one camera's ring within all of them)",
  ]);
});
