import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '@sightline/kit';
import { loadAlertConfig } from '../src/config.ts';
import { tempDir } from './helpers.ts';

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('expected the configuration to be refused');
}

test('no rules file: the default rules, port 8087, data in <data dir>/alert', (t) => {
  const dir = tempDir(t);
  const config = loadAlertConfig({ SIGHTLINE_DATA_DIR: dir }, dir);
  assert.equal(config.http.port, 8087);
  assert.equal(config.dataDir, path.join(dir, 'alert'));
  assert.equal(config.rulesSource, 'defaults');
  const byType = Object.fromEntries(config.rules.map((r) => [r.type, r]));
  assert.deepEqual(Object.keys(byType).sort(), [
    'camera-offline',
    'images-evicted',
    'low-confidence-scan',
    'model-drift',
    'service-offline',
    'unknown-item',
    'weight-mismatch',
  ]);
  assert.equal((byType['camera-offline'] as { offlineSeconds: number }).offlineSeconds, 30);
  assert.equal((byType['low-confidence-scan'] as { below: number }).below, 0.35);
  assert.deepEqual([(byType['model-drift'] as { window: number }).window, (byType['model-drift'] as { margin: number }).margin], [20, 0.15]);
  assert.equal(config.retentionDays, 30);
});

test('a valid YAML rules file is read with defaults filled in', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'rules.yaml');
  writeFileSync(
    file,
    [
      'rules:',
      '  - id: door',
      '    type: person-in-zone',
      '    camera: cam1',
      '    severity: critical',
      '    zone: [[0.1, 0.1], [0.9, 0.1], {x: 0.5, y: 0.9}]',
      '  - id: w',
      '    type: weight-mismatch',
      '    lane: lane-1',
    ].join('\n'),
  );
  const config = loadAlertConfig({ SIGHTLINE_ALERT_RULES_FILE: file, SIGHTLINE_DATA_DIR: dir }, dir);
  assert.equal(config.rules.length, 2);
  const door = config.rules[0]!;
  assert.equal(door.type, 'person-in-zone');
  if (door.type !== 'person-in-zone') return;
  assert.deepEqual(door.labels, ['person']);
  assert.deepEqual(door.zone[2], { x: 0.5, y: 0.9 });
  assert.equal(door.minScore, 0.5);
});

test('a bad rules file is refused with every problem and its place', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'rules.json');
  writeFileSync(
    file,
    JSON.stringify({
      rules: [
        {
          id: 'door',
          type: 'person-in-zone',
          camera: 'cam1',
          zone: [
            [0.1, 0.1],
            [0.9, 0.1],
          ],
        },
        {
          id: 'far',
          type: 'person-in-zone',
          camera: 'cam1',
          zone: [
            [0.1, 0.1],
            [1.5, 0.1],
            [0.5, -0.2],
          ],
        },
        { id: 'door', type: 'weight-mismatch', severity: 'loud' },
        { id: 'x', type: 'teleport' },
        { id: 'low', type: 'low-confidence-scan', below: 2, colour: 'red' },
        { id: 'bad id!', type: 'service-offline' },
        {
          id: 'line',
          type: 'person-in-zone',
          camera: 'cam1',
          zone: [
            [0, 0],
            [0.5, 0.5],
            [1, 1],
          ],
        },
      ],
    }),
  );
  const problems = problemsOf(() => loadAlertConfig({ SIGHTLINE_ALERT_RULES_FILE: file }, dir));
  const text = problems.join('\n');
  assert.match(text, /rules\.0\.zone: .*at least 3 points/);
  assert.match(text, /rules\.1\.zone\.1/);
  assert.match(text, /rules\.1\.zone\.2/);
  // The same zone rule as checkout's: a zone must enclose an area.
  assert.match(text, /rules\.6\.zone: encloses no area/);
  assert.match(text, /rules\.2\.severity/);
  assert.match(text, /rules\.3\.type/);
  assert.match(text, /rules\.4\.below/);
  assert.match(text, /rules\.4.*colour/);
  assert.match(text, /rules\.5\.id/);
  assert.ok(
    problems.every((p) => p.includes(file)),
    'each problem names the file',
  );
});

test('duplicate rule ids are refused', (t) => {
  const dir = tempDir(t);
  writeFileSync(path.join(dir, 'rules.yaml'), 'rules:\n  - {id: a, type: weight-mismatch}\n  - {id: a, type: unknown-item}\n');
  assert.match(problemsOf(() => loadAlertConfig({ SIGHTLINE_ALERT_RULES_FILE: 'rules.yaml' }, dir)).join('\n'), /rules\.1\.id: duplicate rule id a/);
});

test('empty, corrupt, missing, oversized and hostile rules files are refused', (t) => {
  const dir = tempDir(t);
  const cases: Array<[string, string | Buffer, RegExp]> = [
    ['empty.yaml', '', /is empty/],
    ['corrupt.json', '{"rules": [', /not valid JSON/],
    ['corrupt.yaml', 'rules: [\n  - {id: a', /not valid YAML/],
    ['big.yaml', Buffer.alloc(300 * 1024, 'a'), /larger than/],
    [
      'bombs.yaml',
      'a: &a [1,2,3,4,5,6,7,8,9]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]',
      /alias|YAML/i,
    ],
    ['list.json', '[1, 2]', /\(top level\)/],
  ];
  for (const [name, content, expected] of cases) {
    writeFileSync(path.join(dir, name), content);
    const problems = problemsOf(() => loadAlertConfig({ SIGHTLINE_ALERT_RULES_FILE: name }, dir));
    assert.match(problems.join('\n'), expected, name);
  }
  assert.match(problemsOf(() => loadAlertConfig({ SIGHTLINE_ALERT_RULES_FILE: 'missing.yaml' }, dir)).join('\n'), /does not exist/);
});

test('bad and unknown environment settings are all reported', () => {
  const problems = problemsOf(() =>
    loadAlertConfig({
      SIGHTLINE_ALERT_HTTP_PORT: 'x',
      SIGHTLINE_ALERT_RETENTION_DAYS: '-1',
      SIGHTLINE_ALERT_COLOUR: 'red',
      SIGHTLINE_ALERT_MQTT_CLIENT_ID: 'a/b',
    }),
  );
  assert.equal(problems.length, 4, problems.join('\n'));
});

test('subject bounds: defaults, lists, and more open alerts than rows refused', () => {
  const config = loadAlertConfig({ SIGHTLINE_ALERT_CAMERAS: 'front,back, front', SIGHTLINE_ALERT_SERVICES: 'azurite' });
  assert.deepEqual(config.limits, {
    cameras: ['front', 'back'],
    lanes: null,
    services: ['azurite'],
    maxCameras: 64,
    maxLanes: 64,
    forgetMs: 3_600_000,
    maxOpen: 1000,
    maxDriftStates: 4096,
  });
  assert.match(
    problemsOf(() => loadAlertConfig({ SIGHTLINE_ALERT_MAX_OPEN: '500', SIGHTLINE_ALERT_MAX_ROWS: '100' })).join('\n'),
    /SIGHTLINE_ALERT_MAX_OPEN: must not be above SIGHTLINE_ALERT_MAX_ROWS/,
  );
  assert.match(problemsOf(() => loadAlertConfig({ SIGHTLINE_ALERT_LANES: 'a b' })).join('\n'), /SIGHTLINE_ALERT_LANES/);
});
