import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { channels, decodeFrame, encodeFrame, FRAME_COMMENT_TAG, isCompleteJpeg, MAX_FRAME_BYTES, PayloadError } from '../src/index.ts';

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
  assert.equal(fault(() => decodeFrame(Buffer.alloc(0))), 'empty');
  assert.equal(fault(() => decodeFrame(Buffer.alloc(MAX_FRAME_BYTES + 1, 0xff))), 'oversize');
  assert.equal(fault(() => decodeFrame(Buffer.from('{"camera":"x"}'))), 'not-jpeg');
  assert.equal(fault(() => decodeFrame(frame.subarray(0, frame.length - 100))), 'not-jpeg');
  const lying = Buffer.from(frame);
  lying.writeUInt16BE(0xfff0, 4); // APP0 claims to run far past the end
  assert.equal(fault(() => decodeFrame(lying)), 'not-jpeg');
  assert.equal(fault(() => decodeFrame(Buffer.from([0xff, 0xd8, 0xff, 0xd9]))), 'not-jpeg');
});

test('a JPEG without our comment, or with a hostile one, is refused', () => {
  const jpeg = ffmpegJpeg();
  assert.equal(fault(() => decodeFrame(jpeg)), 'no-metadata');
  const withComment = (text: string) => {
    const body = Buffer.from(FRAME_COMMENT_TAG + text);
    const com = Buffer.concat([Buffer.from([0xff, 0xfe, 0, 0]), body]);
    com.writeUInt16BE(body.length + 2, 2);
    return Buffer.concat([jpeg.subarray(0, 2), com, jpeg.subarray(2)]);
  };
  assert.equal(fault(() => decodeFrame(withComment('{not json'))), 'no-metadata');
  assert.equal(fault(() => decodeFrame(withComment('{"camera":"a/#","seq":1,"capturedAt":1}'))), 'invalid');
  assert.equal(fault(() => decodeFrame(withComment('{"camera":"a","seq":-1,"capturedAt":1}'))), 'invalid');
  assert.equal(fault(() => decodeFrame(withComment('{"camera":"a","seq":1,"capturedAt":1,"__proto__":{"x":1},"extra":true}'))), 'invalid');
});

test('encoding refuses metadata that would not decode', () => {
  assert.throws(() => encodeFrame(ffmpegJpeg(), { ...meta, camera: 'bad camera' }));
  assert.throws(() => encodeFrame(Buffer.from('not a jpeg'), meta), PayloadError);
});
