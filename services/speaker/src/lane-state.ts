/** What the player keeps per lane (bounded with the lane), and what it reports about it. */
import type { AudioOutput, Volume } from '@sightline/schemas';
import type { Clip } from './sinks/sink.ts';

export const ITEM_KINDS = ['earcon', 'speech', 'fallback'] as const;
export type ItemKind = (typeof ITEM_KINDS)[number];

/** One thing to play on a lane: an earcon, an utterance, or a fallback announcement. */
export interface Announcement {
  lane: string;
  kind: ItemKind;
  clip: Clip;
  /** What it is about: `scan`, a lane event type, `speech-unavailable`, `speech-restored`. */
  sourceKind: string;
  sourceId: string;
  /** When that scan or event happened (epoch ms): age and staleness are measured from it. */
  sourceAt: number;
  /** False for totals (and fallback announcements): never cut, never dropped for age. */
  interruptible: boolean;
  text?: string;
  /** One line of a long announcement (a receipt, a basket read-out): parts play in order. */
  part?: Part;
  /**
   * What the shopper asked for, never dropped for age: `feedback` (the answer to a control:
   * placed ahead, and played while the lane is paused when it answers a later control),
   * `replay` (a repeat), `rest` (what a pause cut off).
   */
  asked?: 'feedback' | 'replay' | 'rest';
  /** For feedback: the command it answers. */
  command?: string;
}

export interface Part {
  index: number;
  count: number;
}

/** The lane's last announcement as it was played (every part of it so far), for repeat. */
export interface Remembered {
  kind: ItemKind;
  sourceKind: string;
  sourceId: string;
  sourceAt: number;
  interruptible: boolean;
  /** By part index (a single clip has none), in order. */
  parts: Array<{ part: Part | undefined; clip: Clip; text?: string }>;
  ms: number;
  bytes: number;
}

/** A basket ended (total or session-ended): the lane's volume and memory belong to the next shopper. */
export interface BasketEnd {
  /** The lane event whose announcement, once played to its end, resets the volume. */
  eventId: string;
  volumeReset: boolean;
}

export interface PlayedSummary {
  kind: ItemKind;
  sourceKind: string;
  sourceId: string;
  text?: string;
  startedAt: number;
  endedAt: number;
  interrupted: boolean;
}

export interface LaneStatus {
  lane: string;
  playing: { kind: ItemKind; sourceKind: string; sourceId: string; text?: string; startedAt: number | null } | null;
  queued: number;
  /** Audio waiting, milliseconds and bytes of samples. */
  queuedMs: number;
  queuedBytes: number;
  lastPlayed: PlayedSummary | null;
  played: number;
  interrupted: number;
  dropped: number;
  paused: boolean;
  volume: Volume;
  /** Source id of the announcement a repeat plays. */
  lastAnnouncement: string | null;
}

/** Everything the speaker keeps about one lane; bounded with the lane (the `speaker-lanes` map). */
export interface LaneState {
  lane: string;
  /** Clips waiting, in playing order. */
  queue: Announcement[];
  queuedMs: number;
  queuedBytes: number;
  /** The output's turn counter when this lane last played: the lane that waited longest goes next. */
  lastTurn: number;
  latestScanAt: number;
  lastPlayed: PlayedSummary | null;
  played: number;
  interrupted: number;
  dropped: number;
  /** When each recent scan's earcon ended, for the earcon-to-speech gap. */
  earconEnded: Map<string, number>;
  /** The lane's last seen locale (scans, events, speech), for fallback announcements. */
  locale: string | null;
  /** Recent utterance ids, to play a redelivered one once. */
  utterances: Set<string>;
  /** Told that speech is unavailable in the current outage. */
  toldOutage: boolean;
  output: AudioOutput;
  volumeLevel: number;
  /** Held by a pause: only feedback to a later control plays. */
  paused: boolean;
  /** When it was paused (this speaker's clock). */
  pausedAt: number;
  /** Speech about anything before this (a stop, this speaker's clock) is dropped when it arrives. */
  stoppedAt: number;
  remembered: Remembered | null;
  /** When the last repeat was asked for, for "twice in a row reads the basket". */
  lastRepeatAt: number | null;
  basketEnd: BasketEnd | null;
}

/** Recent scans whose earcon end is kept (for the earcon-to-speech gap), and recent utterance ids (to play a redelivered one once). */
export const EARCONS_REMEMBERED = 32;
export const UTTERANCES_REMEMBERED = 64;

/** The clip being played and how to cut it. */
export interface Current {
  item: Announcement;
  controller: AbortController;
  startedAt: number | null;
}

export function newLaneState(lane: string, output: AudioOutput, volumeLevel: number): LaneState {
  return {
    lane,
    queue: [],
    queuedMs: 0,
    queuedBytes: 0,
    lastTurn: 0,
    latestScanAt: 0,
    lastPlayed: null,
    played: 0,
    interrupted: 0,
    dropped: 0,
    earconEnded: new Map(),
    locale: null,
    utterances: new Set(),
    toldOutage: false,
    output,
    volumeLevel,
    paused: false,
    pausedAt: 0,
    stoppedAt: 0,
    remembered: null,
    lastRepeatAt: null,
    basketEnd: null,
  };
}

/** What `/lanes` says about a lane; `current` when the clip playing is this lane's. */
export function laneStatus(state: LaneState, current: Current | null, steps: number): LaneStatus {
  return {
    lane: state.lane,
    playing: current
      ? {
          kind: current.item.kind,
          sourceKind: current.item.sourceKind,
          sourceId: current.item.sourceId,
          ...(current.item.text !== undefined ? { text: current.item.text } : {}),
          startedAt: current.startedAt,
        }
      : null,
    queued: state.queue.length,
    queuedMs: Math.round(state.queuedMs),
    queuedBytes: state.queuedBytes,
    lastPlayed: state.lastPlayed,
    played: state.played,
    interrupted: state.interrupted,
    dropped: state.dropped,
    paused: state.paused,
    volume: { output: state.output, level: state.volumeLevel, steps },
    lastAnnouncement: state.remembered?.sourceId ?? null,
  };
}
