import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, openSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { readSmallFile } from './files.ts';

/**
 * Makes a random secret (32 bytes, base64url: 43 characters) at `file` unless one is there, and
 * returns whether it made it. Written beside the file, synced, then hard-linked into place: a
 * crash leaves either no file or a whole one, and of two processes racing only one link wins.
 * Mode 0600: readable only by the user every container runs as.
 */
export function ensureSecretFile(file: string): boolean {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}`);
  writeFileSync(temp, randomBytes(32).toString('base64url'), { mode: 0o600, flag: 'wx', flush: true });
  let made = true;
  try {
    linkSync(temp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    made = false;
  } finally {
    rmSync(temp, { force: true });
  }
  const dir = openSync(path.dirname(file), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
  if (!made && readSmallFile(file, 4096).trim().length < 32)
    throw new Error(`${file} exists but holds no secret of 32 characters or more: remove it to make a new one`);
  return made;
}
