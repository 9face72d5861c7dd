export { createSyncApp, StoreRefusedError, type SyncApp, type SyncDeps, type SyncStats } from './app.ts';
export { DEFAULT_CONNECTION_STRING, loadSyncConfig, parseConnectionString, syncEnvSchema, type BlobTarget, type SyncConfig } from './config.ts';
export {
  decodeEntry,
  encodeEntry,
  Outbox,
  type AddResult,
  type EvictReason,
  type OutboxEntry,
  type OutboxHeader,
  type OutboxItem,
  type OutboxOptions,
} from './outbox.ts';
export { blobName } from './blob.ts';
export { FrameRing, SelectionPolicy, type Reason } from './selection.ts';
export { DEFAULT_DUPLICATE_DIFFERENCE, difference, fingerprint, type Fingerprint } from './fingerprint.ts';
