#!/usr/bin/env node
import { readPassword } from '@sightline/kit';
import { accountNameSchema, AccountsFileError, passwordSchema, readAccounts, ROLES, setAccount, writeAccounts, type Role } from './accounts.ts';

const USAGE = `usage:
  users-cli.ts add <name> [--role operator|viewer]   (default viewer; also changes a password or role)
  users-cli.ts remove <name>
  users-cli.ts list
The accounts file is SIGHTLINE_CONSOLE_USERS_FILE, else <SIGHTLINE_DATA_DIR or .data>/console/users.json.
The password is read from stdin (one line; prompted for when stdin is a terminal), at least 12 characters.
Changes count at once: the console reads the file at every login and request.
Exit codes: 0 done, 1 failed, 2 bad usage.`;

class UsageError extends Error {}

function accountsFile(): string {
  return process.env.SIGHTLINE_CONSOLE_USERS_FILE ?? `${process.env.SIGHTLINE_DATA_DIR ?? '.data'}/console/users.json`;
}

function parseName(value: string | undefined): string {
  if (value === undefined) throw new UsageError('missing <name>');
  const parsed = accountNameSchema.safeParse(value);
  if (!parsed.success) throw new UsageError(`name ${JSON.stringify(value)} ${parsed.error.issues[0]?.message ?? 'is invalid'}`);
  return parsed.data;
}

async function run(args: string[]): Promise<void> {
  const [command, ...rest] = args;
  const file = accountsFile();
  switch (command) {
    case 'add': {
      const name = parseName(rest[0]);
      const roleAt = rest.indexOf('--role');
      const role = (roleAt >= 0 ? rest[roleAt + 1] : 'viewer') as Role;
      if (!ROLES.includes(role)) throw new UsageError(`--role must be ${ROLES.join(' or ')}`);
      const password = passwordSchema.safeParse(await readPassword());
      if (!password.success) throw new Error(`password ${password.error.issues[0]?.message}`);
      await setAccount(file, name, password.data, role);
      process.stderr.write(`${name} (${role}) saved in ${file}\n`);
      return;
    }
    case 'remove': {
      const name = parseName(rest[0]);
      const accounts = readAccounts(file);
      if (!Object.hasOwn(accounts.users, name)) throw new Error(`no account ${name} in ${file}`);
      delete accounts.users[name];
      await writeAccounts(file, accounts);
      process.stderr.write(`${name} removed; its sessions end at their next request\n`);
      return;
    }
    case 'list': {
      const accounts = readAccounts(file, { missingOk: true });
      for (const [name, { role }] of Object.entries(accounts.users)) process.stdout.write(`${name}\t${role}\n`);
      return;
    }
    default:
      throw new UsageError(command === undefined ? 'missing command' : `unknown command ${command}`);
  }
}

try {
  await run(process.argv.slice(2));
} catch (err) {
  if (err instanceof UsageError) {
    process.stderr.write(`${err.message}\n${USAGE}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`${err instanceof AccountsFileError ? err.message : (err as Error).message}\n`);
    process.exitCode = 1;
  }
}
