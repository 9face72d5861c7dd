import { loadDataFile } from '@sightline/kit';
import { catalogSchema, type Catalog } from '@sightline/schemas';

/** A catalog is at most a few thousand products; a bigger file is a mistake. */
export const MAX_CATALOG_BYTES = 8 * 1024 * 1024;

export class CatalogError extends Error {
  readonly problems: string[];
  constructor(file: string, problems: string[]) {
    super(`catalog ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'CatalogError';
    this.problems = problems;
  }
}

/** Reads and checks a catalog (YAML or JSON); every problem is reported in one CatalogError. */
export function loadCatalog(file: string, label = 'catalog'): Catalog {
  const { value, problems } = loadDataFile(label, file, catalogSchema, MAX_CATALOG_BYTES);
  if (!value) throw new CatalogError(file, problems);
  return value;
}
