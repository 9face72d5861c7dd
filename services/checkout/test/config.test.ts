import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '@sightline/kit';
import { loadCheckoutConfig } from '../src/config.ts';
import { SAMPLE_CATALOG_FILE } from '@sightline/catalog';
import { DEFAULT_KEYS } from '../src/keypads.ts';
import { DEFAULT_TUNING, writeTemp } from './helpers.ts';

function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    loadCheckoutConfig(env, '/tmp');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

test('defaults: one lane on the demo camera, whole frame, scale on, the sample catalog', () => {
  const config = loadCheckoutConfig({}, '/srv');
  assert.equal(config.http.port, 8084);
  assert.equal(config.dataDir, '/srv/.data/checkout');
  assert.equal(config.catalogFile, SAMPLE_CATALOG_FILE);
  assert.equal(config.catalog.catalog.currency, 'USD');
  assert.deepEqual(config.catalog.catalog.locales, ['en-US', 'es-ES']);
  assert.equal(config.lanes.length, 1);
  const [lane] = config.lanes;
  assert.deepEqual(
    { id: lane!.id, camera: lane!.camera, locale: lane!.locale, scale: lane!.scale },
    { id: 'lane-1', camera: 'demo', locale: 'en-US', scale: true },
  );
  assert.deepEqual(lane!.zone, [
    { x: 0, y: 0 },
    { x: 1, y: 0 },
    { x: 1, y: 1 },
    { x: 0, y: 1 },
  ]);
  assert.deepEqual(lane!.tuning, DEFAULT_TUNING);
  assert.equal(config.scaleSimulator, false);
});

test('a lanes file in YAML with zones, per-lane overrides and environment settings', (t) => {
  const file = writeTemp(
    t,
    'lanes.yaml',
    `
lanes:
  - id: lane-1
    camera: cam-a
    locale: es-ES
    zone: [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]
    overrides: { scanFrames: 5, ignoreLabels: [person, Hand], scaleTimeoutSeconds: 5 }
  - id: lane-2
    camera: cam-b
    locale: en-US
    scale: false
    zone: [{x: 0, y: 0}, {x: 1, y: 0}, {x: 0.5, y: 1}]
`,
  );
  const config = loadCheckoutConfig(
    { SIGHTLINE_CHECKOUT_LANES_FILE: file, SIGHTLINE_CHECKOUT_SCAN_MS: '800', SIGHTLINE_CHECKOUT_SCALE_SIMULATOR: 'true' },
    '/tmp',
  );
  assert.equal(config.scaleSimulator, true);
  const [a, b] = config.lanes;
  assert.equal(a!.tuning.scanFrames, 5);
  assert.equal(a!.tuning.scanMs, 800);
  assert.deepEqual(a!.tuning.ignoreLabels, ['person', 'hand']);
  assert.equal(a!.tuning.scaleTimeoutMs, 5000);
  assert.equal(a!.scale, true);
  assert.equal(b!.tuning.scanFrames, 3);
  assert.equal(b!.scale, false);
  assert.deepEqual(b!.zone, [
    { x: 0, y: 0 },
    { x: 1, y: 0 },
    { x: 0.5, y: 1 },
  ]);
});

test('a bad lanes file: every problem is reported at once', (t) => {
  const file = writeTemp(
    t,
    'lanes.json',
    JSON.stringify({
      lanes: [
        {
          id: 'lane-1',
          camera: 'demo',
          locale: 'en-US',
          zone: [
            [0, 0],
            [1, 1],
          ],
        },
        {
          id: 'lane-1',
          camera: 'demo',
          locale: 'fr-FR',
          zone: [
            [0, 0],
            [1.5, 0],
            [1, -0.1],
          ],
        },
        {
          id: 'bad/id',
          camera: '#',
          locale: 'english',
          zone: [
            [0, 0],
            [0.5, 0.5],
            [1, 1],
          ],
          scale: 'yes',
          overrides: { scanFrames: 0, colour: 'red' },
        },
      ],
    }),
  );
  const problems = problemsOf({ SIGHTLINE_CHECKOUT_LANES_FILE: file, SIGHTLINE_CHECKOUT_SCAN_FRAMES: 'lots', SIGHTLINE_CHECKOUT_TYPO: '1' });
  const text = problems.join('\n');
  assert.match(text, /SIGHTLINE_CHECKOUT_TYPO: unknown setting/);
  assert.match(text, /SIGHTLINE_CHECKOUT_SCAN_FRAMES: must be a number/);
  // the kit stops before the files when the environment is wrong; fix it and look again
  const fileProblems = problemsOf({ SIGHTLINE_CHECKOUT_LANES_FILE: file }).join('\n');
  for (const expected of [
    /lanes\.0\.zone: needs at least 3 points/,
    /lanes\.1\.zone\.1\.x: x must be 0-1/,
    /lanes\.1\.zone\.2\.y: y must be 0-1/,
    /lanes\.2\.id: must be 1-64 characters/,
    /lanes\.2\.camera: must be 1-64 characters/,
    /lanes\.2\.locale: must be a locale/,
    /lanes\.2\.zone: encloses no area/,
    /lanes\.2\.scale/,
    /lanes\.2\.overrides\.scanFrames/,
    /lanes\.2\.overrides: Unrecognized key: "colour"/,
  ]) {
    assert.match(fileProblems, expected);
  }
  assert.ok(problemsOf({ SIGHTLINE_CHECKOUT_LANES_FILE: file }).length >= 10);
});

test('lanes checked against each other and the catalog: duplicate ids, locales the catalog lacks', (t) => {
  const file = writeTemp(t, 'lanes.yaml', 'lanes:\n  - { id: a, camera: demo, locale: en-US }\n  - { id: a, camera: demo, locale: fr-FR }\n');
  const problems = problemsOf({ SIGHTLINE_CHECKOUT_LANES_FILE: file });
  assert.equal(problems.length, 2);
  assert.match(problems[0]!, /lanes\.1\.id: duplicate lane id "a" \(also lanes\.0\.id\)/);
  assert.match(problems[1]!, /lanes\.1\.locale: fr-FR is not one of the catalog locales \(en-US, es-ES\)/);
});

test('unreadable lanes files: missing, empty, not YAML, not JSON, too big, a folder, no lanes', (t) => {
  const cases: Array<[string, string | null, RegExp]> = [
    ['missing.yaml', null, /does not exist/],
    ['empty.yaml', '  \n', /is empty/],
    ['broken.yaml', 'lanes: [ {id: a\n  camera: : :', /is not valid YAML/],
    ['broken.json', '{"lanes": [', /is not valid JSON/],
    ['big.yaml', `# ${'x'.repeat(300 * 1024)}\nlanes: []`, /is larger than 262144 bytes/],
    ['none.yaml', 'lanes: []', /must list at least one lane/],
    ['scalar.yaml', '42', /\(top level\)/],
    ['dupkeys.yaml', 'lanes: []\nlanes: []', /is not valid YAML/],
  ];
  for (const [name, content, expected] of cases) {
    const file = content === null ? `/nonexistent-${process.pid}/${name}` : writeTemp(t, name, content);
    const problems = problemsOf({ SIGHTLINE_CHECKOUT_LANES_FILE: file });
    assert.match(problems.join('\n'), expected, name);
  }
  assert.match(problemsOf({ SIGHTLINE_CHECKOUT_LANES_FILE: '/tmp' }).join('\n'), /is a folder/);
});

test('a bad catalog: every problem reported, with the lanes file problems too', (t) => {
  const catalog = writeTemp(
    t,
    'catalog.yaml',
    `
currency: XYZ
locales: [en-US, de-DE]
products:
  - sku: A
    labels: [apple]
    name: { en-US: Apple }
    price: { per: kg, minor: 1.5 }
    weight: { min: 300, max: 100 }
  - sku: A
    labels: [Apple]
    name: { en-US: Apple, de-DE: Apfel }
    price: { per: pound, minor: 100 }
    weight: { min: 100, max: 200 }
    threshold: 2
`,
  );
  const lanes = writeTemp(t, 'lanes.yaml', 'lanes: [{ id: x, camera: demo, locale: en-US, zone: [[0,0]] }]');
  const problems = problemsOf({ SIGHTLINE_CHECKOUT_CATALOG_FILE: catalog, SIGHTLINE_CHECKOUT_LANES_FILE: lanes });
  const text = problems.join('\n');
  for (const expected of [
    /currency: must be an ISO 4217 currency code/,
    /products\.0\.price\.minor/,
    /products\.0\.weight: min must not exceed max/,
    /products\.1\.price/,
    /products\.1\.threshold/,
    /lanes\.0\.zone: needs at least 3 points/,
  ]) {
    assert.match(text, expected);
  }
});

test('catalog cross-checks: duplicate skus and labels, a locale missing a name', (t) => {
  const catalog = writeTemp(
    t,
    'catalog.json',
    JSON.stringify({
      currency: 'EUR',
      locales: ['en-US', 'de-DE'],
      products: [
        { sku: 'A', labels: ['apple'], name: { 'en-US': 'Apple' }, price: { per: 'kg', minor: 199 }, weight: { min: 100, max: 300 } },
        { sku: 'A', labels: ['Apple'], name: { 'en-US': 'Apple', 'de-DE': 'Apfel' }, price: { per: 'unit', minor: 99 }, weight: { min: 100, max: 300 } },
      ],
    }),
  );
  const text = problemsOf({ SIGHTLINE_CHECKOUT_CATALOG_FILE: catalog }).join('\n');
  assert.match(text, /products\.0\.name: no display name for locale de-DE/);
  assert.match(text, /products\.1\.sku: duplicate sku "A"/);
  assert.match(text, /products\.1\.labels\.0: label "Apple" already belongs to products\[0\]/);
});

test('presence bounds: at most 1000, what the stored state can hold', () => {
  const config = loadCheckoutConfig({ SIGHTLINE_CHECKOUT_MAX_PRESENCES: '1000', SIGHTLINE_CHECKOUT_MAX_PRESENCE_KB: '64' }, '/srv');
  assert.equal(config.lanes[0]!.tuning.maxPresences, 1000);
  assert.equal(config.lanes[0]!.tuning.maxPresenceBytes, 64 * 1024);
  assert.match(problemsOf({ SIGHTLINE_CHECKOUT_MAX_PRESENCES: '1001' }).join('\n'), /SIGHTLINE_CHECKOUT_MAX_PRESENCES/);
});

test('lane controls in the lanes file: languages, idle times, a keypad with the default or its own keys', (t) => {
  const file = writeTemp(
    t,
    'lanes.yaml',
    `
lanes:
  - id: lane-1
    camera: cam-a
    locale: es-ES
    locales: [en-US, es-ES]
    keypad: { device: /dev/input/by-id/usb-1a2c_USB_Keypad-event-kbd }
    overrides: { idleWarningSeconds: 300 }
  - id: lane-2
    camera: cam-b
    locale: en-US
    keypad: { device: keypads/two, keys: { KP5: repeat, KPENTER: finish, F1: help } }
`,
  );
  const config = loadCheckoutConfig({ SIGHTLINE_CHECKOUT_LANES_FILE: file, SIGHTLINE_CHECKOUT_IDLE_END_SECONDS: '45' }, '/srv');
  const [a, b] = config.lanes;
  assert.deepEqual([a!.locale, a!.locales], ['es-ES', ['en-US', 'es-ES']]);
  assert.deepEqual([b!.locale, b!.locales], ['en-US', ['en-US']]);
  assert.deepEqual([a!.tuning.idleWarningSeconds, a!.tuning.idleEndSeconds], [300, 45]);
  assert.deepEqual([b!.tuning.idleWarningSeconds, b!.tuning.idleEndSeconds], [120, 45]);
  assert.deepEqual(a!.keypad, { device: '/dev/input/by-id/usb-1a2c_USB_Keypad-event-kbd', keys: DEFAULT_KEYS });
  assert.deepEqual(b!.keypad, { device: '/srv/keypads/two', keys: { KP5: 'repeat', KPENTER: 'finish', F1: 'help' } });
  assert.equal(loadCheckoutConfig({}, '/srv').lanes[0]!.keypad, null);
});

test('lane controls: every bad language, key and idle time is reported at once', (t) => {
  const catalog = writeTemp(
    t,
    'catalog.yaml',
    `
currency: EUR
locales: [en-US, de-DE]
products:
  - { sku: A, labels: [apple], name: { en-US: Apple, de-DE: Apfel }, price: { per: kg, minor: 199 }, weight: { min: 100, max: 300 } }
`,
  );
  const tooMany = Object.fromEntries(
    [
      'KP0',
      'KP1',
      'KP2',
      'KP3',
      'KP4',
      'KP5',
      'KP6',
      'KP7',
      'KP8',
      'KP9',
      'F1',
      'F2',
      'F3',
      'F4',
      'F5',
      'F6',
      'F7',
      'F8',
      'F9',
      'F10',
      'F11',
      'F12',
      '0',
      '1',
      '2',
      '3',
      '4',
      '5',
      '6',
      '7',
      '8',
      '9',
      'KPDOT',
      'KPPLUS',
      'KPMINUS',
      'KPENTER',
      'KPSLASH',
      'KPASTERISK',
      'ENTER',
      'TAB',
      'SPACE',
    ].map((k) => [k, 'repeat']),
  );
  const lanes = writeTemp(
    t,
    'lanes.json',
    JSON.stringify({
      lanes: [
        {
          id: 'a',
          camera: 'demo',
          locale: 'en-US',
          locales: ['de-DE', 'fr-FR', 'de-DE'],
          keypad: { device: '/dev/input/k', keys: { kp5: 'repeat', KP1: 'dance' } },
        },
        {
          id: 'b',
          camera: 'demo',
          locale: 'de-DE',
          keypad: { device: '/dev/input/k', keys: tooMany },
          overrides: { idleWarningSeconds: 0, idleEndSeconds: 1.5 },
        },
        { id: 'c', camera: 'demo', locale: 'en-US', locales: [], keypad: { keys: {} } },
      ],
    }),
  );
  const text = problemsOf({ SIGHTLINE_CHECKOUT_CATALOG_FILE: catalog, SIGHTLINE_CHECKOUT_LANES_FILE: lanes }).join('\n');
  for (const expected of [
    /lanes\.0\.keypad\.keys\.kp5: unknown key name "kp5" \(did you mean "KP5"\?\)/,
    /lanes\.0\.keypad\.keys\.KP1/,
    /lanes\.1\.keypad\.keys: binds at most 40 keys/,
    /lanes\.1\.overrides\.idleWarningSeconds/,
    /lanes\.1\.overrides\.idleEndSeconds/,
    /lanes\.2\.locales/,
    /lanes\.2\.keypad\.device/,
  ]) {
    assert.match(text, expected);
  }
  // Once the file is well-formed, the lanes are checked against the catalog, the voice and each other.
  const crossed = writeTemp(
    t,
    'crossed.yaml',
    `
lanes:
  - { id: a, camera: demo, locale: en-US, locales: [de-DE, fr-FR, de-DE], keypad: { device: /dev/input/k } }
  - { id: b, camera: demo, locale: de-DE, keypad: { device: /dev/input/../input/k } }
`,
  );
  const problems = problemsOf({ SIGHTLINE_CHECKOUT_CATALOG_FILE: catalog, SIGHTLINE_CHECKOUT_LANES_FILE: crossed });
  assert.deepEqual(
    problems.map((p) => p.replace(/^.*?: lanes\./, 'lanes.')),
    [
      'lanes.0.locales: must include the lane locale en-US',
      'lanes.0.locales.2: de-DE is listed twice',
      'lanes.0.locales.0: de-DE has no sentences to speak (supported: en-US, es-ES, fr-FR)',
      'lanes.0.locales.1: fr-FR is not one of the catalog locales (en-US, de-DE)',
      'lanes.0.locales.2: de-DE has no sentences to speak (supported: en-US, es-ES, fr-FR)',
      'lanes.1.locale: de-DE has no sentences to speak (supported: en-US, es-ES, fr-FR)',
      'lanes.1.keypad.device: /dev/input/k is already the keypad of lanes.0',
    ],
  );
  assert.match(problemsOf({ SIGHTLINE_CHECKOUT_IDLE_WARNING_SECONDS: '0' }).join('\n'), /SIGHTLINE_CHECKOUT_IDLE_WARNING_SECONDS/);
});
