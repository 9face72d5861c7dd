import { RestError, type ContainerClient } from '@azure/storage-blob';
import type { Logger } from '@sightline/kit';
import { MAX_FRAME_BYTES } from '@sightline/schemas';
import { classify } from './blob.ts';
import type { OutboxHeader } from './outbox.ts';
import { REASONS, type Reason } from './selection.ts';

/** One image sync kept: what `GET /kept` lists. */
export interface KeptEntry {
  /** The blob name (also the name in `GET /kept/<name>`). */
  name: string;
  camera: string;
  seq: number;
  capturedAt: number;
  reason: Reason;
  /** The best-scored object's label (the detections list objects best score first), or null. */
  label: string | null;
  /** The best score, or null when nothing was seen. */
  score: number | null;
  /** Every label seen, best first, each once. */
  labels: string[];
  model: { id: string; version: string } | null;
  /** `waiting` in the outbox, or `uploaded` to blob storage. */
  state: 'waiting' | 'uploaded';
}

export interface KeptFilter {
  reason?: Reason | undefined;
  camera?: string | undefined;
  limit: number;
}

/** Blob metadata values are percent-encoded when they are not plain ASCII (see `metadataValue`). */
function metadataText(value: string | undefined): string {
  if (value === undefined) return '';
  try {
    return /%[0-9A-Fa-f]{2}/.test(value) ? decodeURIComponent(value) : value;
  } catch {
    return value;
  }
}

/** What sync wrote into a kept image's metadata (the same in the outbox header and in blob storage), as an entry. */
export function keptFromMetadata(name: string, metadata: Record<string, string>, state: KeptEntry['state']): KeptEntry | null {
  const camera = metadataText(metadata.camera);
  const seq = Number(metadata.seq);
  const capturedAt = Date.parse(metadataText(metadata.capturedat));
  const reason = metadata.reason as Reason;
  if (camera === '' || !Number.isSafeInteger(seq) || !Number.isFinite(capturedAt) || !REASONS.includes(reason)) return null;
  const labels = metadataText(metadata.labels)
    .split(',')
    .filter((label) => label !== '');
  const score = metadata.bestscore === undefined || metadata.bestscore === '' ? null : Number(metadata.bestscore);
  const modelId = metadataText(metadata.modelid);
  return {
    name,
    camera,
    seq,
    capturedAt,
    reason,
    label: labels[0] ?? null,
    score: score !== null && Number.isFinite(score) ? score : null,
    labels,
    model: modelId === '' ? null : { id: modelId, version: metadataText(metadata.modelversion) },
    state,
  };
}

export function keptFromHeader(header: OutboxHeader, state: KeptEntry['state']): KeptEntry | null {
  return keptFromMetadata(header.blobName, header.metadata, state);
}

/**
 * The images sync kept lately, for `GET /kept`: a bounded list in memory (the last `maxEntries`
 * accepted, the oldest forgotten first), filled as images are accepted into the outbox, marked
 * when uploaded, removed when evicted unsent. After a restart it holds what waits in the outbox,
 * and the first listing fills the room left from blob storage: today's and yesterday's (UTC)
 * folders of each camera, newest first, reading at most `maxEntries` x 10 blob names.
 */
export class KeptList {
  readonly maxEntries: number;
  readonly #entries = new Map<string, KeptEntry>();
  readonly #container: ContainerClient;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #timeoutMs: number;
  #seeded = false;
  #seeding: Promise<void> | null = null;
  #lastSeedAttempt = Number.NEGATIVE_INFINITY;

  constructor(options: { maxEntries: number; container: ContainerClient; logger: Logger; now: () => number; timeoutMs: number }) {
    this.maxEntries = options.maxEntries;
    this.#container = options.container;
    this.#log = options.logger;
    this.#now = options.now;
    this.#timeoutMs = options.timeoutMs;
  }

  get size(): number {
    return this.#entries.size;
  }

  add(entry: KeptEntry): void {
    this.#entries.delete(entry.name);
    this.#entries.set(entry.name, entry);
    while (this.#entries.size > this.maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
  }

  /** The image is in blob storage, under `finalName` (another name when the first was taken). */
  uploaded(name: string, finalName: string): void {
    const entry = this.#entries.get(name);
    if (entry === undefined) return;
    if (finalName === name) {
      entry.state = 'uploaded';
      return;
    }
    this.#entries.delete(name);
    this.add({ ...entry, name: finalName, state: 'uploaded' });
  }

  /** The image was dropped without being uploaded: nothing to fetch any more. */
  remove(name: string): void {
    this.#entries.delete(name);
  }

  get(name: string): KeptEntry | undefined {
    return this.#entries.get(name);
  }

  /** The newest first (by capture time), filtered. */
  list(filter: KeptFilter): KeptEntry[] {
    const out: KeptEntry[] = [];
    for (const entry of this.#entries.values()) {
      if (filter.reason !== undefined && entry.reason !== filter.reason) continue;
      if (filter.camera !== undefined && entry.camera !== filter.camera) continue;
      out.push(entry);
    }
    return out.sort((a, b) => b.capturedAt - a.capturedAt || b.seq - a.seq).slice(0, filter.limit);
  }

  /**
   * Fills the list from blob storage once (what was uploaded before this start). A failure is
   * logged and tried again by a later listing, at most every 30 s; returns whether it is done.
   */
  async seed(): Promise<boolean> {
    if (this.#seeded) return true;
    if (this.#seeding === null) {
      if (this.#now() - this.#lastSeedAttempt < 30_000) return false;
      this.#lastSeedAttempt = this.#now();
      this.#seeding = this.#seedFromStore()
        .then(() => {
          this.#seeded = true;
        })
        .catch((err: unknown) => {
          this.#log.warn({ cause: classify(err).message }, 'kept images in blob storage not listed yet: the listing shows what this start kept');
        })
        .finally(() => {
          this.#seeding = null;
        });
    }
    await this.#seeding;
    return this.#seeded;
  }

  async #seedFromStore(): Promise<void> {
    const signal = AbortSignal.timeout(this.#timeoutMs);
    const budget = { left: this.maxEntries * 10 };
    const cameras: string[] = [];
    for await (const item of this.#container.listBlobsByHierarchy('/', { abortSignal: signal })) {
      if (item.kind === 'prefix') cameras.push(item.name.replace(/\/$/, ''));
      if (cameras.length >= 4096 || --budget.left <= 0) break;
    }
    const now = this.#now();
    const days = [now, now - 86_400_000].map((at) => new Date(at).toISOString().slice(0, 10).replaceAll('-', '/'));
    const found: KeptEntry[] = [];
    for (const day of days) {
      for (const camera of cameras) {
        for await (const blob of this.#container.listBlobsFlat({ prefix: `${camera}/${day}/`, includeMetadata: true, abortSignal: signal })) {
          const entry = keptFromMetadata(blob.name, blob.metadata ?? {}, 'uploaded');
          if (entry !== null) found.push(entry);
          if (--budget.left <= 0) break;
        }
        if (budget.left <= 0) break;
      }
    }
    // What this start kept stays; the stored ones fill the room left, newest first, oldest at the front.
    found.sort((a, b) => b.capturedAt - a.capturedAt);
    const room = Math.max(0, this.maxEntries - this.#entries.size);
    const older = found.filter((entry) => !this.#entries.has(entry.name)).slice(0, room);
    const current = [...this.#entries.values()];
    this.#entries.clear();
    for (const entry of [...older.reverse(), ...current]) this.#entries.set(entry.name, entry);
    if (older.length > 0) this.#log.info({ images: older.length }, 'kept images listed from blob storage');
  }
}

/** Why a kept image cannot be handed over: the HTTP status and the message. */
export class KeptError extends Error {
  override name = 'KeptError';
  readonly status: 404 | 502 | 503;
  constructor(status: 404 | 502 | 503, message: string) {
    super(message);
    this.status = status;
  }
}

/** Reads a kept image back from blob storage, up to MAX_FRAME_BYTES (every kept image was a frame). */
export async function downloadKept(container: ContainerClient, name: string, timeoutMs: number): Promise<Buffer> {
  let response;
  try {
    response = await container.getBlobClient(name).download(0, undefined, { abortSignal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    if (err instanceof RestError && err.statusCode === 404) throw new KeptError(404, `no kept image named "${name}"`);
    const fault = classify(err);
    throw new KeptError(fault.kind === 'refused' ? 502 : 503, `blob storage ${fault.kind === 'refused' ? 'refused' : 'cannot be reached'}: ${fault.message}`);
  }
  const declared = response.contentLength ?? 0;
  const stream = response.readableStreamBody;
  if (declared > MAX_FRAME_BYTES || stream === undefined) {
    stream?.resume();
    throw new KeptError(502, declared > MAX_FRAME_BYTES ? `"${name}" is ${declared} bytes, more than a frame may be` : 'blob storage sent no body');
  }
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of stream) {
      const bytes = chunk as Buffer;
      total += bytes.length;
      if (total > MAX_FRAME_BYTES) throw new KeptError(502, `"${name}" is more than ${MAX_FRAME_BYTES} bytes, more than a frame may be`);
      chunks.push(bytes);
    }
  } catch (err) {
    if (err instanceof KeptError) throw err;
    throw new KeptError(503, `blob storage stopped sending "${name}": ${classify(err).message}`);
  }
  return Buffer.concat(chunks, total);
}
