import { PayloadError } from './errors.ts';

/**
 * Spoken audio travels as a plain PCM WAV so any player can play it. What it says, for which lane
 * and event, rides in the same file as one extra RIFF chunk (`slmd`, JSON) placed after the
 * `data` chunk: players skip chunks they do not know, and naive readers that stop at `data` never
 * see it. Inside the services audio is `Pcm`: a WAV is parsed once where it comes in and built
 * once where it goes out (the bus, a file, an HTTP answer).
 */
export const WAV_METADATA_CHUNK = 'slmd';

/** The most audio one message may carry: about 47 s of 22.05 kHz mono, or 43 s of 24 kHz. */
export const MAX_WAV_BYTES = 2 * 1024 * 1024;

/** Samples are always signed 16-bit little-endian, interleaved: the only format Sightline produces and plays. */
export interface PcmFormat {
  sampleRate: number;
  channels: number;
}

/** Audio as the services hold it: the samples and their format. */
export interface Pcm {
  samples: Buffer;
  format: PcmFormat;
}

export interface ParsedWav {
  /** The samples are a view into the parsed bytes, not a copy. */
  pcm: Pcm;
  /** The text of the `slmd` chunk, when there is one. */
  metadata?: string;
}

function fault(message: string): PayloadError {
  return new PayloadError('not-wav', message);
}

/** What is wrong with a format Sightline cannot play, or null. */
function formatProblem({ sampleRate, channels }: PcmFormat): string | null {
  if (!Number.isInteger(channels) || channels < 1 || channels > 2) return `${channels} channels, only mono or stereo`;
  if (!Number.isInteger(sampleRate) || sampleRate < 8000 || sampleRate > 48000) return `${sampleRate} Hz, only 8000-48000 Hz`;
  return null;
}

export function pcmDurationMs({ samples, format }: Pcm): number {
  return (samples.length / (2 * format.channels) / format.sampleRate) * 1000;
}

/** Returns `pcm` when Sightline can play it; throws a PayloadError saying why not otherwise. */
export function checkPcm(pcm: Pcm): Pcm {
  const problem = formatProblem(pcm.format);
  if (problem !== null) throw new PayloadError('invalid', `unsupported audio: ${problem}`);
  if (pcm.samples.length % (2 * pcm.format.channels) !== 0) throw new PayloadError('invalid', 'corrupt audio: the samples end inside a sample');
  return pcm;
}

/** Checks and reads a 16-bit PCM WAV; throws a PayloadError saying what is wrong with it. */
export function parseWav(bytes: Buffer): ParsedWav {
  if (bytes.length < 12) throw fault(`not a WAV: ${bytes.length} bytes is too short for a RIFF header`);
  if (bytes.toString('latin1', 0, 4) !== 'RIFF' || bytes.toString('latin1', 8, 12) !== 'WAVE') {
    throw fault('not a WAV: it does not start with RIFF....WAVE');
  }
  const riffEnd = 8 + bytes.readUInt32LE(4);
  if (riffEnd > bytes.length) throw fault(`truncated WAV: the RIFF header announces ${riffEnd} bytes, ${bytes.length} arrived`);
  let format: PcmFormat | undefined;
  let samples: Buffer | undefined;
  let metadata: string | undefined;
  let offset = 12;
  while (offset + 8 <= riffEnd) {
    const id = bytes.toString('latin1', offset, offset + 4);
    const size = bytes.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (body + size > riffEnd) throw fault(`truncated WAV: chunk "${id}" runs past the end of the file`);
    if (id === 'fmt ') {
      if (size < 16) throw fault('corrupt WAV: the fmt chunk is shorter than 16 bytes');
      const audioFormat = bytes.readUInt16LE(body);
      const bitsPerSample = bytes.readUInt16LE(body + 14);
      // 0xFFFE (extensible) carries plain PCM too; its sub-format is not checked further here.
      if (audioFormat !== 1 && audioFormat !== 0xfffe) throw fault(`unsupported WAV: audio format ${audioFormat}, only PCM (1) is played`);
      if (bitsPerSample !== 16) throw fault(`unsupported WAV: ${bitsPerSample}-bit samples, only 16-bit is played`);
      format = { sampleRate: bytes.readUInt32LE(body + 4), channels: bytes.readUInt16LE(body + 2) };
      const problem = formatProblem(format);
      if (problem !== null) throw fault(`unsupported WAV: ${problem}`);
    } else if (id === 'data') {
      if (!format) throw fault('corrupt WAV: the data chunk comes before the fmt chunk');
      samples = bytes.subarray(body, body + size);
    } else if (id === WAV_METADATA_CHUNK) {
      metadata = bytes.toString('utf8', body, body + size);
    }
    offset = body + size + (size % 2);
  }
  if (!format) throw fault('corrupt WAV: no fmt chunk');
  if (!samples) throw fault('corrupt WAV: no data chunk');
  if (samples.length % (format.channels * 2) !== 0) throw fault('corrupt WAV: the data chunk ends inside a sample');
  return { pcm: { samples, format }, ...(metadata === undefined ? {} : { metadata }) };
}

/**
 * A 16-bit PCM WAV around `samples`, with an optional metadata chunk after the data. It builds
 * whatever it is given (the fuzzer builds broken WAVs with it); `checkPcm` first for audio that
 * must play.
 */
export function buildWav(samples: Buffer, format: PcmFormat, metadata?: string): Buffer {
  const meta = metadata === undefined ? undefined : Buffer.from(metadata, 'utf8');
  const metaBytes = meta ? 8 + meta.length + (meta.length % 2) : 0;
  const dataPad = samples.length % 2;
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'latin1');
  header.writeUInt32LE(36 + samples.length + dataPad + metaBytes, 4);
  header.write('WAVE', 8, 'latin1');
  header.write('fmt ', 12, 'latin1');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(format.channels, 22);
  header.writeUInt32LE(format.sampleRate, 24);
  header.writeUInt32LE(format.sampleRate * format.channels * 2, 28);
  header.writeUInt16LE(format.channels * 2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'latin1');
  header.writeUInt32LE(samples.length, 40);
  const parts = [header, samples];
  if (dataPad) parts.push(Buffer.alloc(1));
  if (meta) {
    const chunkHeader = Buffer.alloc(8);
    chunkHeader.write(WAV_METADATA_CHUNK, 0, 'latin1');
    chunkHeader.writeUInt32LE(meta.length, 4);
    parts.push(chunkHeader, meta);
    if (meta.length % 2) parts.push(Buffer.alloc(1));
  }
  return Buffer.concat(parts);
}
