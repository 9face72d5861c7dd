export { createUplinkApp, type UplinkApp, type UplinkDeps } from './app.ts';
export { CHANNELS_BY_NAME, DEFAULT_CHANNELS, loadUplinkConfig, uplinkEnvSchema, type UplinkConfig, type UpstreamSettings } from './config.ts';
export { classify, Forwarder, type Link, type LinkState } from './forwarder.ts';
export { DiskQueue, encodeRecord, type DropReason, type OutgoingMessage, type QueuedMessage, type QueueOptions } from './queue.ts';
