import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, fsyncSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';

/** Reads a small file without trusting its size: at most `limit` + 1 bytes are ever read. */
export function readSmallFile(file: string, limit: number): string {
  const fd = openSync(file, 'r');
  try {
    if (fstatSync(fd).isDirectory()) throw Object.assign(new Error('is a folder'), { code: 'EISDIR' });
    const buffer = Buffer.alloc(limit + 1);
    let length = 0;
    while (length < buffer.length) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
    }
    if (length > limit) throw Object.assign(new Error(`is larger than ${limit} bytes`), { code: 'EFBIG' });
    return buffer.subarray(0, length).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads a YAML or JSON file (`.json` is parsed as JSON, anything else as YAML, which also reads
 * JSON) and validates it. Returns the value, or every problem found, each prefixed by `label: file`.
 */
export function loadDataFile<S extends z.ZodType>(label: string, file: string, schema: S, limit: number): { value?: z.infer<S>; problems: string[] } {
  const where = `${label}: ${file}`;
  let text: string;
  try {
    text = readSmallFile(file, limit);
  } catch (err) {
    return { problems: [`${where} ${whyUnreadable(err)}`] };
  }
  if (text.trim() === '') return { problems: [`${where} is empty`] };
  let raw: unknown;
  if (path.extname(file).toLowerCase() === '.json') {
    try {
      raw = JSON.parse(text);
    } catch (err) {
      return { problems: [`${where} is not valid JSON: ${(err as Error).message}`] };
    }
  } else {
    const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
    if (doc.errors.length > 0) return { problems: doc.errors.map((e) => `${where} is not valid YAML: ${e.message.split('\n')[0]}`) };
    try {
      raw = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      return { problems: [`${where} cannot be read as YAML: ${(err as Error).message}`] };
    }
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    return { problems: parsed.error.issues.map((issue) => `${where}: ${issue.path.map(String).join('.') || '(top level)'}: ${issue.message}`) };
  }
  return { value: parsed.data, problems: [] };
}

/** Why `readSmallFile` failed, as the tail of a config problem ("<key>: <file> does not exist"). */
export function whyUnreadable(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EFBIG' || code === 'EISDIR') return (err as Error).message;
  if (code === 'ENOENT') return 'does not exist';
  return `cannot be read (${code ?? (err as Error).message})`;
}

/**
 * Replaces `file` with `text` so that a crash or a power cut leaves the old file or the new one,
 * never a part: written beside it under a temporary name and synced, renamed over it, then the
 * folder synced (the rename is only durable once the folder is). Synchronous, so two writers in
 * one process never interleave. The folder is made if missing. `mode` 0o600 for secrets (passwords, accounts).
 */
export function writeFileAtomic(file: string, text: string | Uint8Array, options: { mode?: number } = {}): void {
  const dir = path.dirname(file);
  mkdirSync(dir, { recursive: true });
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    writeFileSync(temp, text, { flag: 'wx', flush: true, ...(options.mode !== undefined ? { mode: options.mode } : {}) });
    renameSync(temp, file);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
