/** Token bucket per key (remote IP): `rate` tokens per second, holding at most `burst`. A rate of 0 disables it. */
export interface RateLimiter {
  take(key: string): boolean;
  size(): number;
}

const MAX_TRACKED = 10000;

export function createRateLimiter(rate: number, burst: number, now: () => number = () => performance.now()): RateLimiter {
  const buckets = new Map<string, { tokens: number; at: number }>();

  function refill(bucket: { tokens: number; at: number }, t: number): void {
    bucket.tokens = Math.min(burst, bucket.tokens + ((t - bucket.at) / 1000) * rate);
    bucket.at = t;
  }

  function sweep(t: number): void {
    for (const [key, bucket] of buckets) {
      refill(bucket, t);
      if (bucket.tokens >= burst) buckets.delete(key);
    }
  }

  return {
    take(key) {
      if (rate <= 0) return true;
      const t = now();
      let bucket = buckets.get(key);
      if (bucket === undefined) {
        if (buckets.size >= MAX_TRACKED) sweep(t);
        bucket = { tokens: burst, at: t };
        buckets.set(key, bucket);
      } else {
        refill(bucket, t);
      }
      if (bucket.tokens < 1) return false;
      bucket.tokens -= 1;
      return true;
    },
    size: () => buckets.size,
  };
}
