import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { aclPatternProblem, type AclRule } from './acl.ts';
import { parseHash, writeFileAtomic } from '@sightline/kit';

/**
 * The users file (JSON):
 * {
 *   "version": 1,
 *   "users": { "<username>": { "hash": "scrypt$N$r$p$salt$hash", "acl": [{ "pattern": "sightline/%u/#", "access": "readwrite" }] } },
 *   "anonymous": { "acl": [{ "pattern": "sightline/#", "access": "read" }] }
 * }
 * `anonymous` is optional; without it an anonymous client (when allowed) may read and write
 * everything under the topic prefix.
 */

export const MAX_USERS_FILE_BYTES = 1024 * 1024;

export const accessSchema = z.enum(['read', 'write', 'readwrite'], { error: 'access must be "read", "write" or "readwrite"' });

export const usernameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ . @ - starting with a letter or digit');

const aclRuleSchema = z
  .object({
    pattern: z.string().superRefine((pattern, ctx) => {
      const problem = aclPatternProblem(pattern);
      if (problem !== null) ctx.addIssue({ code: 'custom', message: `ACL pattern ${JSON.stringify(pattern)} ${problem}` });
    }),
    access: accessSchema,
  })
  .strict();

const userSchema = z
  .object({
    hash: z.string().superRefine((hash, ctx) => {
      const parsed = parseHash(hash);
      if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: `bad password hash: ${parsed}` });
    }),
    acl: z.array(aclRuleSchema).max(1000).default([]),
  })
  .strict();

export const usersFileSchema = z
  .object({
    version: z.literal(1, { error: 'version must be 1' }),
    users: z.record(usernameSchema, userSchema).superRefine((users, ctx) => {
      if (Object.keys(users).length > 10000) ctx.addIssue({ code: 'custom', message: 'at most 10000 users' });
    }),
    anonymous: z
      .object({ acl: z.array(aclRuleSchema).max(1000) })
      .strict()
      .optional(),
  })
  .strict();

export type UsersFile = z.infer<typeof usersFileSchema>;
export type UserEntry = UsersFile['users'][string];

export class UsersFileError extends Error {
  constructor(path: string, problem: string) {
    super(`users file ${path}: ${problem}`);
    this.name = 'UsersFileError';
  }
}

export function emptyUsersFile(): UsersFile {
  return { version: 1, users: {} };
}

export function parseUsersFile(text: string, path: string): UsersFile {
  if (text.trim().length === 0) throw new UsersFileError(path, 'is empty (expected JSON like {"version":1,"users":{}})');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new UsersFileError(path, `is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = usersFileSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const where = issue.path.length > 0 ? issue.path.map(String).join('.') : '(top level)';
      const inner = issue.code === 'invalid_key' ? issue.issues[0]?.message : undefined;
      return `${where}: ${inner !== undefined ? `username ${inner}` : issue.message}`;
    });
    throw new UsersFileError(path, `has the wrong shape:\n${problems.map((p) => `    - ${p}`).join('\n')}`);
  }
  return parsed.data;
}

/** Reads and validates the file; `missingOk` returns an empty file when it does not exist. */
export async function readUsersFile(path: string, { missingOk = false } = {}): Promise<UsersFile> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && missingOk) return emptyUsersFile();
    throw new UsersFileError(path, `cannot be read: ${code ?? (err as Error).message}`);
  }
  if (size > MAX_USERS_FILE_BYTES) throw new UsersFileError(path, `is too large (${size} bytes; at most ${MAX_USERS_FILE_BYTES})`);
  let text: string;
  try {
    const handle = await open(path, 'r');
    try {
      const buffer = Buffer.alloc(MAX_USERS_FILE_BYTES + 1);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      if (bytesRead > MAX_USERS_FILE_BYTES) throw new UsersFileError(path, `is too large (more than ${MAX_USERS_FILE_BYTES} bytes)`);
      text = buffer.subarray(0, bytesRead).toString('utf8');
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (err instanceof UsersFileError) throw err;
    throw new UsersFileError(path, `cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseUsersFile(text, path);
}

/** Writes a file with mode 0600 atomically (temporary file, then rename). */

export async function writeUsersFile(path: string, file: UsersFile): Promise<void> {
  const checked = usersFileSchema.parse(file);
  // Provisioning on first start writes the file before anything else made its folder.
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  writeFileAtomic(path, `${JSON.stringify(checked, null, 2)}\n`, { mode: 0o600 });
}

export function prefixRules(prefix: string, access: AclRule['access'] = 'readwrite'): AclRule[] {
  return [{ pattern: `${prefix}/#`, access }];
}
