/**
 * Money and weight arithmetic. No floating-point money: a weight is turned into whole milligrams
 * once (scales report at best 0.1 g, so nothing is lost), and every price is computed in BigInt
 * from integers, rounded half up.
 */

const MG_PER_KG = 1_000_000n;

/** Grams (as a scale reports them, possibly fractional) to whole milligrams. */
export function gramsToMilligrams(grams: number): bigint {
  if (!Number.isFinite(grams) || grams < 0) throw new RangeError(`not a weight: ${grams}`);
  // toFixed(3) rounds the decimal representation, so 0.1 + 0.2 g becomes 300 mg, not 300.00000000000006.
  return BigInt(grams.toFixed(3).replace('.', ''));
}

/** `grams` x `minorPerKg` / 1000, rounded half up to a whole minor unit. */
export function pricePerKg(grams: number, minorPerKg: number): number {
  if (!Number.isSafeInteger(minorPerKg) || minorPerKg < 0) throw new RangeError(`not a price: ${minorPerKg}`);
  const mg = gramsToMilligrams(grams);
  const scaled = mg * BigInt(minorPerKg);
  return Number((scaled + MG_PER_KG / 2n) / MG_PER_KG);
}

export function pricePerUnit(quantity: number, minorPerUnit: number): number {
  if (!Number.isSafeInteger(quantity) || quantity < 1) throw new RangeError(`not a quantity: ${quantity}`);
  if (!Number.isSafeInteger(minorPerUnit) || minorPerUnit < 0) throw new RangeError(`not a price: ${minorPerUnit}`);
  return Number(BigInt(quantity) * BigInt(minorPerUnit));
}

export interface WeightRange {
  min: number;
  max: number;
}

/** The grams `quantity` items should weigh, widened by the scale tolerance. */
export function expectedRange(weight: WeightRange, quantity: number, toleranceGrams: number): WeightRange {
  return {
    min: Math.max(0, roundGrams(weight.min * quantity - toleranceGrams)),
    max: roundGrams(weight.max * quantity + toleranceGrams),
  };
}

/** Compared in milligrams so a reading exactly on the edge is inside. */
export function withinRange(grams: number, range: WeightRange): boolean {
  const mg = gramsToMilligrams(grams);
  return mg >= gramsToMilligrams(range.min) && mg <= gramsToMilligrams(range.max);
}

/** Grams to at most 0.1 g resolution without float tails (182.30000000000001 -> 182.3). */
export function roundGrams(grams: number): number {
  return Math.round(grams * 10) / 10;
}
