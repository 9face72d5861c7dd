import { json, textCodec, type Channel, type Codec } from './channel.ts';
import { decodeFrame, encodeFrame, frameMetaSchema, MAX_FRAME_BYTES, type Frame } from './frame.ts';
import {
  audioCodec,
  basketCommandSchema,
  basketResultSchema,
  basketSchema,
  laneEventSchema,
  scanSchema,
  speechSchema,
  weightReadingSchema,
  type Audio,
  type Basket,
  type BasketCommand,
  type BasketResult,
  type LaneEvent,
  type Scan,
  type Speech,
  type WeightReading,
} from './lanes.ts';
import { MAX_WAV_BYTES } from './wav.ts';
import { productCommandSchema, productStateSchema, type ProductCommand, type ProductState } from './products.ts';
import { controlCommandSchema, controlResultSchema, type ControlCommand, type ControlResult } from './control.ts';
import { alertEventSchema, evictionSchema, type AlertEvent, type Eviction } from './alerts.ts';
import { availabilitySchema, busServices, type Availability } from './parties.ts';
import { uplinkStateSchema, type UplinkState } from './uplink.ts';
import {
  cameraStatusSchema,
  detectionsSchema,
  inferenceReplicaSchema,
  modelCommandSchema,
  modelStateSchema,
  type CameraStatus,
  type Detections,
  type InferenceReplica,
  type ModelCommand,
  type ModelState,
} from './vision.ts';

/**
 * Every MQTT topic Sightline uses, with its payload, defined once. Services build topic strings
 * only through `topics.ts`, and encode/decode payloads only through a channel's codec.
 */

const frameCodec: Codec<Frame> = {
  encode: (frame) => encodeFrame(frame.jpeg, frame.meta, frame.header),
  decode: decodeFrame,
};

/** A tiny but complete 1x1 grey JPEG, for examples. */
const EXAMPLE_JPEG = Buffer.from(
  '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAMCAgICAgMCAgIDAwMDBAYEBAQEBAgGBgUGCQgKCgkICQkKDA8MCgsOCwkJDRENDg8QEBEQCgwSExIQEw8QEBD/wAALCAABAAEBAREA/8QAFAABAAAAAAAAAAAAAAAAAAAACf/EABQQAQAAAAAAAAAAAAAAAAAAAAD/2gAIAQEAAD8AKp//2Q==',
  'base64',
);

const EXAMPLE_MODEL = { id: 'centernet-coco', version: '1' };

const EXAMPLE_SPEECH: Speech = {
  id: 'utt-77b1',
  lane: 'lane-1',
  at: 1795000000620,
  source: { kind: 'scan', id: 'scan-3f1c2a', at: 1795000000500 },
  text: 'You scanned an orange, 0.18 kilograms, 55 cents.',
  locale: 'en-US',
  provider: 'espeak',
  voice: 'en-us',
  cached: false,
  synthMs: 96,
  durationMs: 2710,
  interruptible: true,
};

export const channels = {
  frame: {
    name: 'frame',
    template: 'cameras/{camera}/frame',
    params: ['camera'],
    qos: 0,
    retain: false,
    encoding: 'jpeg',
    summary:
      'One camera frame as a plain JPEG (any MQTT image viewer shows it). Its metadata is JSON in a JPEG comment (COM, 0xFFFE) segment whose text starts with `sightline-frame/1 `, placed after the APP0/APP1 headers.',
    publishers: ['capture'],
    subscribers: ['inference', 'sync', 'console'],
    schema: frameMetaSchema,
    maxBytes: MAX_FRAME_BYTES,
    example: { meta: { camera: 'demo', seq: 42, capturedAt: 1795000000000, width: 640, height: 480 }, jpeg: EXAMPLE_JPEG } as Frame,
    codec: frameCodec,
  } satisfies Channel<Frame, 'camera'>,
  cameraStatus: {
    name: 'camera-status',
    template: 'cameras/{camera}/status',
    params: ['camera'],
    qos: 1,
    retain: true,
    ...json(cameraStatusSchema, 2048),
    summary:
      "Whether a camera delivers frames, retained: `online`, or `offline` with the `reason`; the measured frame rate and the frame size. Published on every change (state, reason, size, or the rate moving by more than 10 %), at a heartbeat (30 s by default), again after each reconnect, and `offline` when capture stops. The last will of capture's one MQTT connection is its availability, not each camera's status: while `services/capture/availability` is `offline` every camera is offline whatever its retained status says, and a status counts again only once one arrives after capture is back online.",
    publishers: ['capture'],
    subscribers: ['checkout', 'alert', 'console', 'uplink'],
    example: { camera: 'demo', state: 'online', fps: 5, width: 640, height: 480, since: 1795000000000, at: 1795000030000 } as CameraStatus,
  } satisfies Channel<CameraStatus, 'camera'>,
  detections: {
    name: 'detections',
    template: 'cameras/{camera}/detections',
    params: ['camera'],
    qos: 0,
    retain: false,
    ...json(detectionsSchema, 256 * 1024),
    summary:
      'What the inference service found in one frame: the frame it belongs to (seq, capture time, size), the model, the objects (label, score, box normalised to the frame) and where the time went. Frames arriving while one is being processed replace each other (latest wins), so under load some frames have no detections message.',
    publishers: ['inference'],
    subscribers: ['checkout', 'alert', 'sync', 'console', 'uplink'],
    example: {
      camera: 'demo',
      seq: 42,
      capturedAt: 1795000000000,
      width: 640,
      height: 480,
      model: EXAMPLE_MODEL,
      objects: [{ label: 'orange', score: 0.47, box: { x: 0.31, y: 0.25, width: 0.38, height: 0.5 } }],
      timings: { decodeMs: 4.1, preprocessMs: 0.9, inferenceMs: 180.2, postprocessMs: 2.3, totalMs: 187.5 },
    } as Detections,
  } satisfies Channel<Detections, 'camera'>,
  modelCommand: {
    name: 'model-command',
    template: 'services/inference/model/set',
    params: [],
    qos: 1,
    retain: false,
    ...json(modelCommandSchema, 1024),
    summary:
      'Switch the inference model at run time. The new model is loaded, checked and warmed up while the old one keeps serving, then swapped in between two frames; the outcome is published on `services/inference/model/state`.',
    publishers: ['integrator'],
    subscribers: ['inference'],
    example: { model: 'my-detector' } as ModelCommand,
  } satisfies Channel<ModelCommand, never>,
  modelState: {
    name: 'model-state',
    template: 'services/inference/model/state',
    params: [],
    qos: 1,
    retain: true,
    ...json(modelStateSchema, 4096),
    summary:
      'The model the inference service runs (retained), republished after each switch request: on success the new model, on refusal the old one with `error` saying why.',
    publishers: ['inference'],
    subscribers: ['console'],
    example: { model: EXAMPLE_MODEL, since: 1795000000000 } as ModelState,
  } satisfies Channel<ModelState, never>,
  inferenceReplica: {
    name: 'inference-replica',
    template: 'services/inference/replicas/{replica}',
    params: ['replica'],
    qos: 1,
    retain: true,
    ...json(inferenceReplicaSchema, 160 * 1024),
    summary:
      "One inference replica's state (retained), when several inference services share the cameras (`SIGHTLINE_INFERENCE_REPLICA`): republished at each heartbeat and at once on every change of its view. The cameras are split evenly between the live replicas by a rule every replica computes alike, and a replica serves a camera only while every replica it counts as live agrees that it is the camera's owner, so no frame is served twice during a handover.",
    publishers: ['inference'],
    subscribers: ['inference', 'console'],
    example: {
      replica: 'edge-2',
      state: 'online',
      replicas: ['edge-1', 'edge-2'],
      cameras: ['aisle-1', 'aisle-2', 'lane-1', 'lane-2'],
      serving: ['aisle-2', 'lane-1'],
      at: 1795000000000,
    } as InferenceReplica,
  } satisfies Channel<InferenceReplica, 'replica'>,
  productCommand: {
    name: 'product-command',
    template: 'services/inference/products/set',
    params: [],
    qos: 1,
    retain: false,
    ...json(productCommandSchema, 4 * 1024 * 1024),
    summary:
      "Teach the inference service a product from photos (base64, up to 10 a message, the broker's 4 MB payload limit) or from frames the lane saw (`add-from-lane`: recent frames by camera and seq, or frames sync kept by name, up to 20), or forget a photo or a product. Applied at once, without a restart; the outcome is published on `services/inference/products/state`.",
    publishers: ['integrator', 'console'],
    subscribers: ['inference'],
    example: { action: 'remove-product', product: 'granny-smith' } as ProductCommand,
  } satisfies Channel<ProductCommand, never>,
  productState: {
    name: 'product-state',
    template: 'services/inference/products/state',
    params: [],
    qos: 1,
    retain: true,
    ...json(productStateSchema, 2 * 1024 * 1024),
    summary:
      'The products the inference service recognises, with their photo counts (retained), republished after every change; `last` says how the last MQTT command went.',
    publishers: ['inference'],
    subscribers: ['console'],
    example: {
      products: [{ id: 'granny-smith', name: 'Granny Smith apple', photos: 10, updatedAt: 1795000000000 }],
      backbone: 'mobilenetv2-140-37aa8e0eaa18',
      threshold: 0.6,
    } as ProductState,
  } satisfies Channel<ProductState, never>,
  availability: {
    name: 'availability',
    template: 'services/{service}/availability',
    params: ['service'],
    qos: 1,
    retain: true,
    encoding: 'text',
    summary:
      'Whether a service is up: `online` once it has connected, `offline` when it stops or, as its MQTT last will, when it vanishes. Retained, so a new subscriber learns the state at once.',
    publishers: busServices,
    // inference: a replica that sees another one's last will says the service is still online.
    subscribers: ['inference', 'checkout', 'speaker', 'alert', 'console', 'uplink'],
    ownParam: 'service',
    schema: availabilitySchema,
    maxBytes: 16,
    example: 'online',
    codec: textCodec(availabilitySchema, 16),
  } satisfies Channel<Availability, 'service'>,
  weight: {
    name: 'weight',
    template: 'lanes/{lane}/weight',
    params: ['lane'],
    qos: 0,
    retain: false,
    ...json(weightReadingSchema, 1024),
    summary:
      'Readings of a lane scale, from any device adapter or integrator (the dev stack runs a simulator). Send every reading, settled or not, at least a few per second while the weight changes: checkout takes a weight once it has stayed within its tolerance for its settle time, or at once when `stable` is true.',
    publishers: ['integrator', 'checkout'],
    subscribers: ['checkout'],
    example: { grams: 182.5, at: 1795000000000 } as WeightReading,
  } satisfies Channel<WeightReading, 'lane'>,
  scan: {
    name: 'scan',
    template: 'lanes/{lane}/scan',
    params: ['lane'],
    qos: 1,
    retain: false,
    ...json(scanSchema, 16 * 1024),
    summary:
      'An item was scanned: the product (named in the lane locale), how sure the camera was, the weight that priced it, its price and the basket total after it. Money is integer minor units of `currency`.',
    publishers: ['checkout'],
    subscribers: ['tts', 'speaker', 'alert', 'uplink', 'sync'],
    example: {
      id: 'scan-3f1c2a',
      lane: 'lane-1',
      locale: 'en-US',
      at: 1795000000500,
      camera: 'demo',
      seq: 42,
      capturedAt: 1795000000000,
      product: { sku: 'FRUIT-ORANGE', label: 'orange', name: 'Oranges', spoken: { one: 'orange' } },
      confidence: 0.47,
      pricing: 'kg',
      quantity: 1,
      weightGrams: 182.5,
      unitPriceMinor: 299,
      priceMinor: 55,
      currency: 'USD',
      basket: { id: 'basket-9a7e', count: 3, totalMinor: 412 },
    } as Scan,
  } satisfies Channel<Scan, 'lane'>,
  basket: {
    name: 'basket',
    template: 'lanes/{lane}/basket',
    params: ['lane'],
    qos: 1,
    retain: true,
    ...json(basketSchema, 512 * 1024),
    summary: 'The basket of a lane, retained and republished after every change, so a display that connects late shows it at once.',
    publishers: ['checkout'],
    subscribers: ['console', 'uplink'],
    example: {
      id: 'basket-9a7e',
      lane: 'lane-1',
      status: 'open',
      currency: 'USD',
      items: [
        { id: 'scan-3f1c2a', sku: 'FRUIT-ORANGE', name: 'Oranges', quantity: 1, weightGrams: 182.5, unitPriceMinor: 299, priceMinor: 55, at: 1795000000500 },
      ],
      count: 1,
      totalMinor: 55,
      updatedAt: 1795000000500,
    } as Basket,
  } satisfies Channel<Basket, 'lane'>,
  basketCommand: {
    name: 'basket-command',
    template: 'lanes/{lane}/basket/set',
    params: ['lane'],
    qos: 1,
    retain: false,
    ...json(basketCommandSchema, 1024),
    summary:
      'Change a basket: `remove-last`, `clear`, or `finish` (the total is announced and the next scan starts a new basket). Answered on `lanes/{lane}/basket/result`.',
    publishers: ['integrator'],
    subscribers: ['checkout'],
    example: { action: 'remove-last', transaction: 'tx-1' } as BasketCommand,
  } satisfies Channel<BasketCommand, 'lane'>,
  basketResult: {
    name: 'basket-result',
    template: 'lanes/{lane}/basket/result',
    params: ['lane'],
    qos: 1,
    retain: false,
    ...json(basketResultSchema, 4096),
    summary: 'The answer to a basket command: `{status: "ok", action, transaction, basket}` or `{status: "error", error, transaction}`.',
    publishers: ['checkout'],
    subscribers: [],
    example: { status: 'ok', action: 'remove-last', transaction: 'tx-1', basket: { id: 'basket-9a7e', count: 2, totalMinor: 357 } } as BasketResult,
  } satisfies Channel<BasketResult, 'lane'>,
  laneEvent: {
    name: 'lane-event',
    template: 'lanes/{lane}/event',
    params: ['lane'],
    qos: 1,
    retain: false,
    ...json(laneEventSchema, 64 * 1024),
    summary:
      'Everything else the shopper must be told, by `type`: `not-recognised` (try again), `place-on-scale`, `weight-mismatch`, `removed`, `cleared`, `total` (with the `receipt`: every line and its price), `idle-warning` (the session ends in `remainingSeconds` unless the shopper asks for more time), `session-ended` (idle too long: the basket is abandoned), and `trouble` (`camera-offline`, `inference-offline`, `scale-offline`, `speech-unavailable`; `state` begin or end).',
    publishers: ['checkout'],
    subscribers: ['tts', 'speaker', 'alert', 'console', 'uplink'],
    example: { id: 'ev-51d0', lane: 'lane-1', locale: 'en-US', at: 1795000000900, type: 'not-recognised', camera: 'demo', label: 'kite' } as LaneEvent,
  } satisfies Channel<LaneEvent, 'lane'>,
  laneControl: {
    name: 'lane-control',
    template: 'lanes/{lane}/control',
    params: ['lane'],
    qos: 1,
    retain: false,
    ...json(controlCommandSchema, 1024),
    summary:
      "A shopper's control, from the lane keypad (checkout reads it and publishes here), the lane screen or an integrator: `repeat` (the last announcement; twice in a row, the whole basket), `pause`, `resume`, `toggle-pause`, `stop`, `volume-up`, `volume-down`, `help`, `basket`, `remove-last`, `finish` (a spoken receipt), `more-time`, `language` (the next of the lane's locales). Any control cuts what the lane is saying at once. The speaker carries out the sound commands, checkout the rest; each answers on `lanes/{lane}/control/result`.",
    publishers: ['integrator', 'checkout', 'speaker'],
    subscribers: ['checkout', 'speaker'],
    example: { command: 'repeat', source: 'keypad', transaction: 'tx-7' } as ControlCommand,
  } satisfies Channel<ControlCommand, 'lane'>,
  laneControlResult: {
    name: 'lane-control-result',
    template: 'lanes/{lane}/control/result',
    params: ['lane'],
    qos: 1,
    retain: false,
    ...json(controlResultSchema, 64 * 1024),
    summary:
      'What came of a control, by `outcome`: `repeated`, `paused`, `resumed`, `stopped`, `volume` (level of steps, per output), `help` (the keypad, key by key), `basket` (the lines read out), `removed`, `finished`, `more-time`, `language`, or `refused` with the `reason`. tts speaks each one in the lane locale, except where the action is itself the answer (`repeated`, `resumed`, `stopped`; `removed` and `finished` are said by their lane events).',
    publishers: ['checkout', 'speaker'],
    subscribers: ['tts', 'console'],
    example: {
      id: 'ctl-2b7e',
      lane: 'lane-1',
      locale: 'en-US',
      at: 1795000001200,
      command: 'volume-up',
      by: 'speaker',
      outcome: 'volume',
      volume: { output: 'speaker', level: 6, steps: 8 },
    } as ControlResult,
  } satisfies Channel<ControlResult, 'lane'>,
  speech: {
    name: 'speech',
    template: 'lanes/{lane}/speech',
    params: ['lane'],
    qos: 1,
    retain: false,
    ...json(speechSchema, 16 * 1024),
    summary:
      'What is being said to the shopper, as text with its provenance (provider, voice, cache, fallback, timings): for a display, a log, or a braille line. The same metadata rides inside the audio.',
    publishers: ['tts'],
    subscribers: [],
    example: EXAMPLE_SPEECH,
  } satisfies Channel<Speech, 'lane'>,
  audio: {
    name: 'audio',
    template: 'lanes/{lane}/audio',
    params: ['lane'],
    qos: 1,
    retain: false,
    encoding: 'wav',
    summary:
      'The spoken audio as a plain 16-bit PCM WAV (any player plays it). Its metadata (the `speech` payload) is JSON in an extra RIFF chunk `slmd` after the `data` chunk.',
    publishers: ['tts'],
    subscribers: ['speaker', 'console'],
    schema: speechSchema,
    maxBytes: MAX_WAV_BYTES,
    example: { meta: EXAMPLE_SPEECH, pcm: { samples: Buffer.alloc(2205 * 2), format: { sampleRate: 22050, channels: 1 } } },
    codec: audioCodec,
  } satisfies Channel<Audio, 'lane'>,
  alerts: {
    name: 'alerts',
    template: 'alerts',
    params: [],
    qos: 1,
    retain: false,
    ...json(alertEventSchema, 16 * 1024),
    summary:
      "Alert events, never retained: `new` when an alert is raised, `update` when it is seen again (count, last seen) or acknowledged, `end` when it is resolved. The alert keeps its `id` throughout; the alert service's HTTP API lists current and past alerts.",
    publishers: ['alert'],
    subscribers: ['sync', 'console', 'uplink'],
    example: {
      type: 'new',
      alert: {
        id: 'alert-5c1e',
        type: 'person-in-zone',
        rule: 'stockroom-door',
        severity: 'warning',
        camera: 'demo',
        message: 'Person in restricted zone stockroom-door for 5 s',
        firstSeen: 1795000000000,
        lastSeen: 1795000005000,
        count: 1,
        snapshot: { camera: 'demo', seq: 42, capturedAt: 1795000005000 },
        state: 'active',
        details: { score: 0.71 },
      },
    } as AlertEvent,
  } satisfies Channel<AlertEvent, never>,
  syncEviction: {
    name: 'sync-eviction',
    template: 'services/sync/evicted',
    params: [],
    qos: 1,
    retain: false,
    ...json(evictionSchema, 4096),
    summary:
      'An image the sync service had accepted but dropped without uploading it (its outbox TTL or disk cap, a corrupt file, or a refusal by the store). Never silent: the alert service raises an `images-evicted` alert from these.',
    publishers: ['sync'],
    subscribers: ['alert'],
    example: {
      at: 1795000900000,
      reason: 'disk',
      blob: 'demo/2026/11/22/1795000000000-42.jpg',
      camera: 'demo',
      capturedAt: 1795000000000,
      bytes: 48213,
    } as Eviction,
  } satisfies Channel<Eviction, never>,
  uplinkState: {
    name: 'uplink-state',
    template: 'services/uplink/state',
    params: [],
    qos: 1,
    retain: true,
    ...json(uplinkStateSchema, 4096),
    summary:
      "The uplink's link to the upstream broker and its store-and-forward queue (retained): connected, unreachable or refused (with the reason), messages and bytes waiting on disk, messages delivered, and those dropped (queue over its limit, too large, corrupt queue file). Published when the link changes, and every 30 s while anything changed.",
    publishers: ['uplink'],
    subscribers: [],
    example: {
      upstream: { url: 'mqtts://mqtt.example.com:8883', state: 'unreachable', reason: 'connect ECONNREFUSED 203.0.113.7:8883', since: 1795000000000 },
      queue: { messages: 412, bytes: 301877, oldestAt: 1795000000000 },
      forwarded: 18211,
      dropped: { overflow: 0, tooLarge: 0, corrupt: 0 },
      at: 1795000030000,
    } as UplinkState,
  } satisfies Channel<UplinkState, never>,
} as const;

export type Channels = typeof channels;

/**
 * Topics whose names are promised to integrators but whose payloads are defined by the services
 * that will publish them; listed so the docs show the whole tree and no one takes the names.
 */
export const reservedTopics: ReadonlyArray<{ template: string; summary: string }> = [];
export type ChannelName = keyof Channels;
