import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { encodeFrame, readJpegHeader, type JpegHeader } from '@sightline/schemas';
import { JpegSplitter, type SplitterDropReason } from '../src/jpeg-splitter.ts';
import { ffmpegOutput, ffmpegRun, SYSTEM_FFMPEG } from './helpers.ts';

let stream: Buffer;
let frames: Buffer[];

before(async () => {
  // The same frames twice from real ffmpeg: as one MJPEG pipe stream, and as separate files.
  const input = ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30', '-frames:v', '30', '-c:v', 'mjpeg', '-q:v', '5'];
  stream = await ffmpegOutput(SYSTEM_FFMPEG, [...input, '-f', 'image2pipe', 'pipe:1']);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sightline-splitter-'));
  try {
    const made = await ffmpegRun(SYSTEM_FFMPEG, [...input, '-f', 'image2', path.join(dir, 'f%03d.jpg')]);
    assert.equal(made.code, 0, made.stderr);
    frames = readdirSync(dir)
      .sort()
      .map((f) => readFileSync(path.join(dir, f)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(frames.length, 30);
  assert.deepEqual(Buffer.concat(frames), stream, 'the pipe stream is the files back to back');
});

function collect(maxBytes = 4 * 1024 * 1024) {
  const out: Buffer[] = [];
  const headers: JpegHeader[] = [];
  const drops: Array<{ reason: SplitterDropReason; bytes: number; detail: string }> = [];
  const splitter = new JpegSplitter({
    maxBytes,
    onFrame: (f, header) => {
      out.push(f);
      headers.push(header);
    },
    onDrop: (reason, bytes, detail) => drops.push({ reason, bytes, detail }),
  });
  return { splitter, out, headers, drops };
}

/** A deterministic pseudo-random generator, so a failure can be replayed. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function feedRandomly(splitter: JpegSplitter, bytes: Buffer, random: () => number, maxChunk = 9000): void {
  let i = 0;
  while (i < bytes.length) {
    const n = 1 + Math.floor(random() * maxChunk);
    splitter.push(bytes.subarray(i, i + n));
    i += n;
  }
}

test('real ffmpeg MJPEG output in random chunk sizes (1 byte and up) comes out as the same frames, byte for byte', () => {
  for (const [seed, maxChunk] of [
    [1, 9000],
    [2, 3],
    [3, 70000],
    [4, 1],
  ] as const) {
    const { splitter, out, drops } = collect();
    feedRandomly(splitter, stream, rng(seed), maxChunk);
    splitter.end();
    assert.equal(out.length, frames.length, `seed ${seed}`);
    out.forEach((f, i) => assert.ok(f.equals(frames[i]!), `frame ${i} differs (seed ${seed})`));
    assert.deepEqual(drops, []);
    assert.deepEqual(splitter.stats, { frames: 30, corrupt: 0, oversize: 0, skippedBytes: 0 });
  }
});

test('each frame comes with the header the splitter walked: the same one reading the frame again gives, and it stamps the same bytes', () => {
  const { splitter, out, headers } = collect();
  feedRandomly(splitter, stream, rng(21), 500);
  splitter.end();
  assert.equal(headers.length, frames.length);
  out.forEach((frame, i) => {
    assert.deepEqual(headers[i], readJpegHeader(frame), `frame ${i}`);
    assert.equal(headers[i]!.width, 320);
    assert.equal(headers[i]!.height, 240);
    const meta = { camera: 'cam', seq: i, capturedAt: 1_795_000_000_000 };
    assert.ok(encodeFrame(frame, meta, headers[i]).equals(encodeFrame(frame, meta)), `frame ${i} stamps the same with the splitter's header`);
  });
});

test('a JPEG with no frame header (SOF) before its scan is dropped as corrupt by the splitter, not handed on', () => {
  const frame = frames[2]!;
  const sof = frame.indexOf(Buffer.from([0xff, 0xc0]));
  const noSof = Buffer.concat([frame.subarray(0, sof), frame.subarray(sof + 2 + frame.readUInt16BE(sof + 2))]);
  const { splitter, out, drops } = collect();
  splitter.push(Buffer.concat([noSof, frames[3]!]));
  splitter.end();
  assert.equal(out.length, 1);
  assert.ok(out[0]!.equals(frames[3]!));
  assert.equal(drops.length, 1);
  assert.equal(drops[0]!.reason, 'corrupt');
  assert.match(drops[0]!.detail, /no frame header \(SOF\)/);
});

test('a truncated JPEG is dropped and counted, and the frames around it survive', () => {
  const { splitter, out, drops } = collect();
  const cut = frames[1]!.subarray(0, Math.floor(frames[1]!.length / 2));
  const lastCut = frames[3]!.subarray(0, 500);
  feedRandomly(splitter, Buffer.concat([frames[0]!, cut, frames[2]!, lastCut]), rng(7));
  splitter.end(); // the stream ends inside frame 3
  assert.equal(out.length, 2);
  assert.ok(out[0]!.equals(frames[0]!));
  assert.ok(out[1]!.equals(frames[2]!));
  assert.deepEqual(
    drops.map((d) => d.reason),
    ['corrupt', 'corrupt'],
  );
  assert.equal(splitter.stats.corrupt, 2);
  assert.equal(splitter.stats.skippedBytes, cut.length + lastCut.length);
});

test('garbage between frames is skipped and counted once per run, then the splitter resyncs', () => {
  const random = rng(11);
  // Garbage with 0xFF bytes in it but no FF D8 (so it cannot look like a JPEG start).
  const garbage = Buffer.from(Array.from({ length: 5000 }, () => Math.floor(random() * 256))).map((b, i, all) =>
    i > 0 && all[i - 1] === 0xff && b === 0xd8 ? 0xd7 : b,
  );
  assert.ok(garbage.includes(0xff));
  const { splitter, out, drops } = collect();
  feedRandomly(splitter, Buffer.concat([garbage, frames[0]!, garbage, frames[1]!, Buffer.from([0xff]), frames[2]!]), random, 700);
  splitter.end();
  assert.equal(out.length, 3);
  out.forEach((f, i) => assert.ok(f.equals(frames[i]!)));
  assert.equal(drops.length, 3, 'three runs of garbage');
  assert.ok(drops.every((d) => d.reason === 'corrupt'));
  assert.equal(splitter.stats.skippedBytes, garbage.length * 2 + 1);
});

test('a frame that never ends is dropped at the cap (memory stays bounded) and the next frame comes through', () => {
  const maxBytes = 64 * 1024;
  const { splitter, out, drops } = collect(maxBytes);
  // A real frame's headers up to the start of scan, then scan data that never reaches EOI.
  const header = frames[0]!.subarray(0, frames[0]!.indexOf(Buffer.from([0xff, 0xda])) + 14);
  splitter.push(frames[4]!);
  splitter.push(header);
  const endless = Buffer.alloc(10_000, 0x55);
  let peak = 0;
  for (let i = 0; i < 300; i++) {
    splitter.push(endless);
    peak = Math.max(peak, splitter.capacity, splitter.bufferedBytes);
  }
  assert.ok(peak <= maxBytes + 64 * 1024, `buffer peaked at ${peak} bytes`);
  splitter.push(frames[5]!);
  splitter.end();
  assert.equal(out.length, 2);
  assert.ok(out[0]!.equals(frames[4]!));
  assert.ok(out[1]!.equals(frames[5]!));
  assert.deepEqual(
    drops.map((d) => d.reason),
    ['oversize'],
  );
  assert.equal(splitter.stats.oversize, 1);
  assert.equal(splitter.stats.corrupt, 0, 'the rest of the runaway frame is not counted again as garbage');
});

test('a whole frame bigger than the cap is dropped as oversize', () => {
  const { splitter, out } = collect(frames[0]!.length - 1);
  splitter.push(Buffer.concat([frames[0]!]));
  splitter.end();
  assert.equal(out.length, 0);
  assert.equal(splitter.stats.oversize, 1);
});

test('an embedded thumbnail (FFD8..FFD9 inside an APP1 header) does not split a frame', () => {
  const thumb = frames[7]!;
  const app1 = Buffer.concat([Buffer.from([0xff, 0xe1, 0, 0]), Buffer.from('Exif\0\0'), thumb]);
  app1.writeUInt16BE(app1.length - 2, 2);
  const withThumb = Buffer.concat([frames[6]!.subarray(0, 2), app1, frames[6]!.subarray(2)]);
  const { splitter, out } = collect();
  feedRandomly(splitter, Buffer.concat([withThumb, frames[8]!]), rng(5), 4000);
  splitter.end();
  assert.equal(out.length, 2);
  assert.ok(out[0]!.equals(withThumb));
  assert.ok(out[1]!.equals(frames[8]!));
});
