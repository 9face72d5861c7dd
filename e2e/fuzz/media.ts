import { buildWav, channels, FRAME_COMMENT_TAG } from '@sightline/schemas';
import type { Random } from './random.ts';

/**
 * JPEGs and WAVs as the frame and audio channels carry them, built byte by byte so the metadata
 * inside can be anything (the schema codecs refuse to write hostile metadata), plus corrupt ones.
 */

/** The frame channel's example: a complete 1x1 JPEG. */
export const TINY_JPEG: Buffer = channels.frame.example.jpeg;

const MAX_SEGMENT = 65535;

function segment(marker: number, body: Buffer, declared = body.length + 2): Buffer {
  const head = Buffer.alloc(4);
  head[0] = 0xff;
  head[1] = marker;
  head.writeUInt16BE(Math.min(declared, MAX_SEGMENT), 2);
  return Buffer.concat([head, body]);
}

/**
 * A JPEG carrying `metaText` in its Sightline comment, padded with APP15 segments of random bytes
 * to about `size` bytes (a frame that is big on the wire but cheap to decode). Metadata longer
 * than a segment can hold is written with a length that does not fit: a corrupt JPEG.
 */
export function frameJpeg(metaText: string, random: Random, size = 0): Buffer {
  const text = Buffer.from(FRAME_COMMENT_TAG + metaText, 'utf8');
  const comment = text.length + 2 <= MAX_SEGMENT ? segment(0xfe, text) : segment(0xfe, text, MAX_SEGMENT);
  const parts: Buffer[] = [TINY_JPEG.subarray(0, 2), comment];
  let total = TINY_JPEG.length + comment.length;
  while (total < size) {
    const n = Math.min(MAX_SEGMENT - 2, size - total);
    parts.push(segment(0xef, random.bytes(n)));
    total += n + 4;
  }
  parts.push(TINY_JPEG.subarray(2));
  return Buffer.concat(parts);
}

function sofOffset(jpeg: Buffer): number {
  for (let i = 2; i + 9 < jpeg.length; i++) {
    if (jpeg[i] === 0xff && (jpeg[i + 1] === 0xc0 || jpeg[i + 1] === 0xc2)) return i;
  }
  return -1;
}

/** Corrupt variants of a valid frame or image. Each keeps enough structure to get past a first glance. */
export function corruptJpegs(valid: Buffer, random: Random): Array<{ name: string; bytes: Buffer }> {
  const bomb = Buffer.from(valid);
  const sof = sofOffset(bomb);
  if (sof >= 0) {
    bomb.writeUInt16BE(65500, sof + 5); // height
    bomb.writeUInt16BE(65500, sof + 7); // width: 4.3 gigapixels announced
  }
  const longSegment = Buffer.from(valid);
  longSegment.writeUInt16BE(0xffff, 4);
  const shortSegment = Buffer.from(valid);
  shortSegment.writeUInt16BE(1, 4);
  return [
    { name: 'empty', bytes: Buffer.alloc(0) },
    { name: 'soi-only', bytes: Buffer.from([0xff, 0xd8]) },
    { name: 'soi-eoi', bytes: Buffer.from([0xff, 0xd8, 0xff, 0xd9]) },
    { name: 'truncated', bytes: valid.subarray(0, Math.floor(valid.length / 2)) },
    { name: 'no-eoi', bytes: valid.subarray(0, valid.length - 2) },
    { name: 'no-soi', bytes: valid.subarray(2) },
    { name: 'segment-past-end', bytes: longSegment },
    { name: 'segment-length-1', bytes: shortSegment },
    { name: 'gigapixel-header', bytes: bomb },
    { name: 'random-body', bytes: Buffer.concat([Buffer.from([0xff, 0xd8]), random.bytes(4096), Buffer.from([0xff, 0xd9])]) },
    { name: 'fill-bytes', bytes: Buffer.concat([Buffer.from([0xff, 0xd8]), Buffer.alloc(1024 * 1024, 0xff), Buffer.from([0xff, 0xd9])]) },
    { name: 'flipped-bits', bytes: Buffer.from(valid).map((b, i) => (i > 20 && random.chance(0.02) ? b ^ 0xff : b)) as Buffer },
    { name: 'random', bytes: random.bytes(2048) },
  ];
}

/** 16-bit mono silence of `ms` at 22.05 kHz. */
export function silence(ms: number): Buffer {
  return Buffer.alloc(Math.floor((22050 * ms) / 1000) * 2);
}

/** A WAV as the audio channel carries it, with `metaText` in its slmd chunk, about `size` bytes of audio. */
export function audioWav(metaText: string | undefined, size = 4410): Buffer {
  return buildWav(Buffer.alloc(size - (size % 2)), { sampleRate: 22050, channels: 1 }, metaText);
}

/** Corrupt WAVs around valid metadata. */
export function corruptWavs(metaText: string): Array<{ name: string; bytes: Buffer }> {
  const valid = audioWav(metaText);
  const riffTooLong = Buffer.from(valid);
  riffTooLong.writeUInt32LE(0xfffffff0, 4);
  const dataTooLong = Buffer.from(valid);
  dataTooLong.writeUInt32LE(0xffffffff, 40);
  const fmt = (edit: (b: Buffer) => void) => {
    const b = Buffer.from(valid);
    edit(b);
    return b;
  };
  const manyChunks: Buffer[] = [valid.subarray(0, 36)];
  for (let i = 0; i < 50_000; i++) manyChunks.push(Buffer.from('junk\u0000\u0000\u0000\u0000', 'latin1'));
  manyChunks.push(valid.subarray(36));
  const many = Buffer.concat(manyChunks);
  many.writeUInt32LE(many.length - 8, 4);
  const header = valid.subarray(0, 12);
  const fmtChunk = valid.subarray(12, 36);
  const rest = valid.subarray(36);
  return [
    { name: 'riff-only', bytes: Buffer.from('RIFF\u0004\u0000\u0000\u0000WAVE', 'latin1') },
    { name: 'riff-size-lies', bytes: riffTooLong },
    { name: 'data-size-lies', bytes: dataTooLong },
    { name: 'zero-channels', bytes: fmt((b) => b.writeUInt16LE(0, 22)) },
    { name: 'zero-hz', bytes: fmt((b) => b.writeUInt32LE(0, 24)) },
    { name: 'four-gigahertz', bytes: fmt((b) => b.writeUInt32LE(0xffffffff, 24)) },
    { name: 'float-samples', bytes: fmt((b) => b.writeUInt16LE(3, 20)) },
    { name: 'eight-bit', bytes: fmt((b) => b.writeUInt16LE(8, 34)) },
    { name: 'data-before-fmt', bytes: Buffer.concat([header, rest, fmtChunk]) },
    { name: 'no-metadata', bytes: audioWav(undefined) },
    { name: 'metadata-not-json', bytes: audioWav('{"id": ') },
    { name: 'odd-data', bytes: buildWav(Buffer.alloc(4411), { sampleRate: 22050, channels: 1 }, metaText) },
    { name: 'fifty-thousand-chunks', bytes: many },
    { name: 'not-riff', bytes: Buffer.from('RIFX\u0000\u0000\u0000\u0000WAVEfmt ', 'latin1') },
  ];
}
