import {
  AnonymousCredential,
  BlobServiceClient,
  RestError,
  StorageSharedKeyCredential,
  type ContainerClient,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
import type { BlobTarget } from './config.ts';
import type { OutboxHeader } from './outbox.ts';
import type { Reason } from './selection.ts';

/** The access tier each reason suggests to a lifecycle policy, in the `tier` tag (README, "What goes to the cloud"). */
export const TIERS: Record<Reason, 'hot' | 'cool' | 'cold'> = { alert: 'hot', uncertain: 'cool', sample: 'cold' };

/** `<camera>/<yyyy>/<mm>/<dd>/<capturedAt-ms>-<seq>.jpg` (UTC): the same frame always gets the same name. */
export function blobName(camera: string, capturedAt: number, seq: number): string {
  const d = new Date(capturedAt);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${camera}/${d.getUTCFullYear()}/${two(d.getUTCMonth() + 1)}/${two(d.getUTCDate())}/${capturedAt}-${seq}.jpg`;
}

/** Blob index tag values allow only letters, digits, space and `+ - . / : = _`, at most 256 characters. */
export function tagValue(text: string): string {
  return text.replace(/[^A-Za-z0-9 +\-./:=_]/g, '_').slice(0, 256);
}

/** Metadata values travel as HTTP headers: ASCII only, so anything else is percent-encoded. */
export function metadataValue(text: string): string {
  return /^[\x20-\x7e]*$/.test(text) ? text : encodeURIComponent(text);
}

export function containerClientFor(target: BlobTarget, container: string, tryTimeoutMs: number): ContainerClient {
  // One try per call: the outbox does the retrying, with its own backoff, and keeps the image.
  const pipeline: StoragePipelineOptions = { retryOptions: { maxTries: 1, tryTimeoutInMs: tryTimeoutMs } };
  let service: BlobServiceClient;
  if (target.kind === 'sas') {
    service = new BlobServiceClient(`${target.accountUrl.replace(/\/$/, '')}?${target.sasToken}`, new AnonymousCredential(), pipeline);
  } else {
    service = BlobServiceClient.fromConnectionString(target.connectionString, pipeline);
  }
  return service.getContainerClient(container);
}

export type StoreFault = { kind: 'unreachable'; message: string } | { kind: 'refused'; status: number; code: string; message: string };

/** Sorts an error into "could not talk to the store" and "the store said no". */
export function classify(err: unknown): StoreFault {
  if (err instanceof RestError && typeof err.statusCode === 'number') {
    const code = String(err.code ?? (err.details as { errorCode?: string } | undefined)?.errorCode ?? 'unknown');
    return { kind: 'refused', status: err.statusCode, code, message: `${err.statusCode} ${code}: ${firstLine(err.message)}` };
  }
  const e = err as { name?: string; code?: string; message?: string };
  if (e.name === 'AbortError') return { kind: 'unreachable', message: 'timed out' };
  return { kind: 'unreachable', message: e.code ? `${e.code}: ${firstLine(e.message ?? '')}` : firstLine(e.message ?? String(err)) };
}

function firstLine(text: string): string {
  return text.split('\n')[0]!.slice(0, 300);
}

/** Creates the container when missing, within `timeoutMs`. Throws what `classify` sorts. */
export async function ensureContainer(container: ContainerClient, timeoutMs: number): Promise<void> {
  await container.createIfNotExists({ abortSignal: AbortSignal.timeout(timeoutMs) });
}

export type UploadOutcome = 'created' | 'existed' | 'conflict';

/**
 * Uploads with If-None-Match: * so a retry (after a crash between upload and local delete) never
 * writes twice. When the blob already exists it is accepted as ours only if its size and
 * Content-MD5 match; `conflict` means another image holds the name.
 */
export async function uploadImage(container: ContainerClient, header: OutboxHeader, jpeg: Buffer, timeoutMs: number): Promise<UploadOutcome> {
  const blob = container.getBlockBlobClient(header.blobName);
  const md5 = Buffer.from(header.md5, 'base64');
  try {
    await blob.upload(jpeg, jpeg.length, {
      conditions: { ifNoneMatch: '*' },
      blobHTTPHeaders: { blobContentType: 'image/jpeg', blobContentMD5: md5 },
      metadata: header.metadata,
      tags: header.tags,
      abortSignal: AbortSignal.timeout(timeoutMs),
    });
    return 'created';
  } catch (err) {
    const fault = classify(err);
    if (fault.kind !== 'refused' || fault.status !== 409) throw err;
  }
  const properties = await blob.getProperties({ abortSignal: AbortSignal.timeout(timeoutMs) });
  const same = properties.contentLength === jpeg.length && properties.contentMD5 !== undefined && Buffer.from(properties.contentMD5).equals(md5);
  return same ? 'existed' : 'conflict';
}
