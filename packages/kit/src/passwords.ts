import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * Salted scrypt password hashes, stored as `scrypt$N$r$p$saltBase64$hashBase64`.
 * N=2^14, r=8, p=1 costs about 16 MiB and a few tens of milliseconds: enough to make an offline
 * guess expensive, cheap enough for a burst of service reconnects.
 */

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

export const DEFAULT_SCRYPT: ScryptParams = { N: 16384, r: 8, p: 1 };
const SALT_BYTES = 16;
const KEY_BYTES = 32;

interface ParsedHash extends ScryptParams {
  salt: Buffer;
  hash: Buffer;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Parses a stored hash, or explains why it cannot be used (bounded so a hostile file cannot exhaust memory or CPU). */
export function parseHash(text: string): ParsedHash | string {
  const parts = text.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return 'must look like scrypt$N$r$p$salt$hash';
  const [, nText, rText, pText, saltText, hashText] = parts as [string, string, string, string, string, string];
  const N = Number(nText);
  const r = Number(rText);
  const p = Number(pText);
  if (!Number.isInteger(N) || N < 1024 || N > 1048576 || (N & (N - 1)) !== 0) return 'N must be a power of 2 between 1024 and 1048576';
  if (!Number.isInteger(r) || r < 1 || r > 32) return 'r must be 1-32';
  if (!Number.isInteger(p) || p < 1 || p > 16) return 'p must be 1-16';
  if (128 * N * r > 256 * 1024 * 1024) return 'N*r would need more than 256 MiB';
  if (!BASE64.test(saltText) || !BASE64.test(hashText)) return 'salt and hash must be base64';
  const salt = Buffer.from(saltText, 'base64');
  const hash = Buffer.from(hashText, 'base64');
  if (salt.length < 8 || salt.length > 64) return 'salt must be 8-64 bytes';
  if (hash.length < 16 || hash.length > 64) return 'hash must be 16-64 bytes';
  return { N, r, p, salt, hash };
}

function derive(password: string | Buffer, salt: Buffer, length: number, params: ScryptParams): Promise<Buffer> {
  const options: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 128 * params.N * params.r * 2 + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scrypt(password, salt, length, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, KEY_BYTES, params);
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export async function verifyPassword(password: string | Buffer, stored: string): Promise<boolean> {
  const parsed = parseHash(stored);
  if (typeof parsed === 'string') return false;
  const candidate = await derive(password, parsed.salt, parsed.hash.length, parsed);
  return timingSafeEqual(candidate, parsed.hash);
}

/** Burns the same work as a real check, so an unknown username answers no faster than a wrong password. */
let dummyHash: Promise<string> | undefined;
export async function verifyAgainstDummy(password: string | Buffer): Promise<false> {
  dummyHash ??= hashPassword(randomBytes(16).toString('hex'));
  await verifyPassword(password, await dummyHash);
  return false;
}

export function generatePassword(): string {
  return randomBytes(24).toString('base64url');
}
