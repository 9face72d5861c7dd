import { fileURLToPath } from 'node:url';
import { loadDataFile } from '@sightline/kit';
import { catalogSchema, normaliseLabel, type Catalog, type Product, type ProductRef } from '@sightline/schemas';

/** The catalog the dev stack sells from: the grocery classes of the default COCO detector. */
export const SAMPLE_CATALOG_FILE = fileURLToPath(new URL('../sample.yaml', import.meta.url));
/** A catalog is at most a few thousand products; a bigger file is a mistake. */
export const MAX_CATALOG_FILE_BYTES = 8 * 1024 * 1024;

export interface CatalogIndex {
  readonly catalog: Catalog;
  /** The product a model label means (compared through `normaliseLabel`), or undefined. */
  byLabel(label: string): Product | undefined;
  /** The product with this SKU, or undefined (one the catalog no longer sells). */
  bySku(sku: string): Product | undefined;
  /** The product named and spoken in `locale`, as scans and events carry it. */
  ref(product: Product, label: string, locale: string): ProductRef;
}

export function indexCatalog(catalog: Catalog): CatalogIndex {
  const labels = new Map<string, Product>();
  const skus = new Map<string, Product>();
  for (const product of catalog.products) {
    skus.set(product.sku, product);
    for (const label of product.labels) labels.set(normaliseLabel(label), product);
  }
  return {
    catalog,
    byLabel: (label) => labels.get(normaliseLabel(label)),
    bySku: (sku) => skus.get(sku),
    ref(product, label, locale) {
      const name = product.name[locale] ?? product.name[catalog.locales[0]!] ?? product.sku;
      return { sku: product.sku, label: label.slice(0, 256), name, spoken: product.spoken?.[locale] ?? { one: name } };
    },
  };
}

/**
 * Reads (YAML or JSON, at most MAX_CATALOG_FILE_BYTES), checks against `catalogSchema` and
 * indexes a catalog. Every problem is returned, each prefixed with `setting` (the environment
 * variable that named the file), so a service reports them with its other configuration problems.
 */
export function loadCatalog(file: string, setting: string): { catalog?: CatalogIndex; problems: string[] } {
  const { value, problems } = loadDataFile(setting, file, catalogSchema, MAX_CATALOG_FILE_BYTES);
  return value ? { catalog: indexCatalog(value), problems } : { problems };
}
