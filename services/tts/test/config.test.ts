import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { SAMPLE_CATALOG_FILE } from '@sightline/catalog';
import { ConfigError } from '@sightline/kit';
import { loadTtsConfig } from '../src/config.ts';
import { FIXTURE_CATALOG, tempDir } from './helpers.ts';

function problems(env: NodeJS.ProcessEnv, cwd?: string): string[] {
  try {
    loadTtsConfig(env, cwd);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail('the configuration was accepted');
}

test('defaults: offline voice, port 8085, en-US, caches on', () => {
  const config = loadTtsConfig({ SIGHTLINE_TTS_CATALOG_FILE: FIXTURE_CATALOG }, '/srv');
  assert.equal(config.http.port, 8085);
  assert.equal(config.azure, null);
  assert.equal(config.defaultLocale, 'en-US');
  assert.deepEqual(config.prosody, { ratePercent: 100, pitchPercent: 0 });
  assert.equal(config.dataDir, '/srv/.data/tts');
  assert.equal(config.memoryCacheBytes, 32 * 1024 * 1024);
  assert.equal(config.catalog?.products.length, 3);
  assert.equal(config.splitScans, false);
});

test('Azure from a key file and a region; the key never appears in problems', (t) => {
  const dir = tempDir(t);
  const keyFile = join(dir, 'azure-key');
  writeFileSync(keyFile, 'sekrit-azure-key\n');
  const config = loadTtsConfig({
    SIGHTLINE_TTS_AZURE_KEY_FILE: keyFile,
    SIGHTLINE_TTS_AZURE_REGION: 'westeurope',
    SIGHTLINE_TTS_AZURE_VOICES: 'en-US=en-US-GuyNeural',
    SIGHTLINE_TTS_CATALOG_FILE: FIXTURE_CATALOG,
  });
  assert.equal(config.azure?.key, 'sekrit-azure-key');
  assert.equal(config.azure?.region, 'westeurope');
  assert.equal(config.azure?.budgetMs, 1500);
  assert.equal(config.azure?.voices.get('en-US'), 'en-US-GuyNeural');
  const offline = loadTtsConfig({
    SIGHTLINE_TTS_PROVIDER: 'espeak',
    SIGHTLINE_TTS_AZURE_KEY: 'k',
    SIGHTLINE_TTS_AZURE_REGION: 'westeurope',
    SIGHTLINE_TTS_CATALOG_FILE: FIXTURE_CATALOG,
  });
  assert.equal(offline.azure, null, 'provider espeak keeps Azure off even with a key');
});

test('Azure half-configured is refused', () => {
  assert.match(problems({ SIGHTLINE_TTS_AZURE_KEY: 'sekrit' }).join('\n'), /AZURE_KEY is set without SIGHTLINE_TTS_AZURE_REGION/);
  assert.match(problems({ SIGHTLINE_TTS_AZURE_REGION: 'westeurope' }).join('\n'), /without SIGHTLINE_TTS_AZURE_KEY/);
  assert.match(problems({ SIGHTLINE_TTS_PROVIDER: 'azure' }).join('\n'), /PROVIDER is azure but/);
  assert.match(
    problems({ SIGHTLINE_TTS_AZURE_KEY: 'k', SIGHTLINE_TTS_AZURE_REGION: 'westeurope', SIGHTLINE_TTS_AZURE_ENDPOINT: 'wss://x' }).join('\n'),
    /both set/,
  );
  const listed = problems({ SIGHTLINE_TTS_AZURE_KEY: 'sekrit', SIGHTLINE_TTS_AZURE_REGION: 'West Europe!' });
  assert.ok(!listed.join('\n').includes('sekrit'));
});

test('every problem is reported at once', () => {
  const listed = problems({
    SIGHTLINE_TTS_HTTP_PORT: 'eighty',
    SIGHTLINE_TTS_RATE: '900',
    SIGHTLINE_TTS_PITCH: 'high',
    SIGHTLINE_TTS_PROVIDER: 'polly',
    SIGHTLINE_TTS_DEFAULT_LOCALE: 'ja-JP',
    SIGHTLINE_TTS_ESPEAK_VOICES: 'en-US',
    SIGHTLINE_TTS_AZURE_BUDGET_MS: '10',
    SIGHTLINE_TTS_VOICE: 'x',
  });
  const text = listed.join('\n');
  for (const expected of [
    'SIGHTLINE_TTS_HTTP_PORT',
    'SIGHTLINE_TTS_RATE',
    'SIGHTLINE_TTS_PITCH',
    'SIGHTLINE_TTS_PROVIDER',
    'SIGHTLINE_TTS_VOICE: unknown setting',
    'SIGHTLINE_TTS_AZURE_BUDGET_MS',
  ]) {
    assert.ok(text.includes(expected), `${expected} in:\n${text}`);
  }
  // the kit stops at the schema; the locale and voice map are checked once the schema passes
  const second = problems({ SIGHTLINE_TTS_DEFAULT_LOCALE: 'ja-JP', SIGHTLINE_TTS_ESPEAK_VOICES: 'en-US', SIGHTLINE_TTS_CATALOG_FILE: FIXTURE_CATALOG }).join(
    '\n',
  );
  assert.match(second, /DEFAULT_LOCALE: no sentences for "ja-JP"/);
  assert.match(second, /ESPEAK_VOICES: "en-US" is not locale=voice/);
});

test('the catalog: the sample of @sightline/catalog by default; a bad file is refused with the other problems (the loader: packages/catalog)', (t) => {
  const config = loadTtsConfig({}, '/srv');
  assert.equal(config.catalogFile, SAMPLE_CATALOG_FILE);
  assert.ok(config.catalog.products.some((product) => product.labels.includes('orange')));
  const dir = tempDir(t);
  const text = problems({ SIGHTLINE_TTS_CATALOG_FILE: join(dir, 'nope.yaml'), SIGHTLINE_TTS_DEFAULT_LOCALE: 'ja-JP' }).join('\n');
  assert.match(text, /SIGHTLINE_TTS_CATALOG_FILE: .*nope\.yaml does not exist/);
  assert.match(text, /DEFAULT_LOCALE: no sentences for "ja-JP"/);
  mkdirSync(join(dir, 'folder.yaml'));
  assert.match(problems({ SIGHTLINE_TTS_CATALOG_FILE: join(dir, 'folder.yaml') }).join('\n'), /is a folder/);
  writeFileSync(join(dir, 'invalid.yaml'), 'currency: XXXX\nlocales: [en-US]\nproducts: []\n');
  assert.match(problems({ SIGHTLINE_TTS_CATALOG_FILE: join(dir, 'invalid.yaml') }).join('\n'), /SIGHTLINE_TTS_CATALOG_FILE: .*currency/);
});

test('the persistent MQTT session: a fixed client id, sightline-tts unless set', () => {
  assert.equal(loadTtsConfig({ SIGHTLINE_TTS_CATALOG_FILE: FIXTURE_CATALOG }).clientId, 'sightline-tts');
  assert.equal(loadTtsConfig({ SIGHTLINE_TTS_CATALOG_FILE: FIXTURE_CATALOG, SIGHTLINE_TTS_MQTT_CLIENT_ID: 'tts-lane-3' }).clientId, 'tts-lane-3');
  assert.match(problems({ SIGHTLINE_TTS_MQTT_CLIENT_ID: 'a/b' }).join('\n'), /SIGHTLINE_TTS_MQTT_CLIENT_ID: must be 1-64 characters/);
});

test('lane bounds: defaults and limits', () => {
  const config = loadTtsConfig({ SIGHTLINE_TTS_CATALOG_FILE: FIXTURE_CATALOG }, '/srv');
  assert.deepEqual(
    { queue: config.laneQueue, lanes: config.maxLanes, bytes: config.maxQueuedBytes, concurrency: config.concurrency },
    { queue: 32, lanes: 64, bytes: 4 * 1024 * 1024, concurrency: 4 },
  );
  assert.match(
    problems({ SIGHTLINE_TTS_CATALOG_FILE: FIXTURE_CATALOG, SIGHTLINE_TTS_CONCURRENCY: '0', SIGHTLINE_TTS_MAX_LANES: 'many' }).join('\n'),
    /SIGHTLINE_TTS_CONCURRENCY[\s\S]*SIGHTLINE_TTS_MAX_LANES|SIGHTLINE_TTS_MAX_LANES[\s\S]*SIGHTLINE_TTS_CONCURRENCY/,
  );
});
