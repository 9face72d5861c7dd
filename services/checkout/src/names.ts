import type { CatalogIndex } from '@sightline/catalog';
import { MAX_SPOKEN_LINES, type BasketItem, type Product, type ProductRef, type SpokenLine, type SpokenLines } from '@sightline/schemas';

/** Products and basket lines named in the language the shopper hears now (which may change mid-basket). */
export class LaneNames {
  readonly #catalog: CatalogIndex;
  readonly #locale: () => string;

  constructor(catalog: CatalogIndex, locale: () => string) {
    this.#catalog = catalog;
    this.#locale = locale;
  }

  ref(product: Product, label: string): ProductRef {
    return this.#catalog.ref(product, label, this.#locale());
  }

  /** A basket item's product; one the catalog no longer sells is named by the item's stored name. */
  forItem(item: BasketItem): ProductRef {
    const product = this.#catalog.bySku(item.sku);
    return product ? this.ref(product, product.labels[0]!) : { sku: item.sku, label: item.sku, name: item.name, spoken: { one: item.name } };
  }

  /** A basket line as it is said; an item the catalog no longer sells is priced per item (its weight is not said). */
  line(item: BasketItem): SpokenLine {
    const pricing = this.#catalog.bySku(item.sku)?.price.per ?? 'unit';
    return { product: this.forItem(item), pricing, quantity: item.quantity, weightGrams: item.weightGrams, priceMinor: item.priceMinor };
  }

  /** The basket read line by line (a receipt, a read-out): the first MAX_SPOKEN_LINES lines, then how many more. */
  read(items: readonly BasketItem[]): SpokenLines {
    return { lines: items.slice(0, MAX_SPOKEN_LINES).map((item) => this.line(item)), more: Math.max(0, items.length - MAX_SPOKEN_LINES) };
  }
}
