import { z } from 'zod';
import { PayloadError } from './errors.ts';
import { epochMsSchema, pixelsSchema, seqSchema } from './bounds.ts';
import { idSchema } from './ids.ts';

/**
 * A frame travels as a plain JPEG so any MQTT image viewer can show it. Who took it, when and in
 * which order rides inside the JPEG itself, in a comment (COM, 0xFFFE) segment placed after the
 * APPn headers, whose text is `FRAME_COMMENT_TAG` followed by one line of JSON. Decoders ignore
 * comments, so the image is unchanged for every viewer.
 */
export const FRAME_COMMENT_TAG = 'sightline-frame/1 ';

export const MAX_FRAME_BYTES = 4 * 1024 * 1024;

export const frameMetaSchema = z
  .strictObject({
    camera: idSchema.describe('camera id, the same as in the topic'),
    seq: seqSchema.describe('frame sequence number; starts at 0 when capture starts and increases by 1 per published frame'),
    capturedAt: epochMsSchema.describe('capture time, milliseconds since the Unix epoch (UTC)'),
    width: pixelsSchema.optional().describe('image width in pixels'),
    height: pixelsSchema.optional().describe('image height in pixels'),
  })
  .describe('Frame metadata carried in the JPEG comment segment');

export type FrameMeta = z.infer<typeof frameMetaSchema>;

export interface Frame {
  meta: FrameMeta;
  /** The whole JPEG as published, metadata segment included. */
  jpeg: Buffer;
}

const SOI = 0xd8;
const EOI = 0xd9;
const SOS = 0xda;
const COM = 0xfe;

interface Segment {
  marker: number;
  /** Offset of the 0xFF that starts the segment. */
  start: number;
  /** Offset just past the segment. */
  end: number;
}

/**
 * Walks the header segments of a JPEG up to the start of scan. Throws a PayloadError when the
 * bytes are not a JPEG or a segment runs past the end.
 */
function headerSegments(bytes: Buffer): Segment[] {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== SOI) {
    throw new PayloadError('not-jpeg', 'not a JPEG: it does not start with FFD8');
  }
  if (bytes[bytes.length - 2] !== 0xff || bytes[bytes.length - 1] !== EOI) {
    throw new PayloadError('not-jpeg', 'truncated JPEG: it does not end with FFD9');
  }
  const segments: Segment[] = [];
  let offset = 2;
  while (offset + 4 <= bytes.length) {
    if (bytes[offset] !== 0xff) throw new PayloadError('not-jpeg', `corrupt JPEG: no marker at byte ${offset}`);
    const marker = bytes[offset + 1]!;
    if (marker === 0xff) {
      offset += 1; // fill byte
      continue;
    }
    const length = bytes.readUInt16BE(offset + 2);
    const end = offset + 2 + length;
    if (length < 2 || end > bytes.length) {
      throw new PayloadError('not-jpeg', `corrupt JPEG: segment FF${marker.toString(16).toUpperCase()} at byte ${offset} runs past the end`);
    }
    segments.push({ marker, start: offset, end });
    if (marker === SOS) return segments;
    offset = end;
  }
  throw new PayloadError('not-jpeg', 'corrupt JPEG: no start of scan');
}

/** Checks that bytes are a structurally complete JPEG (SOI, sane headers, SOS, EOI). */
export function isCompleteJpeg(bytes: Buffer): boolean {
  try {
    headerSegments(bytes);
    return true;
  } catch {
    return false;
  }
}

/** Returns a copy of `jpeg` carrying `meta` in its comment segment (replacing an earlier one). */
export function encodeFrame(jpeg: Buffer, meta: FrameMeta): Buffer {
  const checked = frameMetaSchema.parse(meta);
  const segments = headerSegments(jpeg);
  const text = Buffer.from(FRAME_COMMENT_TAG + JSON.stringify(checked), 'utf8');
  const comment = Buffer.alloc(4 + text.length);
  comment[0] = 0xff;
  comment[1] = COM;
  comment.writeUInt16BE(text.length + 2, 2);
  text.copy(comment, 4);

  // Keep APP0 (JFIF) / APP1 (Exif) first, as JFIF readers expect; drop an older Sightline comment.
  const parts: Buffer[] = [jpeg.subarray(0, 2)];
  let inserted = false;
  for (const segment of segments) {
    const isApp = segment.marker >= 0xe0 && segment.marker <= 0xef;
    if (!inserted && !isApp) {
      parts.push(comment);
      inserted = true;
    }
    if (segment.marker === COM && jpeg.subarray(segment.start + 4, segment.end).toString('utf8').startsWith(FRAME_COMMENT_TAG)) {
      continue;
    }
    parts.push(jpeg.subarray(segment.start, segment.end));
  }
  const last = segments[segments.length - 1]!;
  parts.push(jpeg.subarray(last.end));
  return Buffer.concat(parts);
}

/** Reads a published frame. Throws a PayloadError saying what is wrong with it. */
export function decodeFrame(payload: Buffer): Frame {
  if (payload.length === 0) throw new PayloadError('empty', 'empty frame');
  if (payload.length > MAX_FRAME_BYTES) throw new PayloadError('oversize', `frame of ${payload.length} bytes exceeds ${MAX_FRAME_BYTES}`);
  for (const segment of headerSegments(payload)) {
    if (segment.marker !== COM) continue;
    const text = payload.subarray(segment.start + 4, segment.end).toString('utf8');
    if (!text.startsWith(FRAME_COMMENT_TAG)) continue;
    let raw: unknown;
    try {
      raw = JSON.parse(text.slice(FRAME_COMMENT_TAG.length));
    } catch {
      throw new PayloadError('no-metadata', 'frame metadata comment is not JSON');
    }
    const parsed = frameMetaSchema.safeParse(raw);
    if (!parsed.success) throw new PayloadError('invalid', `frame metadata: ${z.prettifyError(parsed.error)}`);
    return { meta: parsed.data, jpeg: payload };
  }
  throw new PayloadError('no-metadata', `JPEG has no ${FRAME_COMMENT_TAG.trim()} comment segment`);
}
