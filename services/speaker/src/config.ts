import path from 'node:path';
import { z } from 'zod';
import {
  ConfigError,
  dataDirSetting,
  env,
  httpAccessSettingsSchema,
  httpPortOf,
  httpSettingsFrom,
  loadConfig,
  mqttSettingsFrom,
  mqttSettingsSchema,
  serviceDataDir,
  type HttpSettings,
  type MqttSettings,
} from '@sightline/kit';
import { idSchema, localeSchema, MAX_SPOKEN_LINES, MAX_VOLUME_STEPS } from '@sightline/schemas';

export const OUTPUTS = ['auto', 'pulse', 'alsa', 'file', 'none'] as const;
export type OutputKind = (typeof OUTPUTS)[number];
export const PULSE_MODES = ['stream', 'paplay'] as const;
export type PulseMode = (typeof PULSE_MODES)[number];

const MAX_LANES = 64;
const MIB = 1024 * 1024;
/** A receipt or basket read-out is at most this many parts (start, lines, "and N more", total). */
export const MAX_PARTS = MAX_SPOKEN_LINES + 5;
/** The loudest format a WAV may carry (48 kHz, stereo, 16-bit), bytes per second. */
const WORST_BYTES_PER_SECOND = 48_000 * 2 * 2;

/** A headset's device: a PulseAudio sink name, an ALSA PCM name, or a folder under the file output's. */
const deviceSchema = z
  .string()
  .regex(/^[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,127}$/, 'must be 1-128 characters of A-Z a-z 0-9 _ . : @ - (not starting with a dot or dash)');

/** `lane-1=sink_name,lane-2=other`: each lane at most once. */
const headsetsSchema = z
  .string()
  .transform((text, ctx) => {
    const headsets = new Map<string, string>();
    for (const entry of text
      .split(',')
      .map((e) => e.trim())
      .filter((e) => e !== '')) {
      const [lane, device, ...rest] = entry.split('=').map((part) => part.trim());
      if (lane === undefined || device === undefined || rest.length > 0) {
        ctx.addIssue({ code: 'custom', message: `${JSON.stringify(entry)} is not lane=device` });
        continue;
      }
      const laneOk = idSchema.safeParse(lane);
      const deviceOk = deviceSchema.safeParse(device);
      if (!laneOk.success) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(lane)} is not a lane id` });
      if (!deviceOk.success) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(device)}: ${deviceOk.error.issues[0]?.message ?? 'invalid'}` });
      if (headsets.has(lane)) ctx.addIssue({ code: 'custom', message: `lane ${lane} is listed twice` });
      headsets.set(lane, device);
    }
    if (headsets.size === 0) ctx.addIssue({ code: 'custom', message: 'lists no headset; leave it unset instead' });
    return headsets;
  })
  .optional();

export const speakerEnvSchema = z.strictObject({
  ...mqttSettingsSchema,
  ...httpAccessSettingsSchema,
  ...dataDirSetting,
  SIGHTLINE_SPEAKER_HTTP_HOST: env.host('127.0.0.1'),
  SIGHTLINE_SPEAKER_HTTP_PORT: env.port(httpPortOf('speaker')),
  SIGHTLINE_SPEAKER_OUTPUT: z.enum(OUTPUTS, { error: `must be one of ${OUTPUTS.join(', ')}` }).default('auto'),
  SIGHTLINE_SPEAKER_LANES: env.idList('lane', MAX_LANES).describe('comma-separated lane ids this speaker plays; all lanes when absent'),
  SIGHTLINE_SPEAKER_LOCALE: localeSchema.default('en-US').describe('locale for fallback announcements on a lane not heard from yet'),
  SIGHTLINE_SPEAKER_MAX_AGE_SECONDS: env.number(10, 0.5, 600),
  SIGHTLINE_SPEAKER_INTERRUPT: env.bool(true),
  SIGHTLINE_SPEAKER_EARCON: env.bool(true),
  SIGHTLINE_SPEAKER_FALLBACK: z
    .enum(['voice', 'earcon'], { error: 'must be voice or earcon' })
    .default('voice')
    .describe('how to say that speech is unavailable while tts is down: an offline voice inside the speaker, or earcons only'),
  SIGHTLINE_SPEAKER_MAX_QUEUE: env
    .int(MAX_PARTS + 5, 1, 1000)
    .describe('clips waiting per lane; beyond it the oldest goes, interruptible ones first. A whole receipt (one clip per line) must fit'),
  SIGHTLINE_SPEAKER_MAX_QUEUE_SECONDS: env.number(120, 1, 600).describe('seconds of audio waiting per lane, the same rule; a spoken receipt must fit'),
  SIGHTLINE_SPEAKER_MAX_CLIP_SECONDS: env.number(15, 1, 600).describe('a longer clip is refused: it would hold the output, and every other lane, that long'),
  SIGHTLINE_SPEAKER_MAX_LANES: env
    .int(64, 1, 10_000)
    .describe('lanes tracked at once without SIGHTLINE_SPEAKER_LANES; the least recently active is forgotten beyond it'),
  SIGHTLINE_SPEAKER_MAX_QUEUED_MB: env.number(64, 1, 4096).describe('audio waiting across all lanes, MiB'),
  SIGHTLINE_SPEAKER_LANE_IDLE_SECONDS: env.int(3600, 10, 604_800).describe('without SIGHTLINE_SPEAKER_LANES, a lane not heard from this long is forgotten'),
  SIGHTLINE_SPEAKER_REPEAT_AGAIN_SECONDS: env
    .number(4, 0, 60)
    .describe('a second repeat within this long of the previous one asks checkout to read the basket instead; 0: never'),
  SIGHTLINE_SPEAKER_VOLUME_STEPS: env.int(8, 8, MAX_VOLUME_STEPS).describe('volume levels of a lane, 1 to this'),
  SIGHTLINE_SPEAKER_VOLUME_DEFAULT: env
    .int(6, 1, MAX_VOLUME_STEPS)
    .describe('the level a lane starts at and returns to after each basket; it plays at unity gain'),
  SIGHTLINE_SPEAKER_VOLUME_STEP_DB: env.number(3, 0.5, 10).describe('dB between two levels'),
  SIGHTLINE_SPEAKER_HEADSETS: headsetsSchema.describe(
    'lane=device pairs: the lane plays on its headset (a PulseAudio sink, an ALSA PCM, or a folder under the file output) instead of the loudspeaker',
  ),
  SIGHTLINE_SPEAKER_HEADSET_VOLUME_DEFAULT: z.coerce
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(MAX_VOLUME_STEPS, `must be at most ${MAX_VOLUME_STEPS}`)
    .optional()
    .describe("the level a headset lane starts at; the loudspeaker's default when absent"),
  SIGHTLINE_SPEAKER_PULSE_MODE: z.enum(PULSE_MODES, { error: `must be one of ${PULSE_MODES.join(', ')}` }).default('stream'),
  SIGHTLINE_SPEAKER_PULSE_DEVICE: env.optionalString().describe('PulseAudio sink name; the default sink when absent'),
  SIGHTLINE_SPEAKER_PULSE_SERVER: env.optionalString().describe('PulseAudio server (unix:/path or tcp:host); PULSE_SERVER or the usual one when absent'),
  SIGHTLINE_SPEAKER_LATENCY_MS: env.int(60, 5, 2000),
  SIGHTLINE_SPEAKER_STREAM_RATE: env.int(22050, 8000, 48000),
  SIGHTLINE_SPEAKER_STREAM_CHANNELS: env.int(1, 1, 2),
  SIGHTLINE_SPEAKER_ALSA_DEVICE: env.string('default'),
  SIGHTLINE_SPEAKER_FILE_DIR: env.optionalString().describe('folder for the file output; <data dir>/speaker/played when absent'),
  SIGHTLINE_SPEAKER_FILE_MAX_FILES: env.int(1000, 1, 1_000_000),
  SIGHTLINE_SPEAKER_FILE_MAX_MB: env.number(200, 0.01, 1_000_000),
});

export interface VolumeSettings {
  steps: number;
  /** Level the loudspeaker lanes start at; it plays at unity gain (level L at (L - defaultLevel) x stepDb). */
  defaultLevel: number;
  /** Level headset lanes start at (the same gain table). */
  headsetDefaultLevel: number;
  stepDb: number;
}

export type SpeakerEnv = z.infer<typeof speakerEnvSchema>;

export interface SpeakerConfig {
  logLevel: string;
  mqtt: MqttSettings;
  http: HttpSettings;
  dataDir: string;
  output: OutputKind;
  /** Lanes this speaker plays; null for every lane. */
  lanes: string[] | null;
  defaultLocale: string;
  maxAgeMs: number;
  interruptOnScan: boolean;
  earcon: boolean;
  fallback: 'voice' | 'earcon';
  maxQueuePerLane: number;
  maxQueueMsPerLane: number;
  maxClipMs: number;
  /** Lanes tracked at once: the configured lanes, else MAX_LANES. */
  maxLanes: number;
  maxQueuedBytes: number;
  /** Null with configured lanes: they are never forgotten. */
  laneIdleMs: number | null;
  repeatAgainMs: number;
  volume: VolumeSettings;
  /** Lane to headset device; the file output's headset folder is `<file dir>/<device>`. */
  headsets: ReadonlyMap<string, string>;
  pulse: { mode: PulseMode; device: string | undefined; server: string | undefined; latencyMs: number; rate: number; channels: number };
  alsa: { device: string; bufferMs: number };
  file: { dir: string; maxFiles: number; maxBytes: number };
}

export function loadSpeakerConfig(environment: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): SpeakerConfig {
  const settings = loadConfig('speaker', speakerEnvSchema, environment);
  const problems: string[] = [];
  const lanes = settings.SIGHTLINE_SPEAKER_LANES ?? null;
  // One lane's queue and its last announcement (kept for repeat, as long as a queue at most) must
  // fit in the total, in the loudest format a WAV may carry.
  const laneWorstBytes = 2 * settings.SIGHTLINE_SPEAKER_MAX_QUEUE_SECONDS * WORST_BYTES_PER_SECOND;
  if (settings.SIGHTLINE_SPEAKER_MAX_QUEUED_MB * MIB < laneWorstBytes) {
    problems.push(
      `SIGHTLINE_SPEAKER_MAX_QUEUED_MB: must hold one lane's SIGHTLINE_SPEAKER_MAX_QUEUE_SECONDS of 48 kHz stereo audio twice, waiting and kept for repeat (at least ${Math.ceil(laneWorstBytes / MIB)})`,
    );
  }
  const steps = settings.SIGHTLINE_SPEAKER_VOLUME_STEPS;
  const defaultLevel = settings.SIGHTLINE_SPEAKER_VOLUME_DEFAULT;
  const headsetDefaultLevel = settings.SIGHTLINE_SPEAKER_HEADSET_VOLUME_DEFAULT ?? defaultLevel;
  if (defaultLevel > steps) problems.push(`SIGHTLINE_SPEAKER_VOLUME_DEFAULT: must be at most SIGHTLINE_SPEAKER_VOLUME_STEPS (${steps})`);
  if (headsetDefaultLevel > steps) problems.push(`SIGHTLINE_SPEAKER_HEADSET_VOLUME_DEFAULT: must be at most SIGHTLINE_SPEAKER_VOLUME_STEPS (${steps})`);
  // Past +12 dB a loud clip is mostly clipping; below -40 dB a level is as good as mute.
  const stepDb = settings.SIGHTLINE_SPEAKER_VOLUME_STEP_DB;
  if ((steps - defaultLevel) * stepDb > 12)
    problems.push(`SIGHTLINE_SPEAKER_VOLUME_STEP_DB: the top level would play at +${(steps - defaultLevel) * stepDb} dB; at most +12 dB above the default`);
  if ((defaultLevel - 1) * stepDb > 40)
    problems.push(`SIGHTLINE_SPEAKER_VOLUME_STEP_DB: the lowest level would play at -${(defaultLevel - 1) * stepDb} dB; at most -40 dB below the default`);
  const headsets: ReadonlyMap<string, string> = settings.SIGHTLINE_SPEAKER_HEADSETS ?? new Map();
  for (const lane of headsets.keys()) {
    if (lanes !== null && !lanes.includes(lane)) problems.push(`SIGHTLINE_SPEAKER_HEADSETS: lane ${lane} is not among SIGHTLINE_SPEAKER_LANES`);
  }
  if (problems.length > 0) throw new ConfigError('speaker', problems);
  const dataDir = serviceDataDir(settings, 'speaker', cwd);
  return {
    logLevel: settings.SIGHTLINE_LOG_LEVEL,
    mqtt: mqttSettingsFrom(settings),
    http: httpSettingsFrom('speaker', { host: settings.SIGHTLINE_SPEAKER_HTTP_HOST, port: settings.SIGHTLINE_SPEAKER_HTTP_PORT }, settings),
    dataDir,
    output: settings.SIGHTLINE_SPEAKER_OUTPUT,
    lanes,
    defaultLocale: settings.SIGHTLINE_SPEAKER_LOCALE,
    maxAgeMs: settings.SIGHTLINE_SPEAKER_MAX_AGE_SECONDS * 1000,
    interruptOnScan: settings.SIGHTLINE_SPEAKER_INTERRUPT,
    earcon: settings.SIGHTLINE_SPEAKER_EARCON,
    fallback: settings.SIGHTLINE_SPEAKER_FALLBACK,
    maxQueuePerLane: settings.SIGHTLINE_SPEAKER_MAX_QUEUE,
    maxQueueMsPerLane: settings.SIGHTLINE_SPEAKER_MAX_QUEUE_SECONDS * 1000,
    maxClipMs: settings.SIGHTLINE_SPEAKER_MAX_CLIP_SECONDS * 1000,
    maxLanes: lanes?.length ?? settings.SIGHTLINE_SPEAKER_MAX_LANES,
    maxQueuedBytes: Math.round(settings.SIGHTLINE_SPEAKER_MAX_QUEUED_MB * MIB),
    laneIdleMs: lanes === null ? settings.SIGHTLINE_SPEAKER_LANE_IDLE_SECONDS * 1000 : null,
    repeatAgainMs: settings.SIGHTLINE_SPEAKER_REPEAT_AGAIN_SECONDS * 1000,
    volume: { steps, defaultLevel, headsetDefaultLevel, stepDb },
    headsets,
    pulse: {
      mode: settings.SIGHTLINE_SPEAKER_PULSE_MODE,
      device: settings.SIGHTLINE_SPEAKER_PULSE_DEVICE,
      server: settings.SIGHTLINE_SPEAKER_PULSE_SERVER,
      latencyMs: settings.SIGHTLINE_SPEAKER_LATENCY_MS,
      rate: settings.SIGHTLINE_SPEAKER_STREAM_RATE,
      channels: settings.SIGHTLINE_SPEAKER_STREAM_CHANNELS,
    },
    alsa: { device: settings.SIGHTLINE_SPEAKER_ALSA_DEVICE, bufferMs: Math.max(20, settings.SIGHTLINE_SPEAKER_LATENCY_MS) },
    file: {
      dir: settings.SIGHTLINE_SPEAKER_FILE_DIR !== undefined ? path.resolve(cwd, settings.SIGHTLINE_SPEAKER_FILE_DIR) : path.join(dataDir, 'played'),
      maxFiles: settings.SIGHTLINE_SPEAKER_FILE_MAX_FILES,
      maxBytes: Math.round(settings.SIGHTLINE_SPEAKER_FILE_MAX_MB * 1024 * 1024),
    },
  };
}
