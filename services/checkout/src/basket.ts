import { randomUUID } from 'node:crypto';
import type { Basket, BasketItem } from '@sightline/schemas';

export const MAX_BASKET_ITEMS = 1000;

export function newBasket(lane: string, currency: string, now: number): Basket {
  return { id: `basket-${randomUUID()}`, lane, status: 'open', currency, items: [], count: 0, totalMinor: 0, updatedAt: now };
}

/** Count and total always recomputed from the items, in integers. */
export function withItems(basket: Basket, items: BasketItem[], now: number): Basket {
  let total = 0;
  let count = 0;
  for (const item of items) {
    total += item.priceMinor;
    count += item.quantity;
  }
  if (!Number.isSafeInteger(total)) throw new RangeError('basket total overflow');
  return { ...basket, items, count, totalMinor: total, updatedAt: now };
}

export function summary(basket: Basket): { id: string; count: number; totalMinor: number } {
  return { id: basket.id, count: basket.count, totalMinor: basket.totalMinor };
}
