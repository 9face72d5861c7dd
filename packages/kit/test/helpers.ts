import { waitUntil } from '../src/testing.ts';

export { startTestBroker } from '../src/testing.ts';

/** `waitUntil` with the arguments in the order these tests use. */
export function until(check: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  return waitUntil(what, check, timeoutMs);
}
