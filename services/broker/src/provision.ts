import { access, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@sightline/kit';
import { integratorAccessRules, serviceAccessRules, type BusService } from '@sightline/schemas';
import type { AclRule } from './acl.ts';
import { generatePassword, hashPassword, writeFileAtomic } from '@sightline/kit';
import type { ProvisionedUser } from './config.ts';
import { prefixRules, writeUsersFile, type UsersFile } from './users-file.ts';

/** The rights a provisioning entry grants. A role's come from the channel definitions in @sightline/schemas. */
export function provisionedRules(user: ProvisionedUser, topicPrefix: string): AclRule[] {
  switch (user.rights) {
    case 'service':
      return serviceAccessRules(user.username as BusService, topicPrefix);
    case 'integrator':
      return integratorAccessRules(topicPrefix);
    default:
      return prefixRules(topicPrefix, user.rights);
  }
}

function sameRules(a: readonly AclRule[], b: readonly AclRule[]): boolean {
  return a.length === b.length && a.every((rule, i) => rule.pattern === b[i]!.pattern && rule.access === b[i]!.access);
}

/**
 * Container provisioning: every listed user missing from the users file gets a random password
 * (written to `<dir>/<name>`, mode 0600, for the service's SIGHTLINE_MQTT_PASSWORD_FILE) and the
 * listed rights. A role entry (`name:service`, `name:integrator`) has its rights derived again at
 * every start, keeping its password, so they follow the channel definitions; other existing
 * users are left alone.
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
  const next: UsersFile = { ...file, users: { ...file.users } };
  const passwords = new Map<string, string>();
  const rederived: string[] = [];
  for (const user of wanted) {
    const { username } = user;
    const rules = provisionedRules(user, topicPrefix);
    const existing = Object.hasOwn(file.users, username) ? file.users[username] : undefined;
    if (existing === undefined) {
      const password = generatePassword();
      passwords.set(username, password);
      next.users[username] = { hash: await hashPassword(password), acl: rules };
      continue;
    }
    if ((user.rights === 'service' || user.rights === 'integrator') && !sameRules(existing.acl, rules)) {
      next.users[username] = { ...existing, acl: rules };
      rederived.push(username);
    }
    const hasPasswordFile = await access(join(dir, username)).then(
      () => true,
      () => false,
    );
    if (!hasPasswordFile) log.warn({ username, dir }, 'user exists but has no password file in the provision dir; set one with the users CLI (passwd)');
  }
  if (passwords.size === 0 && rederived.length === 0) return file;
  if (passwords.size > 0) await mkdir(dir, { recursive: true, mode: 0o700 });
  // Password files first: a users file naming a user whose password nobody knows is worse than a stray file.
  for (const [name, password] of passwords) writeFileAtomic(join(dir, name), password, { mode: 0o600 });
  await writeUsersFile(usersFile, next);
  if (passwords.size > 0) log.info({ usernames: [...passwords.keys()], dir }, 'provisioned users');
  if (rederived.length > 0) log.info({ usernames: rederived }, 'provisioned roles: rights derived again from the channel definitions');
  return next;
}
