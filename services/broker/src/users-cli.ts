#!/usr/bin/env node
import { aclPatternProblem, type AclRule } from './acl.ts';
import { hashPassword, readPassword } from '@sightline/kit';
import { readUsersFile, usernameSchema, UsersFileError, writeUsersFile } from './users-file.ts';

const USAGE = `usage:
  users-cli.ts add <users-file> <username> [--read PATTERN]... [--write PATTERN]... [--readwrite PATTERN]...
  users-cli.ts passwd <users-file> <username>
  users-cli.ts remove <users-file> <username>
  users-cli.ts list <users-file>
  users-cli.ts hash
The password is read from stdin (one line; prompted for when stdin is a terminal).
Patterns are MQTT filters; %u is the username, %c the client id.
Exit codes: 0 done, 1 failed, 2 bad usage.`;

class UsageError extends Error {}

function parseUsername(value: string | undefined): string {
  if (value === undefined) throw new UsageError('missing <username>');
  const parsed = usernameSchema.safeParse(value);
  if (!parsed.success) throw new UsageError(`username ${JSON.stringify(value)} ${parsed.error.issues[0]?.message ?? 'is invalid'}`);
  return parsed.data;
}

function parseRules(args: string[]): AclRule[] {
  const rules: AclRule[] = [];
  for (let i = 0; i < args.length; i += 2) {
    const flag = args[i]!;
    const pattern = args[i + 1];
    const access = ({ '--read': 'read', '--write': 'write', '--readwrite': 'readwrite' } as const)[flag as '--read'];
    if (access === undefined) throw new UsageError(`unknown option ${flag}`);
    if (pattern === undefined) throw new UsageError(`${flag} needs a PATTERN`);
    const problem = aclPatternProblem(pattern);
    if (problem !== null) throw new UsageError(`pattern ${JSON.stringify(pattern)} ${problem}`);
    rules.push({ pattern, access });
  }
  return rules;
}

export async function run(argv: string[]): Promise<number> {
  const [command, file, ...rest] = argv;
  try {
    switch (command) {
      case 'hash': {
        if (file !== undefined) throw new UsageError('hash takes no arguments');
        process.stdout.write(`${await hashPassword(await readPassword())}\n`);
        return 0;
      }
      case 'add': {
        if (file === undefined) throw new UsageError('missing <users-file>');
        const username = parseUsername(rest[0]);
        const rules = parseRules(rest.slice(1));
        const users = await readUsersFile(file, { missingOk: true });
        if (Object.hasOwn(users.users, username)) throw new Error(`user ${username} already exists (use passwd to change the password)`);
        users.users[username] = { hash: await hashPassword(await readPassword()), acl: rules };
        await writeUsersFile(file, users);
        process.stderr.write(`added ${username}${rules.length === 0 ? ' (no ACL rules: it can connect but neither read nor write)' : ''}\n`);
        return 0;
      }
      case 'passwd': {
        if (file === undefined) throw new UsageError('missing <users-file>');
        const username = parseUsername(rest[0]);
        if (rest.length > 1) throw new UsageError('passwd takes <users-file> <username>');
        const users = await readUsersFile(file);
        const entry = Object.hasOwn(users.users, username) ? users.users[username] : undefined;
        if (entry === undefined) throw new Error(`no user ${username} in ${file}`);
        entry.hash = await hashPassword(await readPassword());
        await writeUsersFile(file, users);
        process.stderr.write(`changed the password of ${username}\n`);
        return 0;
      }
      case 'remove': {
        if (file === undefined) throw new UsageError('missing <users-file>');
        const username = parseUsername(rest[0]);
        if (rest.length > 1) throw new UsageError('remove takes <users-file> <username>');
        const users = await readUsersFile(file);
        if (!Object.hasOwn(users.users, username)) throw new Error(`no user ${username} in ${file}`);
        delete users.users[username];
        await writeUsersFile(file, users);
        process.stderr.write(`removed ${username}\n`);
        return 0;
      }
      case 'list': {
        if (file === undefined) throw new UsageError('missing <users-file>');
        if (rest.length > 0) throw new UsageError('list takes <users-file>');
        const users = await readUsersFile(file);
        for (const [name, entry] of Object.entries(users.users)) {
          const rules = entry.acl.map((rule) => `${rule.access} ${rule.pattern}`).join(', ');
          process.stdout.write(`${name}\t${rules || '(no rights)'}\n`);
        }
        return 0;
      }
      default:
        throw new UsageError(command === undefined ? 'missing command' : `unknown command ${command}`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`error: ${err.message}\n${USAGE}\n`);
      return 2;
    }
    const message = err instanceof UsersFileError || err instanceof Error ? err.message : String(err);
    process.stderr.write(`error: ${message}\n`);
    return 1;
  }
}

if (import.meta.main) process.exitCode = await run(process.argv.slice(2));
