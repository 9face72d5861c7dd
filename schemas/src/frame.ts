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
  /**
   * The header of `jpeg`, read once where it entered: `decodeFrame` returns it (a subscriber needs
   * no second walk for the image size), and a publisher that has already read it (capture's
   * splitter) hands it to the encoder. Left out, the encoder reads it.
   */
  header?: JpegHeader;
}

const SOI = 0xd8;
const EOI = 0xd9;
const SOS = 0xda;
const COM = 0xfe;
const APP1 = 0xe1;
/** Start-of-frame markers (every coding process), whose segment carries the image size. */
const SOF_MARKERS = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

/**
 * Header segments a JPEG may have before its scan. ffmpeg writes about 8, a camera with Exif and
 * ICC profiles a few dozen; the cap keeps a hostile frame of tiny segments from costing a
 * subscriber a million objects.
 */
export const MAX_JPEG_SEGMENTS = 256;

/** One header segment; a standalone marker (TEM, RSTn) is 2 bytes long. */
export interface JpegSegment {
  marker: number;
  /** Offset of the 0xFF that starts the segment. */
  start: number;
  /** Offset just past the segment. */
  end: number;
}

/** What the header segments of a JPEG say, from one walk over them. */
export interface JpegHeader {
  /** The segments after SOI up to and including the first start of scan (SOS), in order. */
  segments: readonly JpegSegment[];
  /** The size from the frame header (SOF), before any Exif orientation. */
  width: number;
  height: number;
  /** Offset of the first byte of entropy-coded data, just past the SOS segment. */
  scanStart: number;
  /** The JPEG has an APP1 segment (Exif), whose orientation may rotate the image. */
  exif: boolean;
}

/** True for markers that stand alone, with no length after them. */
export function isStandaloneMarker(marker: number): boolean {
  return marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7);
}

/**
 * The header of a JPEG: its segments up to the start of scan and what they say. `segments`, when
 * the caller has already walked them (capture's splitter does, to find where a frame ends), are
 * used as they are; otherwise they are walked here. Throws a PayloadError when the bytes are not a
 * whole JPEG (SOI ... EOI), a segment runs past the end, or there is no SOF before the scan.
 */
export function readJpegHeader(bytes: Buffer, segments?: readonly JpegSegment[]): JpegHeader {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== SOI) {
    throw new PayloadError('not-jpeg', 'not a JPEG: it does not start with FFD8');
  }
  if (bytes[bytes.length - 2] !== 0xff || bytes[bytes.length - 1] !== EOI) {
    throw new PayloadError('not-jpeg', 'truncated JPEG: it does not end with FFD9');
  }
  const walked = segments ?? walkSegments(bytes);
  const sos = walked[walked.length - 1];
  if (sos === undefined || sos.marker !== SOS || sos.end > bytes.length) throw new PayloadError('not-jpeg', 'corrupt JPEG: no start of scan');
  let exif = false;
  for (const segment of walked) {
    if (segment.marker === APP1) exif = true;
    if (!SOF_MARKERS.has(segment.marker)) continue;
    if (segment.end - segment.start < 9) throw new PayloadError('not-jpeg', `corrupt JPEG: frame header at byte ${segment.start} is too short`);
    const height = bytes.readUInt16BE(segment.start + 5);
    const width = bytes.readUInt16BE(segment.start + 7);
    if (width === 0 || height === 0) throw new PayloadError('not-jpeg', `corrupt JPEG: frame header says ${width}x${height} pixels`);
    return { segments: walked, width, height, scanStart: sos.end, exif };
  }
  throw new PayloadError('not-jpeg', 'corrupt JPEG: no frame header (SOF) before the start of scan');
}

function walkSegments(bytes: Buffer): JpegSegment[] {
  const segments: JpegSegment[] = [];
  let offset = 2;
  while (offset + 4 <= bytes.length) {
    if (bytes[offset] !== 0xff) throw new PayloadError('not-jpeg', `corrupt JPEG: no marker at byte ${offset}`);
    const marker = bytes[offset + 1]!;
    if (marker === 0xff) {
      offset += 1; // fill byte
      continue;
    }
    if (segments.length === MAX_JPEG_SEGMENTS) throw new PayloadError('not-jpeg', `corrupt JPEG: more than ${MAX_JPEG_SEGMENTS} header segments`);
    if (isStandaloneMarker(marker)) {
      segments.push({ marker, start: offset, end: offset + 2 });
      offset += 2;
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

/** Checks that bytes are a structurally complete JPEG (SOI, sane headers, SOF, SOS, EOI). */
export function isCompleteJpeg(bytes: Buffer): boolean {
  try {
    readJpegHeader(bytes);
    return true;
  } catch {
    return false;
  }
}

/**
 * Returns a copy of `jpeg` carrying `meta` in its comment segment (replacing an earlier one).
 * `header`: the header of `jpeg` when the caller has already read it; otherwise it is read here.
 */
export function encodeFrame(jpeg: Buffer, meta: FrameMeta, header: JpegHeader = readJpegHeader(jpeg)): Buffer {
  const checked = frameMetaSchema.parse(meta);
  const { segments } = header;
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
    if (
      segment.marker === COM &&
      jpeg
        .subarray(segment.start + 4, segment.end)
        .toString('utf8')
        .startsWith(FRAME_COMMENT_TAG)
    ) {
      continue;
    }
    parts.push(jpeg.subarray(segment.start, segment.end));
  }
  parts.push(jpeg.subarray(header.scanStart));
  return Buffer.concat(parts);
}

/** Reads a published frame, header included. Throws a PayloadError saying what is wrong with it. */
export function decodeFrame(payload: Buffer): Frame & { header: JpegHeader } {
  if (payload.length === 0) throw new PayloadError('empty', 'empty frame');
  if (payload.length > MAX_FRAME_BYTES) throw new PayloadError('oversize', `frame of ${payload.length} bytes exceeds ${MAX_FRAME_BYTES}`);
  const header = readJpegHeader(payload);
  for (const segment of header.segments) {
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
    return { meta: parsed.data, jpeg: payload, header };
  }
  throw new PayloadError('no-metadata', `JPEG has no ${FRAME_COMMENT_TAG.trim()} comment segment`);
}
