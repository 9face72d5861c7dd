export { DEFAULT_TOPIC_PREFIX, idSchema, modelIdSchema, topicPrefixSchema } from './ids.ts';
export { PayloadError, type PayloadFault } from './errors.ts';
export {
  decodeFrame,
  encodeFrame,
  isCompleteJpeg,
  isStandaloneMarker,
  frameMetaSchema,
  FRAME_COMMENT_TAG,
  MAX_FRAME_BYTES,
  MAX_JPEG_SEGMENTS,
  readJpegHeader,
  type Frame,
  type FrameMeta,
  type JpegHeader,
  type JpegSegment,
} from './frame.ts';
export { json, jsonCodec, textCodec, type Channel, type Codec, type Encoding, type ParamsOf, type PayloadOf } from './channel.ts';
export { channels, reservedTopics, type ChannelName, type Channels } from './channels.ts';
export {
  boxSchema,
  cameraStatusSchema,
  detectionsSchema,
  modelCommandSchema,
  modelStateSchema,
  type CameraStatus,
  type Detections,
  type ModelCommand,
  type ModelState,
} from './vision.ts';
export { createTopics, type Topics } from './topics.ts';
export { frameRefSchema, type FrameRef } from './frame-ref.ts';
export { createBus, type Bus, type BusLogger, type BusOptions, type Handler, type InvalidHandler, type SubscribeOptions } from './bus.ts';
export {
  catalogSchema,
  currencySchema,
  localeSchema,
  MAX_ITEM_GRAMS,
  normaliseLabel,
  plainTextSchema,
  productSchema,
  skuSchema,
  spokenNameSchema,
  toPlainText,
  type Catalog,
  type Locale,
  type Product,
  type SpokenName,
} from './catalog.ts';
export {
  audioCodec,
  basketCommandSchema,
  basketItemSchema,
  basketResultSchema,
  basketSchema,
  laneEventSchema,
  MAX_SCALE_GRAMS,
  scanSchema,
  speechSchema,
  troubleSchema,
  weightReadingSchema,
  type Audio,
  type Basket,
  type BasketCommand,
  type BasketItem,
  type BasketResult,
  type LaneEvent,
  type LaneEventType,
  type ProductRef,
  type Scan,
  type Speech,
  type Trouble,
  type WeightReading,
} from './lanes.ts';
export { buildWav, checkPcm, MAX_WAV_BYTES, parseWav, pcmDurationMs, WAV_METADATA_CHUNK, type ParsedWav, type Pcm, type PcmFormat } from './wav.ts';
export {
  alertEventSchema,
  alertIdSchema,
  alertSchema,
  alertStateSchema,
  alertTypeSchema,
  evictionSchema,
  severitySchema,
  snapshotRefSchema,
  type Alert,
  type AlertEvent,
  type AlertState,
  type AlertType,
  type Eviction,
  type Severity,
  type SnapshotRef,
} from './alerts.ts';
export { availabilitySchema, busServices, isBusService, type Availability, type BusService, type Party } from './parties.ts';
export {
  channelsPublishedBy,
  channelsSubscribedBy,
  integratorAccessRules,
  serviceAccessRules,
  viewerAccessRules,
  type Access,
  type AccessRule,
} from './access.ts';
export {
  countSchema,
  durationMsSchema,
  epochMsSchema,
  labelSchema,
  MAX_EPOCH_MS,
  pixelsSchema,
  safeTextSchema,
  seqSchema,
  unsafeTextProblem,
} from './bounds.ts';
export {
  boundsOf,
  boxCentre,
  footPoint,
  insidePolygon,
  MAX_POLYGON_POINTS,
  pointSchema,
  polygonArea,
  polygonSchema,
  WHOLE_FRAME,
  type Box,
  type Point,
  type Polygon,
} from './geometry.ts';
