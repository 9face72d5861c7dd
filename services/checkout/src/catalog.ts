import { fileURLToPath } from 'node:url';
import { loadDataFile } from '@sightline/kit';
import { catalogSchema, type Catalog, type Product, type ProductRef } from '@sightline/schemas';

export const SAMPLE_CATALOG_FILE = fileURLToPath(new URL('../catalog/sample.yaml', import.meta.url));
export const MAX_CATALOG_FILE_BYTES = 8 * 1024 * 1024;

export interface CatalogIndex {
  readonly catalog: Catalog;
  /** The product a model label means (case-insensitive), or undefined. */
  byLabel(label: string): Product | undefined;
  /** The product named and spoken in `locale`, as scans and events carry it. */
  ref(product: Product, label: string, locale: string): ProductRef;
}

export function indexCatalog(catalog: Catalog): CatalogIndex {
  const labels = new Map<string, Product>();
  for (const product of catalog.products) {
    for (const label of product.labels) labels.set(normaliseLabel(label), product);
  }
  return {
    catalog,
    byLabel: (label) => labels.get(normaliseLabel(label)),
    ref(product, label, locale) {
      const name = product.name[locale] ?? product.name[catalog.locales[0]!] ?? product.sku;
      return { sku: product.sku, label: label.slice(0, 256), name, spoken: product.spoken?.[locale] ?? { one: name } };
    },
  };
}

export function normaliseLabel(label: string): string {
  return label.trim().toLowerCase();
}

export function loadCatalog(file: string, label = 'SIGHTLINE_CHECKOUT_CATALOG_FILE'): { catalog?: CatalogIndex; problems: string[] } {
  const { value, problems } = loadDataFile(label, file, catalogSchema, MAX_CATALOG_FILE_BYTES);
  return value ? { catalog: indexCatalog(value), problems } : { problems };
}
