import type { Logger } from '@sightline/kit';

/**
 * A warning per kind of event that a hostile client can repeat at will (a closed connection, a
 * refused retained message): the first is logged at once, then at most one line per `everyMs`
 * with the number of events since the last line. Kinds are a fixed set named in code.
 */
export function createThrottledWarn(log: Pick<Logger, 'warn'>, everyMs = 10_000, now: () => number = () => performance.now()) {
  const kinds = new Map<string, { last: number; suppressed: number }>();
  return (kind: string, fields: Record<string, unknown>, message: string): void => {
    const t = now();
    const state = kinds.get(kind);
    if (state !== undefined && t - state.last < everyMs) {
      state.suppressed += 1;
      return;
    }
    const suppressed = state?.suppressed ?? 0;
    kinds.set(kind, { last: t, suppressed: 0 });
    log.warn(suppressed > 0 ? { ...fields, sinceLastLine: suppressed } : fields, message);
  };
}
