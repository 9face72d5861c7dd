import { access, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@sightline/kit';
import { generatePassword, hashPassword } from './passwords.ts';
import type { ProvisionedUser } from './config.ts';
import { prefixRules, writePrivateFile, writeUsersFile, type UsersFile } from './users-file.ts';

/**
 * Container provisioning: every listed user missing from the users file gets a random password
 * (written to `<dir>/<name>`, mode 0600, for the service's SIGHTLINE_MQTT_PASSWORD_FILE) and
 * the listed rights (read+write unless said otherwise) under the topic prefix. Existing users are
 * left alone.
 */
export async function provisionUsers(
  file: UsersFile,
  usersFile: string,
  wanted: readonly ProvisionedUser[],
  dir: string,
  topicPrefix: string,
  logger: Logger,
): Promise<UsersFile> {
  const log = logger.child({ module: 'provision' });
  const missing = wanted.filter(({ username }) => !Object.hasOwn(file.users, username));
  for (const { username: name } of wanted) {
    if (missing.some((m) => m.username === name)) continue;
    const exists = await access(join(dir, name)).then(
      () => true,
      () => false,
    );
    if (!exists) log.warn({ username: name, dir }, 'user exists but has no password file in the provision dir; set one with the users CLI (passwd)');
  }
  if (missing.length === 0) return file;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const next: UsersFile = { ...file, users: { ...file.users } };
  const passwords = new Map<string, string>();
  for (const { username, access } of missing) {
    const password = generatePassword();
    passwords.set(username, password);
    next.users[username] = { hash: await hashPassword(password), acl: prefixRules(topicPrefix, access) };
  }
  // Password files first: a users file naming a user whose password nobody knows is worse than a stray file.
  for (const [name, password] of passwords) await writePrivateFile(join(dir, name), password);
  await writeUsersFile(usersFile, next);
  log.info({ usernames: missing.map((m) => m.username), dir }, 'provisioned users');
  return next;
}
