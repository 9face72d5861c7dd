/**
 * The per-frame cost of the frame path outside ffmpeg and the model: capture splitting ffmpeg's
 * MJPEG stream and stamping each frame, and a subscriber reading a frame with its header (the
 * size inference needs). Real ffmpeg output, 640x480 at the default quality; median CPU time of 21 rounds.
 *
 *   node services/capture/bench/frame.bench.ts
 */
import { execFileSync } from 'node:child_process';
import { decodeFrame, encodeFrame } from '@sightline/schemas';
import { JpegSplitter } from '../src/jpeg-splitter.ts';
import { qscaleFromQuality } from '../src/sources.ts';

const FRAMES = 150;
const CHUNK = 64 * 1024;
const stream = execFileSync(
  'ffmpeg',
  [
    '-v',
    'error',
    '-f',
    'lavfi',
    '-i',
    'testsrc2=size=640x480:rate=30',
    '-frames:v',
    String(FRAMES),
    '-c:v',
    'mjpeg',
    '-q:v',
    String(qscaleFromQuality(75)),
    '-f',
    'image2pipe',
    'pipe:1',
  ],
  { maxBuffer: 256 * 1024 * 1024 },
);

function split(onFrame: ConstructorParameters<typeof JpegSplitter>[0]['onFrame']): void {
  const splitter = new JpegSplitter({ maxBytes: 4 * 1024 * 1024, onFrame });
  for (let i = 0; i < stream.length; i += CHUNK) splitter.push(stream.subarray(i, i + CHUNK));
  splitter.end();
}

const published: Buffer[] = [];
let seq = 0;
split((jpeg, header) =>
  published.push(encodeFrame(jpeg, { camera: 'bench', seq: seq++, capturedAt: Date.now(), width: header.width, height: header.height }, header)),
);
if (published.length !== FRAMES) throw new Error(`split ${published.length} frames, expected ${FRAMES}`);

function best(name: string, run: () => number, rounds = 21): void {
  // CPU time of this process (user + system), not wall time: other work on the machine does not count.
  const rates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.cpuUsage();
    const frames = run();
    const used = process.cpuUsage(t0);
    rates.push(frames / ((used.user + used.system) / 1e6));
  }
  const rate = rates.sort((a, b) => a - b)[rounds >> 1]!;
  console.log(
    `${name.padEnd(28)} ${Math.round(rate).toString().padStart(8)} frames/s  ${(1e6 / rate).toFixed(2).padStart(7)} us/frame (median CPU time of ${rounds} rounds)`,
  );
}

console.log(`${FRAMES} frames of ${(stream.length / FRAMES / 1024).toFixed(1)} KB (640x480, quality 75)`);
best('capture: split', () => {
  let n = 0;
  split(() => n++);
  return n;
});
best('capture: split + stamp', () => {
  let n = 0;
  split((jpeg, header) => {
    encodeFrame(jpeg, { camera: 'bench', seq: n++, capturedAt: 1_795_000_000_000, width: header.width, height: header.height }, header);
  });
  return n;
});
best('subscriber: decode + size', () => {
  let n = 0;
  for (let k = 0; k < 10; k++) {
    for (const payload of published) if (decodeFrame(payload).header.width === 640) n++;
  }
  return n;
});
