import type { ContainerClient } from '@azure/storage-blob';
import type { Logger } from '@sightline/kit';
import { classify, ensureContainer, uploadImage, type UploadOutcome } from './blob.ts';
import type { SyncConfig } from './config.ts';
import type { createSyncMetrics } from './metrics.ts';
import type { Outbox, OutboxEntry, OutboxHeader } from './outbox.ts';

export interface UploaderOptions {
  outbox: Outbox;
  container: ContainerClient;
  upload: SyncConfig['upload'];
  metrics: ReturnType<typeof createSyncMetrics>;
  logger: Logger;
  now: () => number;
  random: () => number;
  /** Runs work whose failure must be logged and counted, never thrown. */
  background: (task: string, work: () => Promise<unknown>) => void;
  /** An image is confirmed in blob storage (as `blobName`: another name when its own was taken) and gone from the outbox. */
  onUploaded: (header: OutboxHeader, outcome: UploadOutcome, at: number, bytes: number, blobName: string) => void;
}

/** How the store answered last: at start `reachable` is null (not asked yet). */
export interface StoreState {
  reachable: boolean | null;
  lastError: string | null;
  retryInMs: number;
}

/**
 * Uploads the outbox to blob storage: oldest first, `concurrency` at a time, one shared backoff
 * (0.5x-1x jitter, doubling up to its maximum) while the store fails. An image leaves the outbox
 * only once the store confirmed it; one the store refuses for good (400, 413) is discarded as
 * `rejected`, and a missing container (404) is created again before the next upload.
 */
export class Uploader {
  readonly #o: UploaderOptions;
  readonly #busy = new Set<OutboxEntry>();
  #failures = 0;
  #nextAttemptAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = true;
  #checkingContainer = false;
  #containerReady = false;
  #reachable: boolean | null = null;
  #lastError: string | null = null;

  constructor(options: UploaderOptions) {
    this.#o = options;
  }

  /** Why uploads cannot go out now, or null. */
  notReadyReason(): string | null {
    if (this.#lastError !== null)
      return `blob storage ${this.#reachable === false ? 'unreachable' : 'refusing requests'}: ${this.#lastError} (images wait in the outbox)`;
    if (!this.#containerReady) return 'blob container not yet checked';
    return null;
  }

  state(): StoreState {
    return { reachable: this.#reachable, lastError: this.#lastError, retryInMs: Math.max(0, this.#nextAttemptAt - this.#o.now()) };
  }

  /**
   * Makes sure the container exists before the service starts. A store that refuses us (bad key,
   * bad SAS) is returned for the caller to stop on; one that cannot be reached is retried with
   * backoff while images wait.
   */
  async checkAtStart(timeoutMs: number): Promise<{ refused: string } | null> {
    try {
      await ensureContainer(this.#o.container, timeoutMs);
      this.#containerReady = true;
      this.#worked();
      return null;
    } catch (err) {
      const fault = classify(err);
      if (fault.kind === 'refused') return { refused: fault.message };
      this.#reachable = false;
      this.#lastError = fault.message;
      this.#failures = 1;
      this.#nextAttemptAt = this.#o.now() + this.#backoffMs();
      return null;
    }
  }

  start(): void {
    this.#stopped = false;
    this.kick();
  }

  /** Something new is in the outbox, or a slot came free: send what can be sent. */
  kick(): void {
    if (this.#stopped) return;
    const wait = this.#nextAttemptAt - this.#o.now();
    if (wait > 0) return this.#schedule(wait);
    if (!this.#containerReady) return this.#checkContainer();
    const { outbox, upload } = this.#o;
    for (const entry of outbox.oldest(upload.concurrency - this.#busy.size, this.#busy)) {
      this.#busy.add(entry);
      this.#o.background('upload', async () => {
        try {
          await this.#upload(entry);
        } finally {
          this.#busy.delete(entry);
          this.kick();
        }
      });
    }
  }

  /** In-flight uploads finish or time out (up to 3 s); whatever is not confirmed stays in the outbox. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    const deadline = Date.now() + 3000;
    while (this.#busy.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  }

  #checkContainer(): void {
    if (this.#checkingContainer) return;
    this.#checkingContainer = true;
    this.#o.background('container check', async () => {
      try {
        await ensureContainer(this.#o.container, this.#o.upload.startTimeoutMs);
      } catch (err) {
        this.#checkingContainer = false;
        this.#failed(err, 'creating the container');
        return;
      }
      this.#checkingContainer = false;
      this.#containerReady = true;
      this.#worked();
      this.kick();
    });
  }

  async #upload(entry: OutboxEntry): Promise<void> {
    const { outbox, container, logger: log, metrics: m } = this.#o;
    const timeoutMs = this.#o.upload.timeoutMs;
    let item: { header: OutboxHeader; jpeg: Buffer };
    try {
      item = await outbox.read(entry);
    } catch (err) {
      if (!outbox.contains(entry)) return; // evicted meanwhile
      log.error({ err: { message: (err as Error).message }, blob: entry.blobName }, 'outbox image unreadable');
      await outbox.discard(entry, 'corrupt');
      return;
    }
    const { header, jpeg } = item;
    let stored = header.blobName;
    try {
      let outcome = await uploadImage(container, header, jpeg, timeoutMs);
      if (outcome === 'conflict') {
        // Another image already holds this name (a camera restarted its seq in the same ms):
        // keep both, this one under a name that carries its hash.
        log.error({ blob: header.blobName }, 'a different image already has this blob name: uploading under a name with its hash');
        const renamed = { ...header, blobName: header.blobName.replace(/\.jpg$/, `-${header.sha256.slice(0, 12)}.jpg`) };
        outcome = await uploadImage(container, renamed, jpeg, timeoutMs);
        if (outcome === 'conflict') throw new Error(`blob ${renamed.blobName} exists with other content`);
        stored = renamed.blobName;
      }
      this.#worked();
      await outbox.remove(entry);
      const at = this.#o.now();
      m.uploaded.inc({ outcome });
      m.bytesUploaded.inc(jpeg.length);
      m.captureToBlob.observe(Math.max(0, (at - header.capturedAt) / 1000));
      this.#o.onUploaded(header, outcome, at, jpeg.length, stored);
    } catch (err) {
      const fault = classify(err);
      if (fault.kind === 'refused' && (fault.status === 400 || fault.status === 413)) {
        log.error({ blob: header.blobName, cause: fault.message }, 'blob storage refuses this image for good');
        await outbox.discard(entry, 'rejected');
        return;
      }
      if (fault.kind === 'refused' && fault.status === 404) this.#containerReady = false;
      this.#failed(err, `uploading ${header.blobName}`);
    }
  }

  #backoffMs(): number {
    const { retryMinMs, retryMaxMs } = this.#o.upload;
    const base = Math.min(retryMaxMs, retryMinMs * 2 ** Math.min(30, this.#failures - 1));
    return Math.round(base * (0.5 + this.#o.random() * 0.5));
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.kick(), delayMs);
  }

  #failed(err: unknown, what: string): void {
    const fault = classify(err);
    this.#failures += 1;
    this.#reachable = fault.kind === 'refused';
    this.#lastError = fault.message;
    this.#o.metrics.storeReachable.set(0);
    this.#o.metrics.uploadFailures.inc({ kind: fault.kind });
    const delay = this.#backoffMs();
    this.#nextAttemptAt = Math.max(this.#nextAttemptAt, this.#o.now() + delay);
    this.#o.logger.warn({ cause: fault.message, retryInMs: delay, waiting: this.#o.outbox.stats().images }, `${what} failed, will retry`);
    this.#schedule(delay);
  }

  #worked(): void {
    this.#failures = 0;
    this.#nextAttemptAt = 0;
    if (this.#reachable !== true) this.#o.logger.info('blob storage reachable');
    this.#reachable = true;
    this.#lastError = null;
    this.#o.metrics.storeReachable.set(1);
  }
}
