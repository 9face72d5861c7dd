import type { Writable } from 'node:stream';

/**
 * Where a service's log lines go: its stdout, never blocking the service. Node writes stdout
 * through the event loop when it is a pipe or socket (the dev stack reads one per service), so the
 * only question is what to do when the reader does not keep up: lines beyond `maxPendingBytes`
 * waiting for it, or written after it has gone (EPIPE), are dropped and counted. Nothing retries in
 * a loop and nothing flushes at exit: pino's own destination (sonic-boom) retried a full socket
 * forever in its exit handler, so a service whose stack had died ignored SIGTERM.
 */
export interface LogSink {
  write(line: string): void;
  /** Lines dropped because the destination was full or gone. */
  readonly dropped: number;
  /** Bytes written but not yet taken by the reader. */
  readonly pending: number;
  /** Resolves once what is pending has been taken, or after `timeoutMs`, whichever is first. */
  drain(timeoutMs: number): Promise<void>;
}

const DEFAULT_MAX_PENDING = 1024 * 1024;

class StreamSink implements LogSink {
  readonly #stream: Writable;
  readonly #maxPending: number;
  #gone = false;
  #dropped = 0;

  constructor(stream: Writable, maxPending: number) {
    this.#stream = stream;
    this.#maxPending = maxPending;
    // The reader went away: every later line is dropped; it is not the service's problem.
    stream.on('error', () => {
      this.#gone = true;
    });
  }

  write(line: string): void {
    if (this.#gone || this.#stream.destroyed || this.#stream.writableLength + line.length > this.#maxPending) {
      this.#dropped += 1;
      return;
    }
    this.#stream.write(line);
  }

  get dropped(): number {
    return this.#dropped;
  }

  get pending(): number {
    return this.#gone ? 0 : this.#stream.writableLength;
  }

  drain(timeoutMs: number): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    const stream = this.#stream;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        stream.off('drain', done);
        stream.off('error', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      timer.unref();
      stream.once('drain', done);
      stream.once('error', done);
    });
  }
}

/** A sink on `stream` (stdout by default) that drops, and counts, what its reader does not take. */
export function createLogSink(options: { stream?: Writable; maxPendingBytes?: number } = {}): LogSink {
  return new StreamSink(options.stream ?? process.stdout, options.maxPendingBytes ?? DEFAULT_MAX_PENDING);
}

let processSink: LogSink | undefined;

/** The process's stdout sink, made at first use: every logger of the process shares it. */
export function stdoutSink(): LogSink {
  processSink ??= createLogSink();
  return processSink;
}

/** Lines the process's stdout sink dropped (0 when the process logs elsewhere). */
export function droppedLogLines(): number {
  return processSink?.dropped ?? 0;
}
