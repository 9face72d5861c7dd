export { indexCatalog, loadCatalog, MAX_CATALOG_FILE_BYTES, SAMPLE_CATALOG_FILE, type CatalogIndex } from './catalog.ts';
