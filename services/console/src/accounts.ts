import { statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { generatePassword, hashPassword, parseHash, readSmallFile, verifyAgainstDummy, verifyPassword, whyUnreadable, writeFileAtomic } from '@sightline/kit';

/**
 * Console accounts (JSON), kept by the console and hashed like the broker's users:
 * { "version": 1, "users": { "<name>": { "hash": "scrypt$N$r$p$salt$hash", "role": "operator" | "viewer" } } }
 * An operator may change things (acknowledge alerts, switch models, send lane controls, edit
 * zones); a viewer may only look. The file is read again at each login, so an account added or
 * removed with the CLI counts at once; sessions of a removed account end at their next request.
 */
export const MAX_ACCOUNTS_FILE_BYTES = 256 * 1024;
export const ROLES = ['operator', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

export const accountNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ . @ - starting with a letter or digit');

/** Long enough to matter, short enough that hashing it costs nothing extra. */
export const passwordSchema = z.string().min(12, 'must be at least 12 characters').max(256, 'must be at most 256 characters');

const accountSchema = z.strictObject({
  hash: z.string().superRefine((hash, ctx) => {
    const parsed = parseHash(hash);
    if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: `bad password hash: ${parsed}` });
  }),
  role: z.enum(ROLES, { error: `role must be ${ROLES.join(' or ')}` }),
});

export const accountsFileSchema = z.strictObject({
  version: z.literal(1, { error: 'version must be 1' }),
  users: z.record(accountNameSchema, accountSchema).refine((users) => Object.keys(users).length <= 1000, 'at most 1000 accounts'),
});
export type AccountsFile = z.infer<typeof accountsFileSchema>;

export class AccountsFileError extends Error {
  override name = 'AccountsFileError';
}

export function readAccounts(file: string, { missingOk = false } = {}): AccountsFile {
  let text: string;
  try {
    text = readSmallFile(file, MAX_ACCOUNTS_FILE_BYTES);
  } catch (err) {
    if (missingOk && (err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, users: {} };
    throw new AccountsFileError(`accounts file ${file}: ${whyUnreadable(err)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new AccountsFileError(`accounts file ${file}: not JSON (${(err as Error).message})`);
  }
  const parsed = accountsFileSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(file)'}: ${i.message}`).join('; ');
    throw new AccountsFileError(`accounts file ${file}: ${problems}`);
  }
  return parsed.data;
}

/** The file as last read, while its inode, size and times are unchanged (writers replace it whole: a new inode). */
const parsedFiles = new Map<string, { signature: string; accounts: AccountsFile }>();

/**
 * The accounts as the file says now, for looking up only (never changed in place): checked on every
 * request, it is parsed again only when the file changed, so a request costs one stat.
 */
function lookupAccounts(file: string): AccountsFile {
  let signature: string;
  try {
    const stat = statSync(file);
    signature = `${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, users: {} };
    throw new AccountsFileError(`accounts file ${file}: ${whyUnreadable(err)}`);
  }
  const cached = parsedFiles.get(file);
  if (cached?.signature === signature) return cached.accounts;
  const accounts = readAccounts(file, { missingOk: true });
  parsedFiles.set(file, { signature, accounts });
  return accounts;
}

export async function writeAccounts(file: string, accounts: AccountsFile): Promise<void> {
  const checked = accountsFileSchema.parse(accounts);
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  writeFileAtomic(file, `${JSON.stringify(checked, null, 2)}\n`, { mode: 0o600 });
}

export async function setAccount(file: string, name: string, password: string, role: Role): Promise<void> {
  const accounts = readAccounts(file, { missingOk: true });
  accounts.users[accountNameSchema.parse(name)] = { hash: await hashPassword(passwordSchema.parse(password)), role };
  await writeAccounts(file, accounts);
}

/**
 * First start with no accounts: an operator `admin` with a random password written to
 * `passwordFile` (0600), as the broker provisions its users. Returns whether it made one.
 */
export async function provisionAdmin(file: string, passwordFile: string): Promise<boolean> {
  const accounts = readAccounts(file, { missingOk: true });
  if (Object.keys(accounts.users).length > 0) return false;
  const password = generatePassword();
  await mkdir(dirname(passwordFile), { recursive: true, mode: 0o700 });
  writeFileAtomic(passwordFile, password, { mode: 0o600 });
  await setAccount(file, 'admin', password, 'operator');
  return true;
}

export interface Account {
  name: string;
  role: Role;
  /** The hash it was checked against: a password change ends the sessions made with the old one. */
  hash: string;
}

/** The account when the password is right, else null; an unknown name costs as much as a wrong password. */
export async function checkLogin(file: string, name: string, password: string): Promise<Account | null> {
  const accounts = lookupAccounts(file);
  const entry = Object.hasOwn(accounts.users, name) ? accounts.users[name] : undefined;
  if (entry === undefined) return verifyAgainstDummy(password).then(() => null);
  return (await verifyPassword(password, entry.hash)) ? { name, role: entry.role, hash: entry.hash } : null;
}

/** The account as the file says now (null when removed), for checking a session is still good. */
export function currentAccount(file: string, name: string): Account | null {
  const accounts = lookupAccounts(file);
  const entry = Object.hasOwn(accounts.users, name) ? accounts.users[name] : undefined;
  return entry === undefined ? null : { name, role: entry.role, hash: entry.hash };
}
