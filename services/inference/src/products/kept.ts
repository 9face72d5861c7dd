import { UPLOAD_LIMITS } from '../pipeline/image.ts';
import { ProductError } from './store.ts';

/** How long sync may take to hand over one kept image (it may read it back from blob storage). */
export const KEPT_TIMEOUT_MS = 15_000;

/**
 * Fetches frames the sync service kept (`GET <sync>/kept/<name>`), with the shared HTTP token.
 * The name was checked against `keptImageNameSchema` before it gets here; each of its levels is
 * still percent-encoded. Redirects are not followed, the answer must be an image and is read up to
 * the upload limit. Refusals are ProductErrors: 404 when sync has no such image, 400 when it
 * refuses the name, 502 for any other answer, 503 when it cannot be reached in time.
 */
export function keptImageFetcher(baseUrl: string, token: string | null, timeoutMs = KEPT_TIMEOUT_MS): (name: string) => Promise<Buffer> {
  const base = baseUrl.replace(/\/+$/, '');
  return async (name) => {
    const url = `${base}/kept/${name.split('/').map(encodeURIComponent).join('/')}`;
    const signal = AbortSignal.timeout(timeoutMs);
    let response: Response;
    try {
      response = await fetch(url, {
        headers: { accept: 'image/jpeg', ...(token !== null ? { authorization: `Bearer ${token}` } : {}) },
        redirect: 'error',
        signal,
      });
    } catch (err) {
      const timedOut = (err as Error).name === 'TimeoutError';
      throw new ProductError(503, `the sync service at ${base} ${timedOut ? `did not answer within ${timeoutMs / 1000} s` : 'cannot be reached'}`);
    }
    if (!response.ok) {
      const said = await errorOf(response);
      if (response.status === 404) throw new ProductError(404, `the sync service keeps no image named "${name}"`);
      if (response.status === 400) throw new ProductError(400, `the sync service refused the name: ${said}`);
      throw new ProductError(502, `the sync service answered ${response.status}${said === '' ? '' : `: ${said}`}`);
    }
    const type = response.headers.get('content-type') ?? '';
    if (!type.toLowerCase().startsWith('image/')) {
      await response.body?.cancel();
      throw new ProductError(502, `the sync service answered ${type === '' ? 'no Content-Type' : type}, not an image`);
    }
    try {
      return await readCapped(response, UPLOAD_LIMITS.maxBytes);
    } catch (err) {
      if (err instanceof ProductError) throw err;
      const timedOut = (err as Error).name === 'TimeoutError';
      throw new ProductError(503, `the sync service ${timedOut ? `did not finish sending within ${timeoutMs / 1000} s` : 'stopped sending the image'}`);
    }
  };
}

async function readCapped(response: Response, maxBytes: number): Promise<Buffer> {
  const declared = Number(response.headers.get('content-length') ?? 0);
  if (declared > maxBytes) {
    await response.body?.cancel();
    throw new ProductError(502, `the kept image is ${declared} bytes, over the ${maxBytes} an upload may have`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  if (response.body === null) return Buffer.alloc(0);
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      throw new ProductError(502, `the kept image is over the ${maxBytes} bytes an upload may have`);
    }
    chunks.push(Buffer.from(value.buffer, value.byteOffset, value.length));
  }
  return Buffer.concat(chunks, total);
}

/** The `error` (or `message`) of a JSON error answer, one line, at most 300 characters. */
async function errorOf(response: Response): Promise<string> {
  try {
    const text = (await readCapped(response, 64 * 1024)).toString('utf8');
    const body = JSON.parse(text) as { error?: unknown; message?: unknown };
    const said = typeof body.message === 'string' ? body.message : typeof body.error === 'string' ? body.error : '';
    return said.split('\n')[0]!.slice(0, 300);
  } catch {
    return '';
  }
}
