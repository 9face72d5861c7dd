import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { z } from 'zod';
import { loadDataFile, readSmallFile } from '../src/index.ts';

const schema = z.strictObject({ name: z.string(), count: z.number().int() });

test('config data files: YAML or JSON in, every problem out with the file and the place', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sightline-files-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const at = path.join(dir, name);
    writeFileSync(at, text);
    return at;
  };
  assert.deepEqual(loadDataFile('X', file('a.yaml', 'name: a\ncount: 2\n'), schema, 1024), { value: { name: 'a', count: 2 }, problems: [] });
  assert.deepEqual(loadDataFile('X', file('a.json', '{"name":"a","count":2}'), schema, 1024).value, { name: 'a', count: 2 });
  const problems = (at: string, limit = 1024) => loadDataFile('X', at, schema, limit).problems.join('\n');
  assert.match(problems(path.join(dir, 'none.yaml')), /^X: .*none\.yaml does not exist$/);
  assert.match(problems(file('empty.yaml', ' \n')), /is empty/);
  assert.match(problems(file('bad.json', '{"name":')), /is not valid JSON/);
  assert.match(problems(file('bad.yaml', 'name: [a\n')), /is not valid YAML/);
  assert.match(problems(file('dup.yaml', 'name: a\nname: b\ncount: 1\n')), /is not valid YAML/);
  assert.match(problems(file('wrong.yaml', 'name: 3\ncount: 1.5\nextra: x\n')), /name: .*\n.*count: .*\n.*extra/s);
  assert.match(problems(file('big.yaml', `# ${'x'.repeat(2000)}`)), /is larger than 1024 bytes/);
  const bomb =
    'a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n';
  assert.match(problems(file('bomb.yaml', bomb)), /cannot be read as YAML|not valid YAML/);
  mkdirSync(path.join(dir, 'folder.yaml'));
  assert.match(problems(path.join(dir, 'folder.yaml')), /is a folder/);
  assert.equal(readSmallFile(file('small.txt', 'hello'), 5), 'hello');
  assert.throws(() => readSmallFile(file('six.txt', 'hello!'), 5), /larger than 5 bytes/);
});
