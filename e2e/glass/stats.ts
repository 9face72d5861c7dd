/** Nearest-rank percentile (as e2e/speech.bench.ts): p95 of 10 values is the largest. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function mean(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length;
}

export interface Summary {
  n: number;
  p50: number;
  p95: number;
  mean: number;
  min: number;
  max: number;
}

export function summarise(values: readonly number[]): Summary {
  const finite = values.filter((v) => Number.isFinite(v));
  return {
    n: finite.length,
    p50: round1(percentile(finite, 50)),
    p95: round1(percentile(finite, 95)),
    mean: round1(mean(finite)),
    min: round1(Math.min(...finite)),
    max: round1(Math.max(...finite)),
  };
}

export function round1(value: number): number {
  return Math.round(value * 10) / 10;
}

export function ms(value: number): string {
  return Number.isFinite(value) ? value.toFixed(0) : '-';
}
