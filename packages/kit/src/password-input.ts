import { createInterface } from 'node:readline';

/**
 * A password for a users CLI: prompted twice without echo when stdin is a terminal, else one
 * line read from stdin (so a script can pipe it in and it never shows in `ps`).
 */
export async function readPassword(): Promise<string> {
  const stdin = process.stdin;
  let password: string;
  if (stdin.isTTY) {
    password = await prompt('Password: ');
    const again = await prompt('Again: ');
    if (password !== again) throw new Error('the passwords differ');
  } else {
    const chunks: Buffer[] = [];
    for await (const chunk of stdin) chunks.push(chunk as Buffer);
    password = Buffer.concat(chunks)
      .toString('utf8')
      .replace(/\r?\n$/, '');
  }
  if (password.length === 0) throw new Error('empty password');
  if (password.includes('\n')) throw new Error('the password must be one line');
  return password;
}

function prompt(question: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    const output = rl as unknown as { _writeToOutput: (text: string) => void };
    process.stderr.write(question);
    output._writeToOutput = () => undefined;
    rl.question('', (answer) => {
      rl.close();
      process.stderr.write('\n');
      resolve(answer);
    });
  });
}
