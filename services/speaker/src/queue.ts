/**
 * Where an announcement goes in its lane's queue, and what makes room for it: the rules the
 * player applies, as functions of the queue alone.
 */
import { bytesForMs } from './pcm.ts';
import type { Announcement, Current, LaneState, Remembered } from './lane-state.ts';

/**
 * How far a pause backs up before the cut: what the output reported as started was heard a little
 * later (its buffer, the device), and a word cut in half is better said again whole.
 */
export const REST_BACKUP_MS = 300;

/** A total from checkout (a replay of one is not a newer total). */
export function isTotal(item: Announcement): boolean {
  return item.kind === 'speech' && item.sourceKind === 'total' && item.asked === undefined;
}

export function sameSource(a: Pick<Announcement, 'sourceKind' | 'sourceId'>, b: Pick<Announcement, 'sourceKind' | 'sourceId'>): boolean {
  return a.sourceKind === b.sourceKind && a.sourceId === b.sourceId;
}

/** Totals and whatever the shopper asked for (feedback, repeats, the rest after a pause) are never too old. */
export function exemptFromAge(item: Announcement): boolean {
  return !item.interruptible || item.asked !== undefined;
}

/** The last part of its announcement (or an announcement in one piece). */
export function isLastPart(item: Announcement): boolean {
  return item.part === undefined || item.part.index >= item.part.count - 1;
}

/**
 * What a paused lane may still play: the answer to a control given after the pause ("Paused.",
 * "Volume 7 of 8"), and the warning that the session is about to end (a pause must not let the
 * time run out unheard).
 */
export function playsWhilePaused(item: Announcement, state: LaneState): boolean {
  return (
    (item.asked === 'feedback' && item.sourceAt >= state.pausedAt) || (item.kind === 'speech' && item.sourceKind === 'idle-warning' && item.asked === undefined)
  );
}

/** Asked for, then must-play, then the rest: a clip may push out waiting clips of its own rank or lower. */
function rank(item: Announcement): number {
  return item.asked !== undefined ? 2 : item.interruptible ? 0 : 1;
}

/**
 * The waiting clip to push out to make room for `item`, or -1 when none may go: the lowest rank
 * first, the oldest first within it; never one of a higher rank than the newcomer, never an
 * earlier part of the newcomer's own announcement (the end of an over-long announcement is lost,
 * not its beginning).
 */
export function overflowVictim(queue: readonly Announcement[], item: Announcement): number {
  const own = rank(item);
  for (let r = 0; r <= own; r++) {
    const index = queue.findIndex((q) => rank(q) === r && !(q.asked === item.asked && sameSource(q, item)));
    if (index >= 0) return index;
  }
  return -1;
}

/**
 * Where a new clip goes: a part next to the other waiting parts of its announcement, in index
 * order; feedback ahead of everything but earlier feedback; else before the first waiting clip
 * `ahead` matches, or last.
 */
export function placeOf(queue: readonly Announcement[], item: Announcement, ahead?: (waiting: Announcement) => boolean): number {
  if (item.part !== undefined) {
    const index = item.part.index;
    let after = -1;
    let before = -1;
    queue.forEach((q, i) => {
      if (q.part === undefined || q.asked !== item.asked || !sameSource(q, item)) return;
      if (q.part.index <= index) after = i;
      else if (before < 0) before = i;
    });
    if (after >= 0) return after + 1;
    if (before >= 0) return before;
  }
  if (item.asked === 'feedback') {
    const first = queue.findIndex((q) => q.asked !== 'feedback');
    return first < 0 ? queue.length : first;
  }
  const position = ahead ? queue.findIndex(ahead) : -1;
  return position >= 0 ? position : queue.length;
}

/**
 * What a pause keeps of the clip playing: from a little before where it was (the output's start
 * as reported), to its end; null when it had played to the end.
 */
export function restOf(current: Current, at: number): Announcement | null {
  const { item } = current;
  const { clip } = item;
  const playedMs = current.startedAt === null ? 0 : Math.max(0, at - current.startedAt);
  if (playedMs >= clip.durationMs) return null;
  const fromMs = Math.max(0, playedMs - REST_BACKUP_MS);
  const samples = clip.samples.subarray(Math.min(clip.samples.length, bytesForMs(fromMs, clip.format)));
  return {
    ...item,
    clip: { ...clip, samples, durationMs: clip.durationMs - fromMs, label: { ...clip.label, kind: `rest-${clip.label.kind.replace(/^rest-/, '')}` } },
    asked: 'rest',
  };
}

/**
 * Keeps what is starting to play as the lane's last announcement (a part joins the others of its
 * announcement; anything else replaces it), within what the lane may hold.
 */
export function remember(state: LaneState, item: Announcement, limits: { maxParts: number; maxMs: number }): void {
  let memory: Remembered | null = state.remembered;
  if (memory === null || !sameSource(memory, item)) {
    memory = {
      kind: item.kind,
      sourceKind: item.sourceKind,
      sourceId: item.sourceId,
      sourceAt: item.sourceAt,
      interruptible: item.interruptible,
      parts: [],
      ms: 0,
      bytes: 0,
    };
    state.remembered = memory;
  }
  const index = item.part?.index ?? 0;
  const kept = { part: item.part, clip: item.clip, ...(item.text !== undefined ? { text: item.text } : {}) };
  const at = memory.parts.findIndex((p) => (p.part?.index ?? 0) >= index);
  const same = at >= 0 && (memory.parts[at]!.part?.index ?? 0) === index ? memory.parts[at]! : null;
  const ms = memory.ms - (same?.clip.durationMs ?? 0) + item.clip.durationMs;
  const parts = memory.parts.length - (same ? 1 : 0) + 1;
  if (parts <= limits.maxParts && ms <= limits.maxMs) {
    memory.parts.splice(at >= 0 ? at : memory.parts.length, same ? 1 : 0, kept);
    memory.ms = ms;
    memory.bytes = memory.parts.reduce((sum, p) => sum + p.clip.samples.length, 0);
  }
}

/** The clips a repeat plays: the remembered announcement, every part of it, as it was played. */
export function replayOf(memory: Remembered, lane: string): Announcement[] {
  return memory.parts.map(({ part, clip, text }) => ({
    lane,
    kind: memory.kind,
    clip: { ...clip, label: { ...clip.label, kind: `repeat-${clip.label.kind}` } },
    sourceKind: memory.sourceKind,
    sourceId: memory.sourceId,
    sourceAt: memory.sourceAt,
    interruptible: memory.interruptible,
    ...(text !== undefined ? { text } : {}),
    ...(part !== undefined ? { part } : {}),
    asked: 'replay' as const,
  }));
}
