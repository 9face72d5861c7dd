import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
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

/** Writes `content` to `path` with mode 0600, synced and renamed into place: a crash leaves the old file or the whole new one. */
export async function writePrivateFile(file: string, content: string): Promise<void> {
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(content, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}
