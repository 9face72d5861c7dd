import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { catalogSchema, type Catalog } from '@sightline/schemas';

/** A catalog is at most a few thousand products; a bigger file is a mistake. */
export const MAX_CATALOG_BYTES = 8 * 1024 * 1024;

export class CatalogError extends Error {
  readonly problems: string[];
  constructor(file: string, problems: string[]) {
    super(`catalog ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'CatalogError';
    this.problems = problems;
  }
}

function readLimited(file: string, limit: number): string {
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

/** Reads and checks a catalog (YAML or JSON); every problem is reported in one CatalogError. */
export function loadCatalog(file: string): Catalog {
  let text: string;
  try {
    text = readLimited(file, MAX_CATALOG_BYTES);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new CatalogError(file, [`cannot read: ${e.code === 'EFBIG' || e.code === 'EISDIR' ? e.message : (e.code ?? e.message)}`]);
  }
  if (text.trim() === '') throw new CatalogError(file, ['is empty']);
  let raw: unknown;
  try {
    raw = parseYaml(text, { maxAliasCount: 100 });
  } catch (err) {
    throw new CatalogError(file, [`is not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}`]);
  }
  const parsed = catalogSchema.safeParse(raw);
  if (!parsed.success) {
    throw new CatalogError(
      file,
      parsed.error.issues.map((issue) => `${issue.path.length > 0 ? issue.path.map(String).join('.') : '(catalog)'}: ${issue.message}`),
    );
  }
  return parsed.data;
}
