/**
 * What the speaker spends per clip between the bus and the output (not a test): an audio payload
 * of a real scan sentence decoded as the bus does, and made into the clip the player hands the
 * sink. The broker and the playing itself are left out: they do not change with the format.
 *
 *   node services/speaker/bench/receive-path.bench.ts [rounds, default 2000]
 */
import { channels, pcmDurationMs } from '@sightline/schemas';
import { createOfflineVoice } from '@sightline/voice';
import type { Clip } from '../src/sinks/sink.ts';

const ROUNDS = Number(process.argv[2] ?? 2000);
const stat = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => (sorted[Math.floor(q * sorted.length)]! * 1000).toFixed(1);
  return `median ${at(0.5)} µs, p90 ${at(0.9)} µs`;
};

const { pcm } = await createOfflineVoice().synthesize({ text: 'You scanned an orange, 0.19 kilograms, 63 cents.', locale: 'en-US' });
const payload = channels.audio.codec.encode({ meta: { ...channels.audio.example.meta, durationMs: Math.round(pcmDurationMs(pcm)) }, pcm });

function once(): number {
  const started = performance.now();
  const audio = channels.audio.codec.decode(payload);
  const clip: Clip = {
    samples: audio.pcm.samples,
    format: audio.pcm.format,
    durationMs: pcmDurationMs(audio.pcm),
    label: { lane: 'lane-1', kind: 'scan', id: 'scan' },
  };
  if (clip.samples.length === 0) throw new Error('no audio');
  return performance.now() - started;
}

for (let i = 0; i < 500; i++) once();
const times: number[] = [];
for (let i = 0; i < ROUNDS; i++) times.push(once());
console.log(`speaker audio payload (${payload.length} bytes) -> clip: ${stat(times)}`);
