import { isStandaloneMarker, MAX_JPEG_SEGMENTS, PayloadError, readJpegHeader, type JpegHeader, type JpegSegment } from '@sightline/schemas';

/**
 * Turns a byte stream of concatenated JPEGs (ffmpeg `image2pipe` MJPEG output) into whole JPEGs.
 *
 * It parses the JPEG structure rather than looking for FFD9 anywhere: header segments are skipped
 * by their length (so an embedded EXIF thumbnail cannot end a frame early), then the entropy-coded
 * data is scanned for EOI, where a 0xFF is always followed by 0x00 (stuffing) or a restart marker.
 * Whatever does not fit is dropped and counted, and the splitter resynchronises on the next SOI:
 * bytes before an SOI (garbage), a frame cut short by a new SOI or by the end of the stream
 * (corrupt), a frame that grows past `maxBytes` (oversize). Memory stays below `maxBytes` plus one
 * slice of input, whatever the input.
 *
 * The header segments it walks to find the scan are handed over with each frame (as its
 * `JpegHeader`), so stamping the frame does not walk them again; a frame whose header has no
 * frame size (SOF) is dropped as corrupt here, as every subscriber would refuse it.
 */

export type SplitterDropReason = 'corrupt' | 'oversize';

export interface SplitterStats {
  frames: number;
  corrupt: number;
  oversize: number;
  /** Bytes thrown away: garbage between frames plus the bytes of dropped frames. */
  skippedBytes: number;
}

export interface JpegSplitterOptions {
  maxBytes: number;
  onFrame: (jpeg: Buffer, header: JpegHeader) => void;
  onDrop?: (reason: SplitterDropReason, bytes: number, detail: string) => void;
}

type State = 'seek' | 'marker' | 'scan';

/** Input is taken in slices of at most this many bytes, so one huge chunk cannot blow the cap. */
const SLICE = 64 * 1024;
const SOI = Buffer.from([0xff, 0xd8]);

export class JpegSplitter {
  readonly stats: SplitterStats = { frames: 0, corrupt: 0, oversize: 0, skippedBytes: 0 };
  readonly #maxBytes: number;
  readonly #onFrame: (jpeg: Buffer, header: JpegHeader) => void;
  readonly #onDrop: (reason: SplitterDropReason, bytes: number, detail: string) => void;
  #buf: Buffer;
  /** Bytes held in #buf; a frame in progress always starts at offset 0. */
  #len = 0;
  /** Parse position inside #buf. */
  #pos = 0;
  #state: State = 'seek';
  /** Garbage already reported since the last frame start: a run of garbage counts once. */
  #garbageReported = false;
  /** Header segments of the frame in progress (offsets from its SOI), up to its first SOS. */
  #segments: JpegSegment[] = [];

  constructor(options: JpegSplitterOptions) {
    if (!Number.isInteger(options.maxBytes) || options.maxBytes < 16) throw new Error('maxBytes must be an integer >= 16');
    this.#maxBytes = options.maxBytes;
    this.#onFrame = options.onFrame;
    this.#onDrop = options.onDrop ?? (() => {});
    this.#buf = Buffer.allocUnsafe(Math.min(256 * 1024, options.maxBytes + SLICE));
  }

  /** Bytes currently held. */
  get bufferedBytes(): number {
    return this.#len;
  }

  /** Size of the internal buffer; never above maxBytes plus one input slice. */
  get capacity(): number {
    return this.#buf.length;
  }

  push(chunk: Buffer): void {
    for (let offset = 0; offset < chunk.length; offset += SLICE) {
      this.#append(chunk.subarray(offset, Math.min(chunk.length, offset + SLICE)));
      this.#run();
      if (this.#state !== 'seek' && this.#len > this.#maxBytes) {
        this.#drop('oversize', `frame exceeds ${this.#maxBytes} bytes`, this.#len);
        // The rest of the runaway frame is skipped as garbage already accounted for.
        this.#garbageReported = true;
        this.#compact(this.#len);
        this.#state = 'seek';
      }
    }
    this.#shrink();
  }

  /** The stream ended: a frame in progress was truncated. */
  end(): void {
    if (this.#state !== 'seek') this.#drop('corrupt', 'stream ended inside a frame', this.#len);
    else if (this.#len > 0) this.#skip(this.#len);
    this.#len = 0;
    this.#pos = 0;
    this.#state = 'seek';
    this.#garbageReported = false;
    this.#shrink();
  }

  #append(bytes: Buffer): void {
    const need = this.#len + bytes.length;
    if (need > this.#buf.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.#maxBytes + SLICE, Math.max(need, this.#buf.length * 2)));
      this.#buf.copy(grown, 0, 0, this.#len);
      this.#buf = grown;
    }
    bytes.copy(this.#buf, this.#len);
    this.#len = need;
  }

  /** Removes the first n bytes. */
  #compact(n: number): void {
    this.#buf.copyWithin(0, n, this.#len);
    this.#len -= n;
    this.#pos = Math.max(0, this.#pos - n);
  }

  /** Gives back the memory a big frame made us take. */
  #shrink(): void {
    if (this.#buf.length > 1024 * 1024 && this.#len < 256 * 1024) {
      const small = Buffer.allocUnsafe(256 * 1024);
      this.#buf.copy(small, 0, 0, this.#len);
      this.#buf = small;
    }
  }

  #run(): void {
    const buf = this.#buf;
    for (;;) {
      if (this.#state === 'seek') {
        const found = buf.subarray(0, this.#len).indexOf(SOI);
        if (found === -1) {
          // Keep a trailing FF: it may be the first half of an SOI.
          const keep = this.#len > 0 && buf[this.#len - 1] === 0xff ? 1 : 0;
          this.#skip(this.#len - keep);
          this.#compact(this.#len - keep);
          return;
        }
        this.#skip(found);
        this.#compact(found);
        this.#garbageReported = false;
        this.#state = 'marker';
        this.#pos = 2;
        this.#segments = [];
        continue;
      }
      if (this.#state === 'marker') {
        if (this.#pos + 2 > this.#len) return;
        if (buf[this.#pos] !== 0xff) {
          this.#broken(this.#pos, 'no marker where a header segment should start');
          continue;
        }
        const marker = buf[this.#pos + 1]!;
        if (marker === 0xff) {
          this.#pos += 1; // fill byte
          continue;
        }
        if (marker === 0xd8) {
          this.#broken(this.#pos, 'a new JPEG started inside the headers');
          continue;
        }
        if (marker === 0xd9 || marker === 0x00) {
          this.#broken(this.#pos + 2, 'headers ended without a start of scan');
          continue;
        }
        if (this.#segments.length === MAX_JPEG_SEGMENTS && this.#segments.at(-1)?.marker !== 0xda) {
          this.#broken(this.#pos, `more than ${MAX_JPEG_SEGMENTS} header segments`);
          continue;
        }
        if (isStandaloneMarker(marker)) {
          this.#record(marker, this.#pos, this.#pos + 2);
          this.#pos += 2;
          continue;
        }
        if (this.#pos + 4 > this.#len) return;
        const length = buf.readUInt16BE(this.#pos + 2);
        if (length < 2) {
          this.#broken(this.#pos + 2, 'header segment with an impossible length');
          continue;
        }
        const end = this.#pos + 2 + length;
        if (end > this.#len) return; // wait for the rest of the segment
        this.#record(marker, this.#pos, end);
        this.#pos = end;
        if (marker === 0xda) this.#state = 'scan';
        continue;
      }
      // scan: entropy-coded data, where FF 00 is stuffing and FF D0-D7 are restart markers.
      const ff = buf.subarray(0, this.#len).indexOf(0xff, this.#pos);
      if (ff === -1) {
        this.#pos = this.#len;
        return;
      }
      if (ff + 1 >= this.#len) {
        this.#pos = ff;
        return;
      }
      const next = buf[ff + 1]!;
      if (next === 0xd9) {
        const size = ff + 2;
        if (size > this.#maxBytes) {
          this.#drop('oversize', `frame of ${size} bytes exceeds ${this.#maxBytes}`, size);
        } else {
          const jpeg = Buffer.from(buf.subarray(0, size));
          let header: JpegHeader | null = null;
          try {
            header = readJpegHeader(jpeg, this.#segments);
          } catch (err) {
            if (!(err instanceof PayloadError)) throw err;
            this.#drop('corrupt', err.message, size);
          }
          if (header !== null) {
            this.stats.frames += 1;
            this.#onFrame(jpeg, header);
          }
        }
        this.#compact(size);
        this.#state = 'seek';
        this.#garbageReported = false;
        continue;
      }
      if (next === 0xd8) {
        this.#broken(ff, 'a new JPEG started before the previous one ended');
        continue;
      }
      if (next === 0xff) {
        this.#pos = ff + 1;
        continue;
      }
      if (next === 0x00 || (next >= 0xd0 && next <= 0xd7)) {
        this.#pos = ff + 2;
        continue;
      }
      // Another marker between scans (progressive JPEG: DHT, SOS, ...): read it as a header.
      this.#pos = ff;
      this.#state = 'marker';
    }
  }

  /** Keeps a header segment of the frame in progress; those after its first scan are not header. */
  #record(marker: number, start: number, end: number): void {
    if (this.#segments.at(-1)?.marker !== 0xda) this.#segments.push({ marker, start, end });
  }

  /** The frame in progress is unusable: drop bytes [0, at) and resynchronise on the next SOI. */
  #broken(at: number, detail: string): void {
    const cut = Math.max(at, 2);
    this.#drop('corrupt', detail, cut);
    this.#compact(cut);
    this.#state = 'seek';
    this.#garbageReported = true;
  }

  #skip(bytes: number): void {
    if (bytes <= 0) return;
    this.stats.skippedBytes += bytes;
    if (this.#garbageReported) return;
    this.#garbageReported = true;
    this.stats.corrupt += 1;
    this.#onDrop('corrupt', bytes, 'garbage before a JPEG start');
  }

  #drop(reason: SplitterDropReason, detail: string, bytes: number): void {
    this.stats[reason] += 1;
    this.stats.skippedBytes += bytes;
    this.#onDrop(reason, bytes, detail);
  }
}
