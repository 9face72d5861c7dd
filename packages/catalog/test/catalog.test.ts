import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { indexCatalog, loadCatalog, SAMPLE_CATALOG_FILE } from '../src/index.ts';

const SETTING = 'SIGHTLINE_TEST_CATALOG_FILE';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'sightline-catalog-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function problemsOf(file: string): string[] {
  const { catalog, problems } = loadCatalog(file, SETTING);
  assert.equal(catalog, undefined, 'the catalog was accepted');
  assert.ok(problems.length > 0);
  for (const problem of problems) assert.ok(problem.startsWith(`${SETTING}: ${file}`), `problem names the setting and the file: ${problem}`);
  return problems;
}

test('the sample catalog holds the grocery classes of the default detector, priced both ways', () => {
  const { catalog, problems } = loadCatalog(SAMPLE_CATALOG_FILE, SETTING);
  assert.deepEqual(problems, []);
  assert.ok(catalog);
  assert.equal(catalog.catalog.currency, 'USD');
  assert.deepEqual(catalog.catalog.locales, ['en-US', 'es-ES']);
  for (const label of ['banana', 'apple', 'orange', 'broccoli', 'carrot', 'bottle', 'cup', 'donut', 'sandwich', 'hot dog', 'pizza', 'cake', 'wine glass']) {
    const product = catalog.byLabel(label);
    assert.ok(product, label);
    assert.ok(product.name['en-US'] && product.name['es-ES'] && product.spoken?.['es-ES']?.article, label);
  }
  assert.equal(catalog.byLabel('orange')!.price.per, 'kg');
  assert.deepEqual(catalog.byLabel('orange')!.weight, { min: 120, max: 260 });
  assert.equal(catalog.byLabel('bottle')!.price.per, 'unit');
  assert.equal(catalog.byLabel('person'), undefined);
  assert.equal(catalog.bySku(catalog.byLabel('orange')!.sku), catalog.byLabel('orange'));
  assert.equal(catalog.bySku('NO-SUCH-SKU'), undefined);
});

test('labels are looked up the way every service compares them: trimmed, any case', () => {
  const { catalog } = loadCatalog(SAMPLE_CATALOG_FILE, SETTING);
  assert.equal(catalog!.byLabel('  Orange ')?.sku, catalog!.byLabel('orange')?.sku);
  assert.equal(catalog!.byLabel('HOT DOG')?.sku, catalog!.byLabel('hot dog')?.sku);
  const shouting = indexCatalog({ ...catalog!.catalog, products: [{ ...catalog!.catalog.products[0]!, labels: ['BANANA'] }] });
  assert.equal(shouting.byLabel('banana')?.sku, catalog!.catalog.products[0]!.sku);
});

test('a product is named and spoken in the lane locale, falling back to the first catalog locale', () => {
  const { catalog } = loadCatalog(SAMPLE_CATALOG_FILE, SETTING);
  const orange = catalog!.byLabel('orange')!;
  const es = catalog!.ref(orange, 'orange', 'es-ES');
  assert.deepEqual({ sku: es.sku, label: es.label, name: es.name }, { sku: orange.sku, label: 'orange', name: orange.name['es-ES'] });
  assert.deepEqual(es.spoken, orange.spoken!['es-ES']);
  const fr = catalog!.ref(orange, 'x'.repeat(300), 'fr-FR');
  assert.equal(fr.name, orange.name['en-US']);
  assert.deepEqual(fr.spoken, { one: orange.name['en-US'] });
  assert.equal(fr.label.length, 256);
});

test('catalog file: missing, empty, corrupt, a folder, a YAML bomb, too big or invalid is refused with every problem', (t) => {
  const dir = tempDir(t);
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  assert.match(problemsOf(join(dir, 'nope.yaml')).join('\n'), /nope\.yaml does not exist/);
  assert.match(problemsOf(file('empty.yaml', '  \n')).join('\n'), /is empty/);
  assert.match(problemsOf(file('bad.yaml', 'currency: [USD\nlocales: :')).join('\n'), /not valid YAML/);
  assert.match(problemsOf(file('bad.json', '{"currency": "USD",')).join('\n'), /not valid JSON/);
  mkdirSync(join(dir, 'folder.yaml'));
  assert.match(problemsOf(join(dir, 'folder.yaml')).join('\n'), /is a folder/);
  const bomb = file(
    'bomb.yaml',
    `a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n`,
  );
  problemsOf(bomb);
  assert.match(problemsOf(file('big.yaml', `# ${'x'.repeat(9 * 1024 * 1024)}`)).join('\n'), /larger than/);
  const invalid = problemsOf(
    file(
      'invalid.yaml',
      'currency: XXXX\nlocales: [en-US]\nproducts:\n  - sku: A\n    labels: [a]\n    name: { en-US: "<b>A</b>" }\n    price: { per: unit, minor: -1 }\n    weight: { min: 10, max: 5 }\n',
    ),
  ).join('\n');
  for (const expected of ['currency', 'products.0.name.en-US', 'products.0.price.minor', 'products.0.weight'])
    assert.ok(invalid.includes(expected), `${expected} in:\n${invalid}`);
});
