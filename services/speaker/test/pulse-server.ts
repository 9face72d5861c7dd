/**
 * A private PulseAudio for tests: its own runtime folder and socket, one null sink (a virtual
 * sound card that plays into nothing, in real time), and a recorder on the sink's monitor, so a
 * test hears exactly what was played, when, and in which order. Killed when the test ends.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sleep, waitUntil } from '@sightline/kit/testing';
import { findTones, type ToneSegment } from './tones.ts';

export interface PulseServer {
  /** Its runtime folder (socket, state). */
  dir: string;
  /** For `--server=` and PULSE_SERVER: `unix:<socket>`. */
  server: string;
  /** The null sink's name (the output to play to). */
  sink: string;
  /** The null sink's rate (what the monitor records at). */
  sampleRate: number;
  /** This process's environment with PULSE_SERVER pointing at this server. */
  env: NodeJS.ProcessEnv;
  pid: number;
  /** Starts recording the monitor of the sink (or of `sinkName`, one added with addSink); resolves once audio flows. */
  record(sinkName?: string): Promise<Recording>;
  /** Adds another null sink (a second output: a headset) at the same rate. */
  addSink(name: string): Promise<void>;
  /** Kills the daemon (a "pulse server gone" test); safe to call twice. */
  kill(): Promise<void>;
}

export interface Recording {
  sampleRate: number;
  /** What was recorded so far from sample `from` (default: everything), mono. */
  samples(from?: number): Int16Array;
  /** Wall-clock time (epoch ms) of a sample, from when the recorder's data arrived. */
  timeAt(sampleIndex: number): number;
  /**
   * When the recorder handed over the chunk holding this sample (epoch ms): a time by which the
   * sample had certainly been played, late by at most the recorder's latency. Benchmarks use it;
   * `timeAt` can be early by a few ms.
   */
  arrivedAt(sampleIndex: number): number;
  /**
   * The first sample handed over at or after `ms` (epoch ms), by arrival: under load the recorder
   * drops samples, and `timeAt` (counted from the start) then places everything after a drop too early.
   */
  indexArrivedBy(ms: number): number;
  /** How many samples are recorded so far: pass it to `tones` to look only at what follows. */
  mark(): number;
  /** Tone segments found so far (from sample `since`), with their wall-clock start and end. */
  tones(frequencies: readonly number[], since?: number): Array<ToneSegment & { at: number; endAt: number }>;
  stop(): Promise<void>;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ ok: boolean; stdout: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { env, timeout: 5000 }, (err, stdout) => resolve({ ok: !err, stdout: String(stdout) }));
  });
}

function exited(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  child.kill('SIGTERM');
  if (!(await exited(child, 2000))) {
    child.kill('SIGKILL');
    await exited(child, 2000);
  }
}

/** Where cleanup is registered: a TestContext, or `{ after }` from node:test for a whole suite. */
export interface CleanupScope {
  after(fn: () => unknown): void;
}

/**
 * Starts the daemon and waits until it answers. Note: an idle null sink renders in blocks of up
 * to 2 s, so the first recording on a fresh server waits that long for its first data; share one
 * server and recording across a suite's tests (`mark()` separates them).
 */
export async function startPulseServer(t: CleanupScope, options: { sink?: string; sampleRate?: number; dir?: string } = {}): Promise<PulseServer> {
  const sink = options.sink ?? 'sightline_test';
  const sampleRate = options.sampleRate ?? 16000;
  // A given folder lets a second server take over the first one's socket ("the server came back").
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(path.join(tmpdir(), 'sightline-pulse-'));
  const socket = path.join(dir, 'native');
  const server = `unix:${socket}`;
  const daemonEnv: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: dir,
    XDG_RUNTIME_DIR: dir,
    XDG_CONFIG_HOME: path.join(dir, 'config'),
    PULSE_RUNTIME_PATH: dir,
    PULSE_STATE_PATH: path.join(dir, 'state'),
  };
  const daemon = spawn(
    'pulseaudio',
    [
      '--daemonize=no',
      '--system=false',
      '--exit-idle-time=-1',
      '--disallow-exit',
      '--use-pid-file=no',
      '--disable-shm=yes',
      '-n',
      '--log-target=stderr',
      '--log-level=error',
      `--load=module-null-sink sink_name=${sink} rate=${sampleRate} channels=1`,
      `--load=module-native-protocol-unix socket=${socket} auth-anonymous=1`,
    ],
    { env: daemonEnv, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  daemon.stderr?.on('data', (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-4000);
  });
  const recorders = new Set<ChildProcess>();
  const kill = async () => {
    for (const recorder of recorders) await stopChild(recorder);
    await stopChild(daemon);
  };
  t.after(async () => {
    await kill();
    if (ownDir) rmSync(dir, { recursive: true, force: true });
  });
  const clientEnv: NodeJS.ProcessEnv = { ...process.env, PULSE_SERVER: server, PULSE_RUNTIME_PATH: dir, XDG_RUNTIME_DIR: dir };
  await waitUntil(
    `PulseAudio answers on ${socket}${log ? ` (it said: ${log.trim()})` : ''}`,
    async () => {
      if (daemon.exitCode !== null) throw new Error(`pulseaudio exited with code ${daemon.exitCode}: ${log.trim()}`);
      const info = await run('pactl', [`--server=${server}`, 'list', 'short', 'sinks'], clientEnv);
      return info.ok && info.stdout.includes(sink);
    },
    10_000,
  );

  return {
    dir,
    server,
    sink,
    sampleRate,
    env: clientEnv,
    pid: daemon.pid!,
    kill,
    async addSink(name) {
      const loaded = await run(
        'pactl',
        [`--server=${server}`, 'load-module', 'module-null-sink', `sink_name=${name}`, `rate=${sampleRate}`, 'channels=1'],
        clientEnv,
      );
      if (!loaded.ok) throw new Error(`could not add the null sink ${name}`);
    },
    async record(sinkName = sink) {
      const recorder = spawn(
        'parecord',
        [`--server=${server}`, `--device=${sinkName}.monitor`, '--raw', '--format=s16le', `--rate=${sampleRate}`, '--channels=1', '--latency-msec=10'],
        { env: clientEnv, stdio: ['ignore', 'pipe', 'ignore'] },
      );
      recorders.add(recorder);
      const chunks: Buffer[] = [];
      let bytes = 0;
      // The time of sample 0: a chunk's last sample was recorded no later than the chunk arrived,
      // so each chunk gives an upper bound; the smallest one is the closest.
      let origin = Infinity;
      const arrivals: Array<{ end: number; at: number }> = [];
      recorder.stdout!.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        bytes += chunk.length;
        arrivals.push({ end: Math.floor(bytes / 2), at: Date.now() });
        origin = Math.min(origin, Date.now() - (Math.floor(bytes / 2) / sampleRate) * 1000);
      });
      await waitUntil('the monitor recording delivers audio', () => bytes > 0, 5000);
      const samples = (from = 0) => {
        // Only the chunks that reach past `from` are copied: a long recording is polled often.
        const firstByte = Math.max(0, from) * 2;
        let skipped = 0;
        let index = 0;
        while (index < chunks.length && skipped + chunks[index]!.length <= firstByte) skipped += chunks[index++]!.length;
        const tail = Buffer.concat(chunks.slice(index)).subarray(firstByte - skipped);
        // A fresh (unpooled, aligned) copy: Int16Array needs an even byte offset.
        const aligned = Buffer.alloc(tail.length - (tail.length % 2));
        tail.copy(aligned);
        return new Int16Array(aligned.buffer, aligned.byteOffset, aligned.length / 2);
      };
      const timeAt = (index: number) => origin + (index / sampleRate) * 1000;
      const arrivedAt = (index: number) => {
        let low = 0;
        let high = arrivals.length - 1;
        if (high < 0 || arrivals[high]!.end <= index) return Number.NaN;
        while (low < high) {
          const mid = (low + high) >> 1;
          if (arrivals[mid]!.end > index) high = mid;
          else low = mid + 1;
        }
        return arrivals[low]!.at;
      };
      const indexArrivedBy = (ms: number) => {
        let low = 0;
        let high = arrivals.at(-1)?.end ?? 0;
        while (low < high) {
          const mid = (low + high) >> 1;
          if (arrivedAt(mid) >= ms) high = mid;
          else low = mid + 1;
        }
        return low;
      };
      return {
        sampleRate,
        samples,
        timeAt,
        arrivedAt,
        indexArrivedBy,
        mark: () => Math.floor(bytes / 2),
        tones(frequencies, since = 0) {
          return findTones(samples(since), sampleRate, frequencies).map((segment) => ({
            ...segment,
            start: segment.start + since,
            end: segment.end + since,
            at: timeAt(segment.start + since),
            endAt: timeAt(segment.end + since),
          }));
        },
        async stop() {
          await sleep(0);
          await stopChild(recorder);
          recorders.delete(recorder);
        },
      };
    },
  };
}

export { findTones, tone, tonePcm, type ToneSegment } from './tones.ts';
