export { DEFAULT_TOPIC_PREFIX, idSchema, modelIdSchema, topicPrefixSchema } from './ids.ts';
export { PayloadError, type PayloadFault } from './errors.ts';
export {
  decodeFrame,
  encodeFrame,
  isCompleteJpeg,
  frameMetaSchema,
  FRAME_COMMENT_TAG,
  MAX_FRAME_BYTES,
  type Frame,
  type FrameMeta,
} from './frame.ts';
export {
  availabilitySchema,
  boxSchema,
  channels,
  detectionsSchema,
  modelCommandSchema,
  modelStateSchema,
  jsonCodec,
  reservedTopics,
  type Availability,
  type Channel,
  type ChannelName,
  type Channels,
  type Codec,
  type Detections,
  type ModelCommand,
  type ModelState,
  type Encoding,
  type ParamsOf,
  type PayloadOf,
} from './channels.ts';
export { createTopics, type Topics } from './topics.ts';
export { createBus, type Bus, type BusLogger, type BusOptions, type Handler } from './bus.ts';
