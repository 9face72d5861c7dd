/**
 * How soon does the first sample come out? For each PulseAudio mode (a long-lived pacat stream,
 * one paplay per clip) and a few latency settings, plays short tones to a private null sink and
 * times, from the moment the clip is handed over: when the output says it started, and when the
 * tone actually shows up on the sink's monitor.
 *
 *   node services/speaker/bench/start-latency.bench.ts [clips per case, default 15]
 */
import { createPaplaySink, PulseStreamSink, type AudioSink } from '../src/index.ts';
import { startPulseServer } from '../test/pulse-server.ts';
import { tone } from '../test/tones.ts';

const clips = Number(process.argv[2] ?? 15);
const cleanups: Array<() => unknown> = [];
const pulse = await startPulseServer({ after: (fn) => cleanups.push(fn) });
const recording = await pulse.record();

function stats(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return `median ${at(0.5).toFixed(1)}  p90 ${at(0.9).toFixed(1)}  max ${at(1).toFixed(1)}`;
}

async function measure(name: string, sink: AudioSink): Promise<void> {
  await sink.open();
  const heard: number[] = [];
  const reported: number[] = [];
  for (let i = 0; i < clips; i++) {
    const mark = recording.mark();
    await new Promise((resolve) => setTimeout(resolve, 150));
    const requestedAt = performance.timeOrigin + performance.now();
    const played = await sink.play({
      samples: tone(2000, 120),
      format: { sampleRate: 22050, channels: 1 },
      durationMs: 120,
      label: { lane: 'bench', kind: 'tone', id: String(i) },
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const [first] = recording.tones([2000], mark);
    if (first) heard.push(first.at - requestedAt);
    reported.push(played.startedAt - requestedAt);
  }
  await sink.close();
  console.log(`${name.padEnd(30)} heard on the monitor: ${stats(heard)} ms | reported start: ${stats(reported)} ms (${heard.length}/${clips} heard)`);
}

try {
  for (const latencyMs of [20, 30, 60]) {
    await measure(`pacat stream, ${latencyMs} ms`, new PulseStreamSink({ server: pulse.server, device: pulse.sink, latencyMs }));
    await measure(`paplay per clip, ${latencyMs} ms`, createPaplaySink({ server: pulse.server, device: pulse.sink, latencyMs }));
  }
} finally {
  await recording.stop();
  for (const cleanup of cleanups.reverse()) await cleanup();
}
