import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { FfmpegInput, FfmpegOutput } from './ffmpeg.ts';

/**
 * Where a camera's pictures come from, and the ffmpeg input that reads it.
 *
 * Spec syntax (the SOURCE setting, or `source` in the cameras file):
 *   sample                      the built-in sample video (generated at first start), looped
 *   testsrc                     ffmpeg's testsrc2 pattern, paced in real time
 *   lavfi:<filtergraph>         any ffmpeg lavfi source, e.g. lavfi:color=c=gray:size=640x480:rate=5
 *   /dev/videoN | v4l2:/dev/videoN   a V4L2 (USB) camera
 *   rtsp://... | rtsps://...    an RTSP stream (over TCP)
 *   http://... | https://...    an HTTP stream (MJPEG, MPEG-TS, ...)
 *   file:/path | /path | ./path a video file, looped and paced in real time
 *   dir:/path                   a folder of .jpg/.jpeg/.png images, cycled at the camera's fps
 */
export type Source =
  | { kind: 'sample' }
  | { kind: 'testsrc' }
  | { kind: 'lavfi'; graph: string }
  | { kind: 'v4l2'; device: string }
  | { kind: 'rtsp'; url: string }
  | { kind: 'http'; url: string }
  | { kind: 'file'; path: string }
  /** `images`: the folder as listed once, when the source was parsed. */
  | { kind: 'dir'; path: string; images: ImageSet };

export type SourceKind = Source['kind'];

export class SourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SourceError';
  }
}

const JPEG_EXT = /\.(jpe?g)$/i;
const PNG_EXT = /\.png$/i;

/** Parses and checks a source spec; files and folders must exist (a V4L2 device may appear later). */
export function parseSource(spec: string, baseDir: string = process.cwd()): Source {
  const text = spec.trim();
  if (text === '') throw new SourceError('source is empty');
  if (text === 'sample') return { kind: 'sample' };
  if (text === 'testsrc') return { kind: 'testsrc' };
  if (text.startsWith('lavfi:')) {
    const graph = text.slice('lavfi:'.length);
    if (graph === '') throw new SourceError('lavfi: needs a filtergraph, e.g. lavfi:color=c=gray:size=640x480:rate=5');
    return { kind: 'lavfi', graph };
  }
  if (text.startsWith('v4l2:') || /^\/dev\/video\d+$/.test(text)) {
    const device = text.startsWith('v4l2:') ? text.slice('v4l2:'.length) : text;
    if (!/^\/dev\/[A-Za-z0-9/_.-]+$/.test(device)) throw new SourceError(`${JSON.stringify(device)} is not a device path like /dev/video0`);
    return { kind: 'v4l2', device };
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(text)?.[1]?.toLowerCase();
  if (scheme !== undefined) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new SourceError(`${redact(text)} is not a valid URL`);
    }
    if (url.hostname === '') throw new SourceError(`${redact(text)} has no host`);
    if (scheme === 'rtsp' || scheme === 'rtsps') return { kind: 'rtsp', url: text };
    if (scheme === 'http' || scheme === 'https') return { kind: 'http', url: text };
    if (scheme === 'file') return fileSource(decodeURIComponent(url.pathname), baseDir);
    throw new SourceError(`unknown source scheme "${scheme}://": use rtsp://, http(s)://, file:, dir:, /dev/videoN, testsrc, lavfi: or sample`);
  }
  if (text.startsWith('dir:')) {
    const dir = path.resolve(baseDir, text.slice('dir:'.length));
    let stats;
    try {
      stats = statSync(dir);
    } catch {
      throw new SourceError(`folder ${dir} does not exist`);
    }
    if (!stats.isDirectory()) throw new SourceError(`${dir} is not a folder`);
    return { kind: 'dir', path: dir, images: listImages(dir) };
  }
  if (text.startsWith('file:')) return fileSource(text.slice('file:'.length), baseDir);
  const prefix = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(text)?.[1];
  if (prefix !== undefined && prefix.length > 1) {
    throw new SourceError(`unknown source scheme "${prefix}:": use rtsp://, http(s)://, file:, dir:, /dev/videoN, testsrc, lavfi: or sample`);
  }
  if (text.startsWith('/') || text.startsWith('.')) return fileSource(text, baseDir);
  throw new SourceError(
    `unknown source ${JSON.stringify(text)}: use sample, testsrc, lavfi:<graph>, /dev/videoN, rtsp://..., http(s)://..., file:/path or dir:/path`,
  );
}

function fileSource(file: string, baseDir: string): Source {
  const resolved = path.resolve(baseDir, file);
  let stats;
  try {
    stats = statSync(resolved);
  } catch {
    throw new SourceError(`video file ${resolved} does not exist`);
  }
  if (stats.isDirectory()) throw new SourceError(`${resolved} is a folder: use dir:${resolved} for a folder of images`);
  if (!stats.isFile()) throw new SourceError(`${resolved} is not a regular file`);
  if (stats.size === 0) throw new SourceError(`video file ${resolved} is empty`);
  return { kind: 'file', path: resolved };
}

export interface ImageSet {
  /** The ffmpeg decoder for the chosen kind. */
  codec: 'mjpeg' | 'png';
  files: string[];
  /** Images of the other kind, left out (ffmpeg decodes one image kind per stream). */
  ignored: string[];
}

/**
 * The images a `dir:` source cycles through: the JPEGs or the PNGs, whichever there are more of.
 * ffmpeg's image2 demuxer decodes a single codec per stream, so a mixed folder shows one kind.
 */
export function listImages(dir: string): ImageSet {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (err) {
    throw new SourceError(`cannot read folder ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const jpegs = names.filter((n) => JPEG_EXT.test(n));
  const pngs = names.filter((n) => PNG_EXT.test(n));
  if (jpegs.length === 0 && pngs.length === 0) throw new SourceError(`folder ${dir} holds no .jpg, .jpeg or .png images`);
  return jpegs.length >= pngs.length ? { codec: 'mjpeg', files: jpegs, ignored: pngs } : { codec: 'png', files: pngs, ignored: jpegs };
}

/** Escapes a literal path for ffmpeg's glob pattern (image2 `-pattern_type glob`). */
function globEscape(text: string): string {
  return text.replace(/[\\*?[\]{}]/g, (c) => `\\${c}`);
}

/** A live stream starts after 2 s of probing rather than ffmpeg's default 5 s (MPEG-TS). */
const LIVE_PROBE = ['-analyzeduration', '2000000'];
const REAL_TIME = ['-re'];

export interface InputOptions {
  fps: number;
  width: number;
  height: number;
  /** Resolved path of the sample video, for `sample` sources. */
  samplePath: string;
  /** Microseconds of silence after which a network read fails (HTTP). */
  ioTimeoutUs: number;
}

/**
 * The ffmpeg input of a source. Files, folders, lavfi and test patterns are paced with `-re`, so
 * they play in real time like a camera; devices and network streams are live already and are not.
 */
export function ffmpegInput(source: Source, options: InputOptions): FfmpegInput {
  switch (source.kind) {
    case 'sample':
      return { options: [...REAL_TIME, '-stream_loop', '-1'], input: options.samplePath };
    case 'file':
      return { options: [...REAL_TIME, '-stream_loop', '-1'], input: source.path };
    case 'testsrc':
      return { options: [...REAL_TIME, '-f', 'lavfi'], input: `testsrc2=size=${options.width}x${options.height}:rate=${options.fps}` };
    case 'lavfi':
      return { options: [...REAL_TIME, '-f', 'lavfi'], input: source.graph };
    case 'v4l2':
      return { options: ['-f', 'v4l2'], input: source.device };
    case 'rtsp':
      // TCP: no lost UDP packets smearing frames, and it passes NAT. A dead stream is caught by
      // the camera's stall watchdog (the RTSP timeout options differ between ffmpeg 4 and 5).
      return { options: ['-rtsp_transport', 'tcp', ...LIVE_PROBE], input: source.url };
    case 'http':
      return { options: ['-rw_timeout', String(options.ioTimeoutUs), ...LIVE_PROBE], input: source.url };
    case 'dir': {
      // The glob is ffmpeg's: images added to the folder later are shown too.
      const pattern = source.images.codec === 'mjpeg' ? '*.{jpg,jpeg,JPG,JPEG,Jpg,Jpeg}' : '*.{png,PNG,Png}';
      return {
        options: [...REAL_TIME, '-f', 'image2', '-pattern_type', 'glob', '-loop', '1', '-framerate', String(options.fps), '-c:v', source.images.codec],
        input: `${globEscape(source.path)}/${pattern}`,
      };
    }
  }
}

export interface OutputOptions {
  fps: number;
  width: number;
  height: number;
  /** ffmpeg -q:v, 2 (best) to 31. */
  qscale: number;
  motion: { threshold: number; keepaliveSeconds: number } | null;
}

/** The filter chain: rate, letterboxed exact size, and the optional motion gate. */
export function videoFilters(options: OutputOptions): string[] {
  const { fps, width: w, height: h } = options;
  const filters = [`fps=${fps}`, `scale=${w}:${h}:force_original_aspect_ratio=decrease`, `pad=${w}:${h}:(ow-iw)/2:(oh-ih)/2`, 'setsar=1'];
  if (options.motion) {
    // mpdecimate drops a frame when it barely differs from the last frame kept: no 8x8 block
    // differs by more than `hi` and at most `frac` of the blocks by more than `lo`. `max` caps
    // how many frames in a row it may drop, which is the keepalive.
    const maxDropped = Math.max(1, Math.round(options.motion.keepaliveSeconds * fps) - 1);
    filters.push(`mpdecimate=hi=${64 * 12}:lo=${64 * 5}:frac=${options.motion.threshold}:max=${maxDropped}`);
  }
  return filters;
}

/** MJPEG images on stdout (fluent-ffmpeg appends the `pipe:1` target). */
export function ffmpegOutput(options: OutputOptions): FfmpegOutput {
  return {
    filters: videoFilters(options),
    options: [
      '-an',
      // With the motion gate frames come irregularly: pass them through rather than duplicate.
      ...(options.motion ? ['-vsync', 'passthrough'] : []),
      '-c:v',
      'mjpeg',
      '-q:v',
      String(options.qscale),
      '-f',
      'image2pipe',
    ],
  };
}

/** Maps the 1-100 quality (higher is better, as in most camera UIs) to ffmpeg's -q:v 31..2. */
export function qscaleFromQuality(quality: number): number {
  return Math.round(31 - ((quality - 1) * 29) / 99);
}

/** A source for logs: URLs lose their credentials. */
export function describeSource(source: Source): string {
  switch (source.kind) {
    case 'sample':
    case 'testsrc':
      return source.kind;
    case 'lavfi':
      return `lavfi:${source.graph}`;
    case 'v4l2':
      return source.device;
    case 'rtsp':
    case 'http':
      return redact(source.url);
    case 'file':
      return source.path;
    case 'dir':
      return `dir:${source.path}`;
  }
}

function redact(url: string): string {
  return url.replace(/\/\/([^/@]*)@/, '//***@');
}
