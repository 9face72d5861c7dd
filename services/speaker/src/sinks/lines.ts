import type { Readable } from 'node:stream';

/**
 * Calls `onLine` for each line of a child's stderr. PulseAudio tools end status lines with `\r`
 * and erase with `ESC[K`, so both `\r` and `\n` end a line and escapes are removed.
 */
export function readLines(stream: Readable, onLine: (line: string) => void): void {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    pending += chunk;
    const parts = pending.split(/[\r\n]/);
    pending = parts.pop() ?? '';
    if (pending.length > 4096) pending = pending.slice(-4096);
    for (const part of parts) {
      const line = part.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').trim();
      if (line !== '') onLine(line);
    }
  });
}

/** The last few meaningful lines a tool printed, to say why it failed. */
export class LineTail {
  private readonly lines: string[] = [];
  private readonly keep: number;
  constructor(keep = 5) {
    this.keep = keep;
  }
  push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > this.keep) this.lines.shift();
  }
  text(): string {
    return this.lines.join(' | ');
  }
}
