const LEVELS: Record<string, string> = {
  trace: 'TRACE',
  debug: 'DEBUG',
  info: 'INFO ',
  warn: 'WARN ',
  error: 'ERROR',
  fatal: 'FATAL',
};
const COLOURS: Record<string, string> = { WARN: '\x1b[33m', ERROR: '\x1b[31m', FATAL: '\x1b[31m', DEBUG: '\x1b[2m', TRACE: '\x1b[2m' };
const SKIPPED = new Set(['level', 'time', 'service', 'name', 'pid', 'hostname', 'msg', 'v']);

function compact(value: unknown): string {
  if (typeof value === 'string') return /\s/.test(value) ? JSON.stringify(value) : value;
  if (value !== null && typeof value === 'object' && 'message' in value) return JSON.stringify((value as { message: unknown }).message);
  return JSON.stringify(value);
}

/**
 * Turns one line of a service's output (pino JSON, or anything else) into one readable line:
 * `12:00:01.250 INFO  broker  │ message key=value`.
 */
export function formatLogLine(service: string, line: string, width: number, colour: boolean): string {
  const label = service.padEnd(width);
  let entry: Record<string, unknown> | null = null;
  if (line.startsWith('{')) {
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      entry = null;
    }
  }
  if (entry === null) return `${' '.repeat(18)}${label} │ ${line}`;
  const time = typeof entry.time === 'string' ? entry.time.slice(11, 23) : new Date().toISOString().slice(11, 23);
  const level = LEVELS[String(entry.level)] ?? String(entry.level).toUpperCase().padEnd(5);
  const fields = Object.entries(entry)
    .filter(([key]) => !SKIPPED.has(key))
    .map(([key, value]) => `${key}=${compact(value)}`)
    .join(' ');
  const text = `${time} ${level} ${label} │ ${String(entry.msg ?? '')}${fields ? ` ${fields}` : ''}`;
  const code = COLOURS[level.trim()];
  return colour && code ? `${code}${text}\x1b[0m` : text;
}
