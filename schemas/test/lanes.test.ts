import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildWav, catalogSchema, channels, checkPcm, MAX_WAV_BYTES, parseWav, PayloadError, pcmDurationMs, type Catalog, type Speech } from '../src/index.ts';

const speech: Speech = {
  id: 'utt-1',
  lane: 'lane-1',
  at: 1795000000620,
  source: { kind: 'scan', id: 'scan-1', at: 1795000000500 },
  text: 'Escaneaste un plátano, 0,42 kilogramos, 83 céntimos.',
  locale: 'es-ES',
  provider: 'espeak',
  voice: 'es',
  cached: false,
  synthMs: 96,
  durationMs: 100,
  interruptible: true,
};

function tone(samples: number): Buffer {
  const pcm = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) pcm.writeInt16LE(Math.round(8000 * Math.sin(i / 5)), i * 2);
  return pcm;
}

function faultOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof PayloadError, `expected a PayloadError, got ${String(err)}`);
    return `${err.fault}: ${err.message}`;
  }
  assert.fail('expected a PayloadError');
}

test('a WAV built with metadata parses back to the same samples, format and metadata', () => {
  const pcm = tone(2205);
  const wav = buildWav(pcm, { sampleRate: 22050, channels: 1 }, '{"a":"ü"}');
  const parsed = parseWav(wav);
  assert.deepEqual(parsed.pcm.format, { sampleRate: 22050, channels: 1 });
  assert.ok(parsed.pcm.samples.equals(pcm));
  assert.equal(pcmDurationMs(parsed.pcm), 100);
  assert.equal(parsed.metadata, '{"a":"ü"}');
  // Players read the standard 44-byte header: the data chunk starts where they expect it.
  assert.equal(wav.toString('latin1', 36, 40), 'data');
  assert.equal(wav.readUInt32LE(40), pcm.length);
});

test('the audio channel carries speech metadata inside a plain WAV, both ways: PCM in, PCM out', () => {
  const pcm = { samples: tone(2205), format: { sampleRate: 22050, channels: 1 } };
  const payload = channels.audio.codec.encode({ meta: speech, pcm });
  // The wire format is a plain WAV with the metadata chunk after the data, as before.
  assert.ok(payload.equals(buildWav(pcm.samples, pcm.format, JSON.stringify(speech))));
  const decoded = channels.audio.codec.decode(payload);
  assert.deepEqual(decoded.meta, speech);
  assert.deepEqual(decoded.pcm.format, pcm.format);
  assert.ok(decoded.pcm.samples.equals(pcm.samples));
  // Decoding does not copy the samples: they are a view into the payload.
  assert.equal(decoded.pcm.samples.buffer, payload.buffer);
});

test('audio that could not be played is refused when published, with the reason', () => {
  const samples = tone(10);
  assert.match(
    faultOf(() => channels.audio.codec.encode({ meta: speech, pcm: { samples, format: { sampleRate: 96000, channels: 1 } } })),
    /^invalid: unsupported audio: 96000 Hz/,
  );
  assert.match(
    faultOf(() => channels.audio.codec.encode({ meta: speech, pcm: { samples, format: { sampleRate: 16000, channels: 3 } } })),
    /^invalid: unsupported audio: 3 channels/,
  );
  assert.match(
    faultOf(() => channels.audio.codec.encode({ meta: speech, pcm: { samples: samples.subarray(1), format: { sampleRate: 16000, channels: 1 } } })),
    /samples end inside a sample/,
  );
  assert.match(
    faultOf(() => checkPcm({ samples: tone(3), format: { sampleRate: 16000, channels: 2 } })),
    /samples end inside a sample/,
  );
});

test('audio payloads that are not usable WAVs are refused with the reason', () => {
  const good = channels.audio.codec.encode({ meta: speech, pcm: { samples: tone(100), format: { sampleRate: 16000, channels: 1 } } });
  assert.match(
    faultOf(() => channels.audio.codec.decode(Buffer.alloc(0))),
    /^empty/,
  );
  assert.match(
    faultOf(() => channels.audio.codec.decode(Buffer.from('{"text":"hello"}'))),
    /^not-wav: not a WAV/,
  );
  assert.match(
    faultOf(() => channels.audio.codec.decode(good.subarray(0, good.length - 40))),
    /^not-wav: truncated WAV/,
  );
  assert.match(
    faultOf(() => channels.audio.codec.decode(Buffer.alloc(MAX_WAV_BYTES + 1))),
    /^oversize/,
  );
  assert.match(
    faultOf(() => channels.audio.codec.decode(buildWav(tone(10), { sampleRate: 16000, channels: 1 }))),
    /^no-metadata/,
  );
  assert.match(
    faultOf(() => channels.audio.codec.decode(buildWav(tone(10), { sampleRate: 16000, channels: 1 }, '{"text":1}'))),
    /^invalid/,
  );
  assert.match(
    faultOf(() => channels.audio.codec.decode(buildWav(tone(10), { sampleRate: 16000, channels: 1 }, 'not json'))),
    /^no-metadata/,
  );

  const eightBit = Buffer.from(good);
  eightBit.writeUInt16LE(8, 34);
  assert.match(
    faultOf(() => parseWav(eightBit)),
    /8-bit samples/,
  );
  const fast = Buffer.from(good);
  fast.writeUInt32LE(96000, 24);
  assert.match(
    faultOf(() => parseWav(fast)),
    /96000 Hz/,
  );
  const float = Buffer.from(good);
  float.writeUInt16LE(3, 20);
  assert.match(
    faultOf(() => parseWav(float)),
    /audio format 3/,
  );
  // A chunk that claims to be larger than the file must not be read past the end.
  const lying = Buffer.from(good);
  lying.writeUInt32LE(0x7fffffff, 40);
  assert.match(
    faultOf(() => parseWav(lying)),
    /runs past the end/,
  );
});

test('hostile metadata text (markup, oversize) is refused by the speech schema', () => {
  const pcm = { samples: tone(10), format: { sampleRate: 16000, channels: 1 } };
  assert.throws(() => channels.audio.codec.encode({ meta: { ...speech, text: '<speak>x</speak>' }, pcm }));
  assert.throws(() => channels.audio.codec.encode({ meta: { ...speech, text: 'a'.repeat(10_000) }, pcm }));
});

const catalog: Catalog = {
  currency: 'USD',
  locales: ['en-US', 'es-ES'],
  products: [
    {
      sku: 'BANANA',
      labels: ['banana'],
      name: { 'en-US': 'Bananas', 'es-ES': 'Plátanos' },
      spoken: { 'en-US': { one: 'banana' } },
      price: { per: 'kg', minor: 199 },
      weight: { min: 100, max: 250 },
    },
    {
      sku: 'WATER-500',
      labels: ['bottle'],
      name: { 'en-US': 'Water 500 ml', 'es-ES': 'Agua 500 ml' },
      price: { per: 'unit', minor: 89 },
      weight: { min: 500, max: 560 },
    },
  ],
};

test('a good catalog passes', () => {
  assert.deepEqual(catalogSchema.parse(catalog), catalog);
});

test('a bad catalog reports every problem at once, each with its place', () => {
  const bad = {
    currency: 'XYZ',
    locales: ['en-US', 'english'],
    products: [
      { ...catalog.products[0], sku: 'BANANA', name: { 'en-US': 'Bananas' } },
      { ...catalog.products[1], sku: 'BANANA', labels: ['Banana'], weight: { min: 600, max: 500 }, price: { per: 'unit', minor: 0.5 } },
      { ...catalog.products[1], sku: 'EVIL', labels: ['evil'], name: { 'en-US': '<speak>x</speak>', 'es-ES': 'x' } },
    ],
  };
  const result = catalogSchema.safeParse(bad);
  assert.equal(result.success, false);
  const issues = result.error!.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
  const expect = [
    /^currency: must be an ISO 4217/,
    /^locales\.1: must be a locale/,
    /^products\.1\.weight: min must not exceed max/,
    /^products\.1\.price\.minor: /,
    /^products\.2\.name\.en-US: must be plain text/,
  ];
  for (const pattern of expect)
    assert.ok(
      issues.some((line) => pattern.test(line)),
      `${pattern} in\n${issues.join('\n')}`,
    );
});

test('catalog cross-checks: duplicate skus, a label claimed twice, a missing locale name', () => {
  const bad = {
    ...catalog,
    products: [
      catalog.products[0],
      { ...catalog.products[1], sku: 'BANANA', labels: ['Banana'] },
      { ...catalog.products[1], sku: 'CUP', labels: ['cup'], name: { 'en-US': 'Cup' } },
    ],
  };
  const result = catalogSchema.safeParse(bad);
  assert.equal(result.success, false);
  const issues = result.error!.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
  assert.ok(
    issues.some((line) => /^products\.1\.sku: duplicate sku "BANANA" \(also products\[0\]\)/.test(line)),
    issues.join('\n'),
  );
  assert.ok(
    issues.some((line) => /^products\.1\.labels\.0: label "Banana" already belongs to products\[0\]/.test(line)),
    issues.join('\n'),
  );
  assert.ok(
    issues.some((line) => /^products\.2\.name: no display name for locale es-ES/.test(line)),
    issues.join('\n'),
  );
});

test('scale readings below zero or beyond any scale are refused with a reason', () => {
  const codec = channels.weight.codec;
  assert.equal(codec.decode(Buffer.from('{"grams":182.5}')).grams, 182.5);
  assert.match(
    faultOf(() => codec.decode(Buffer.from('{"grams":-3}'))),
    /zero \(tare\) it/,
  );
  assert.match(
    faultOf(() => codec.decode(Buffer.from('{"grams":1e9}'))),
    /beyond any checkout scale/,
  );
  assert.match(
    faultOf(() => codec.decode(Buffer.from('{"grams":"12"}'))),
    /^invalid/,
  );
  assert.match(
    faultOf(() => codec.decode(Buffer.from('{"grams":1,"tare":true}'))),
    /^invalid/,
  );
});

test('lane events are told apart by type, and an unknown type is refused', () => {
  const codec = channels.laneEvent.codec;
  const event = { id: 'ev-1', lane: 'lane-1', locale: 'en-US', at: 1, type: 'trouble', problem: 'camera-offline', state: 'begin' };
  assert.deepEqual(codec.decode(Buffer.from(JSON.stringify(event))), event);
  assert.match(
    faultOf(() => codec.decode(Buffer.from(JSON.stringify({ ...event, type: 'explode' })))),
    /^invalid/,
  );
  assert.match(
    faultOf(() => codec.decode(Buffer.from(JSON.stringify({ ...event, problem: 'gremlins' })))),
    /^invalid/,
  );
});

test('alert events carry a whole alert with its stable id; bad ones are refused', () => {
  const codec = channels.alerts.codec;
  const event = channels.alerts.example;
  assert.deepEqual(codec.decode(codec.encode(event)), event);
  const bad = (patch: object) => Buffer.from(JSON.stringify({ ...event, alert: { ...event.alert, ...patch } }));
  assert.match(
    faultOf(() => codec.decode(bad({ id: '../../etc' }))),
    /^invalid/,
  );
  assert.match(
    faultOf(() => codec.decode(bad({ severity: 'apocalyptic' }))),
    /^invalid/,
  );
  assert.match(
    faultOf(() => codec.decode(bad({ count: 0 }))),
    /^invalid/,
  );
  assert.match(
    faultOf(() => codec.decode(bad({ message: '<script>alert(1)</script>' }))),
    /^invalid/,
  );
  assert.match(
    faultOf(() => codec.decode(Buffer.from(JSON.stringify({ ...event, type: 'explode' })))),
    /^invalid/,
  );
});
