import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  channels,
  decodeFrame,
  encodeFrame,
  FRAME_COMMENT_TAG,
  isCompleteJpeg,
  MAX_FRAME_BYTES,
  MAX_JPEG_SEGMENTS,
  PayloadError,
  readJpegHeader,
} from '../src/index.ts';

/** A real 64x48 JPEG from ffmpeg, with its JFIF APP0 header. */
function ffmpegJpeg(): Buffer {
  return execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=64x48', '-frames:v', '1', '-f', 'mjpeg', 'pipe:1']);
}

const meta = { camera: 'lane-1', seq: 7, capturedAt: 1_795_000_000_123, width: 64, height: 48 };

function fault(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof PayloadError, `expected a PayloadError, got ${String(err)}`);
    return err.fault;
  }
  assert.fail('expected a PayloadError');
}

test('a stamped frame round-trips its metadata and stays a JPEG ffmpeg decodes to the same size', () => {
  const jpeg = ffmpegJpeg();
  const frame = encodeFrame(jpeg, meta);
  assert.deepEqual(decodeFrame(frame).meta, meta);
  const dir = mkdtempSync(join(tmpdir(), 'frame-'));
  writeFileSync(join(dir, 'f.jpg'), frame);
  const probe = execFileSync('ffmpeg', ['-v', 'error', '-i', join(dir, 'f.jpg'), '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1']);
  assert.equal(probe.length, 64 * 48, 'ffmpeg decodes the stamped JPEG to 64x48 pixels');
});

test('the comment goes after the JFIF APP0 header, and restamping replaces it instead of stacking', () => {
  const jpeg = ffmpegJpeg();
  assert.equal(jpeg[3], 0xe0, 'ffmpeg output starts with APP0');
  const once = encodeFrame(jpeg, meta);
  assert.equal(once[3], 0xe0, 'APP0 still first');
  const twice = encodeFrame(once, { ...meta, seq: 8 });
  assert.equal(decodeFrame(twice).meta.seq, 8);
  assert.equal(twice.length, once.length, 'one comment, not two');
  const tag = Buffer.from(FRAME_COMMENT_TAG);
  assert.equal(twice.indexOf(tag), twice.lastIndexOf(tag));
});

test('the channel example is a complete JPEG with metadata', () => {
  const bytes = channels.frame.codec.encode(channels.frame.example);
  assert.ok(isCompleteJpeg(bytes));
  assert.equal(decodeFrame(bytes).meta.camera, 'demo');
});

test('empty, oversize, non-JPEG, truncated and corrupt payloads are refused with the reason', () => {
  const frame = encodeFrame(ffmpegJpeg(), meta);
  assert.equal(
    fault(() => decodeFrame(Buffer.alloc(0))),
    'empty',
  );
  assert.equal(
    fault(() => decodeFrame(Buffer.alloc(MAX_FRAME_BYTES + 1, 0xff))),
    'oversize',
  );
  assert.equal(
    fault(() => decodeFrame(Buffer.from('{"camera":"x"}'))),
    'not-jpeg',
  );
  assert.equal(
    fault(() => decodeFrame(frame.subarray(0, frame.length - 100))),
    'not-jpeg',
  );
  const lying = Buffer.from(frame);
  lying.writeUInt16BE(0xfff0, 4); // APP0 claims to run far past the end
  assert.equal(
    fault(() => decodeFrame(lying)),
    'not-jpeg',
  );
  assert.equal(
    fault(() => decodeFrame(Buffer.from([0xff, 0xd8, 0xff, 0xd9]))),
    'not-jpeg',
  );
});

test('a JPEG without our comment, or with a hostile one, is refused', () => {
  const jpeg = ffmpegJpeg();
  assert.equal(
    fault(() => decodeFrame(jpeg)),
    'no-metadata',
  );
  const withComment = (text: string) => {
    const body = Buffer.from(FRAME_COMMENT_TAG + text);
    const com = Buffer.concat([Buffer.from([0xff, 0xfe, 0, 0]), body]);
    com.writeUInt16BE(body.length + 2, 2);
    return Buffer.concat([jpeg.subarray(0, 2), com, jpeg.subarray(2)]);
  };
  assert.equal(
    fault(() => decodeFrame(withComment('{not json'))),
    'no-metadata',
  );
  assert.equal(
    fault(() => decodeFrame(withComment('{"camera":"a/#","seq":1,"capturedAt":1}'))),
    'invalid',
  );
  assert.equal(
    fault(() => decodeFrame(withComment('{"camera":"a","seq":-1,"capturedAt":1}'))),
    'invalid',
  );
  assert.equal(
    fault(() => decodeFrame(withComment('{"camera":"a","seq":1,"capturedAt":1,"__proto__":{"x":1},"extra":true}'))),
    'invalid',
  );
});

test('the JPEG header is read in one walk: size from the SOF, where the scan starts, whether Exif may rotate it', () => {
  const jpeg = ffmpegJpeg();
  const header = readJpegHeader(jpeg);
  assert.equal(header.width, 64);
  assert.equal(header.height, 48);
  assert.equal(header.exif, false);
  assert.deepEqual(jpeg.subarray(header.scanStart - 14, header.scanStart - 12), Buffer.from([0xff, 0xda]), 'the scan starts just past the SOS segment');
  assert.equal(header.segments[0]!.marker, 0xe0);
  assert.equal(header.segments.at(-1)!.marker, 0xda);
  // An APP1 (Exif) segment is flagged: its orientation may turn the image, so its size is not final.
  const app1 = Buffer.concat([Buffer.from([0xff, 0xe1, 0, 8]), Buffer.from('Exif\0\0')]);
  assert.equal(readJpegHeader(Buffer.concat([jpeg.subarray(0, 2), app1, jpeg.subarray(2)])).exif, true);
  // A standalone marker in the headers (legal, if rare) is a 2-byte segment, copied as it is.
  const withTem = Buffer.concat([jpeg.subarray(0, 2), Buffer.from([0xff, 0x01]), jpeg.subarray(2)]);
  assert.deepEqual(readJpegHeader(withTem).segments[0], { marker: 0x01, start: 2, end: 4 });
  assert.equal(decodeFrame(encodeFrame(withTem, meta)).meta.seq, meta.seq);
  assert.equal(
    fault(() => readJpegHeader(jpeg.subarray(0, 10))),
    'not-jpeg',
  );
  const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
  const noSof = Buffer.concat([jpeg.subarray(0, sof), jpeg.subarray(sof + 2 + jpeg.readUInt16BE(sof + 2))]);
  assert.throws(() => readJpegHeader(noSof), /no frame header \(SOF\)/);
});

test('a frame of many tiny header segments is refused past the cap, before it costs a subscriber', () => {
  const jpeg = encodeFrame(ffmpegJpeg(), meta);
  const tiny = Buffer.alloc(4 * MAX_JPEG_SEGMENTS, 0);
  for (let i = 0; i < MAX_JPEG_SEGMENTS; i++) tiny.set([0xff, 0xfe, 0, 2], i * 4);
  assert.equal(
    fault(() => decodeFrame(Buffer.concat([jpeg.subarray(0, 2), tiny, jpeg.subarray(2)]))),
    'not-jpeg',
  );
  assert.equal(decodeFrame(Buffer.concat([jpeg.subarray(0, 2), tiny.subarray(0, 4 * 100), jpeg.subarray(2)])).meta.seq, meta.seq);
});

test('decodeFrame returns the header of what it read, and a header handed to encodeFrame spares it a second walk', () => {
  const jpeg = ffmpegJpeg();
  const header = readJpegHeader(jpeg);
  let reads = 0;
  const counted = Buffer.from(jpeg);
  const read = counted.readUInt16BE.bind(counted);
  counted.readUInt16BE = (offset?: number) => {
    reads += 1;
    return read(offset);
  };
  const stamped = encodeFrame(counted, meta, header);
  assert.equal(reads, 0, 'no segment length read again');
  assert.ok(stamped.equals(encodeFrame(jpeg, meta)), 'byte for byte the frame a walk would have stamped');
  const decoded = decodeFrame(stamped);
  assert.deepEqual(decoded.header, readJpegHeader(stamped));
  assert.equal(decoded.header.width, 64);
  assert.equal(stamped.readUInt16BE(decoded.header.scanStart - 14), 0xffda, 'the scan starts past the 14-byte SOS segment');
});

test('encoding refuses metadata that would not decode', () => {
  assert.throws(() => encodeFrame(ffmpegJpeg(), { ...meta, camera: 'bad camera' }));
  assert.throws(() => encodeFrame(Buffer.from('not a jpeg'), meta), PayloadError);
});
