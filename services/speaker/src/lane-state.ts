/** What the player keeps per lane (bounded with the lane), and what it reports about it. */
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

export function newLaneState(lane: string): LaneState {
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
  };
}

/** What `/lanes` says about a lane; `current` when the clip playing is this lane's. */
export function laneStatus(state: LaneState, current: Current | null): LaneStatus {
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
  };
}
