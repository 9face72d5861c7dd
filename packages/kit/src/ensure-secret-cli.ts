import { ensureSecretFile } from './secret-file.ts';

// `node ensure-secret-cli.ts <file>`: a random secret at <file> unless one is there (containers
// run it before the broker starts, for SIGHTLINE_HTTP_TOKEN_FILE). Never prints the secret.
const [file, ...rest] = process.argv.slice(2);
if (file === undefined || rest.length > 0) {
  process.stderr.write('usage: ensure-secret-cli.ts <file>\n');
  process.exit(2);
}
try {
  process.stdout.write(`${ensureSecretFile(file) ? 'made' : 'kept'} the secret in ${file}\n`);
} catch (err) {
  process.stderr.write(`cannot make the secret in ${file}: ${(err as Error).message}\n`);
  process.exit(1);
}
