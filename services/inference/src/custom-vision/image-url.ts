import { ImageError, IMAGE_BYTES_LIMIT } from './prediction-api.ts';

/**
 * Fetching the image a Custom Vision `/url` prediction names. The service would fetch whatever a
 * caller points it at (metadata endpoints, the broker's admin pages, hosts behind the firewall),
 * so it fetches only from hosts an operator listed, follows no redirect (one could lead off the
 * list), gives up after a timeout, and stops reading past the image limit.
 */

export const IMAGE_URL_TIMEOUT_MS = 10_000;

/**
 * An allow-list entry, `host` or `host:port`, as it will be compared: the name as a URL spells it
 * (lower case, IPv6 in brackets, IPv4 in dotted form). Throws with what is wrong.
 */
export function normaliseUrlHost(entry: string): string {
  const match = /^(\[[0-9a-f:.]+\]|[^\s:/?#@[\]\\]+)(?::(\d{1,5}))?$/i.exec(entry);
  if (!match) throw new Error(`${JSON.stringify(entry)} is not host or host:port`);
  let hostname: string;
  try {
    hostname = new URL(`http://${match[1]!}`).hostname;
  } catch {
    throw new Error(`${JSON.stringify(entry)} is not a host name or address`);
  }
  const port = match[2];
  if (port === undefined) return hostname;
  if (Number(port) < 1 || Number(port) > 65535) throw new Error(`${JSON.stringify(entry)}: the port must be 1-65535`);
  return `${hostname}:${Number(port)}`;
}

/** Whether the list allows the URL's host: `host` allows the scheme's default port only, `host:port` that port. */
export function isAllowedUrlHost(url: URL, hosts: ReadonlySet<string>): boolean {
  const port = url.port !== '' ? url.port : url.protocol === 'https:' ? '443' : '80';
  return hosts.has(`${url.hostname}:${port}`) || (url.port === '' && hosts.has(url.hostname));
}

const why = (err: unknown): string => {
  if (err instanceof Error && err.name === 'TimeoutError') return 'timed out';
  const cause = err instanceof Error ? (err.cause as { code?: string; message?: string } | undefined) : undefined;
  return cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
};

/** The image at `text`, from a host on the list; throws ImageError (BadRequestImageUrl or BadRequestImageSizeBytes). */
export async function fetchImageUrl(text: string, hosts: ReadonlySet<string>, timeoutMs = IMAGE_URL_TIMEOUT_MS): Promise<Buffer> {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ImageError('BadRequestImageUrl', 'url is not an absolute URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ImageError('BadRequestImageUrl', 'only http and https URLs are fetched');
  if (!isAllowedUrlHost(url, hosts)) {
    throw new ImageError('BadRequestImageUrl', `${url.host} is not a host images are fetched from (SIGHTLINE_INFERENCE_PREDICTION_URL_HOSTS)`);
  }
  const signal = AbortSignal.timeout(timeoutMs);
  let response: Response;
  try {
    response = await fetch(url, { redirect: 'manual', signal, headers: { accept: 'image/*' } });
  } catch (err) {
    throw new ImageError('BadRequestImageUrl', `fetching the image from ${url.host} failed: ${why(err)}`);
  }
  const tooLarge = () => new ImageError('BadRequestImageSizeBytes', `the image at the url is over ${IMAGE_BYTES_LIMIT} bytes`);
  if (response.status < 200 || response.status > 299) {
    await response.body?.cancel().catch(() => undefined);
    const redirect = response.status >= 300 && response.status < 400 ? ' (redirects are not followed)' : '';
    throw new ImageError('BadRequestImageUrl', `the url answered ${response.status}${redirect}`);
  }
  if (Number(response.headers.get('content-length') ?? 0) > IMAGE_BYTES_LIMIT) {
    await response.body?.cancel().catch(() => undefined);
    throw tooLarge();
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = response.body?.getReader();
  try {
    for (;;) {
      const read = await reader?.read();
      if (read === undefined || read.done) break;
      size += read.value.length;
      if (size > IMAGE_BYTES_LIMIT) {
        // Read no further: cancelling drops the connection.
        await reader?.cancel().catch(() => undefined);
        throw tooLarge();
      }
      chunks.push(read.value);
    }
  } catch (err) {
    if (err instanceof ImageError) throw err;
    throw new ImageError('BadRequestImageUrl', `reading the image from ${url.host} failed: ${why(err)}`);
  }
  return Buffer.concat(chunks, size);
}
