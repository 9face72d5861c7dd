import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { DEFAULT_TOPIC_PREFIX } from '@sightline/schemas';
import { generatePassword, hashPassword } from '@sightline/kit';
import { prefixRules, readUsersFile, writeUsersFile } from '../../services/broker/src/users-file.ts';
import { stackCredentials } from '../../infra/stack/services.ts';
import type { Credentials } from './broker-flood.ts';
import { FUZZ_USER } from './options.ts';

/** The fuzzer's own broker account, with the right to write every channel it attacks. */

/** Adds the fuzzer's user (read and write under the prefix) to the stack's users file, creating the file if missing. */
export async function addFuzzUser(dataDir: string): Promise<{ path: string; credentials: Credentials }> {
  const path = stackCredentials(dataDir).usersFile;
  mkdirSync(dirname(path), { recursive: true });
  const file = await readUsersFile(path, { missingOk: true });
  const password = generatePassword();
  file.users[FUZZ_USER] = { hash: await hashPassword(password), acl: prefixRules(DEFAULT_TOPIC_PREFIX, 'readwrite') };
  await writeUsersFile(path, file);
  return { path, credentials: { username: FUZZ_USER, password } };
}

/** Publishes on a probe topic and waits to receive it: proof that the broker lets this client write. */
async function checkWrite(client: MqttClient): Promise<boolean> {
  const probe = `${DEFAULT_TOPIC_PREFIX}/fuzz/write-check`;
  await client.subscribeAsync(probe, { qos: 1 });
  const received = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 5000);
    client.on('message', (topic) => {
      if (topic === probe) {
        clearTimeout(timer);
        resolve(true);
      }
    });
  });
  await client.publishAsync(probe, 'fuzz', { qos: 1 });
  const ok = await received;
  await client.unsubscribeAsync(probe);
  return ok;
}

export async function connectFuzzer(
  port: number,
  credentials: Credentials,
  seed: string,
  log: (line: string) => void,
): Promise<{ client: MqttClient; connectedAs: string }> {
  const base = { clientId: `fuzz-harness-${seed}`, reconnectPeriod: 1000, connectTimeout: 10_000, queueQoSZero: false, protocolVersion: 4 as const };
  let client: MqttClient;
  let connectedAs: string;
  try {
    client = await connectAsync(`mqtt://127.0.0.1:${port}`, { ...base, username: credentials.username, password: credentials.password });
    connectedAs = `user ${credentials.username}`;
  } catch (err) {
    log(`the broker refused user ${credentials.username} (${(err as Error).message}); connecting anonymously`);
    client = await connectAsync(`mqtt://127.0.0.1:${port}`, base);
    connectedAs = `anonymous (user ${credentials.username} refused: ${(err as Error).message})`;
  }
  client.on('error', () => undefined);
  if (!(await checkWrite(client))) {
    await client.endAsync(true);
    throw new Error(
      `connected as ${connectedAs}, but a publish under ${DEFAULT_TOPIC_PREFIX}/ did not come back: this client may not write, every hostile message would be dropped`,
    );
  }
  return { client, connectedAs };
}
