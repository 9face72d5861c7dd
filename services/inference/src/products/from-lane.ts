import type { LaneFrame } from '@sightline/schemas';
import type { UnitBox } from './backbone.ts';
import type { RecentFrame, RecentFrames, RecentObject } from './recent-frames.ts';
import { ProductError, type PhotoUpload } from './store.ts';

export interface LaneSources {
  /** The recent frames the service holds. */
  recent: RecentFrames;
  /** Detector labels the recognition never compares (person): never the object meant. */
  ignore: ReadonlySet<string>;
  /** Fetches a frame sync kept, by name; null when no sync service is configured. */
  fetchKept: ((name: string) => Promise<Buffer>) | null;
}

/** A tolerance for boxes that a detector's float arithmetic puts a hair past the edge. */
const EDGE = 1.0001;

const insideFrame = (box: UnitBox) => box.width > 0 && box.height > 0 && box.x + box.width <= EDGE && box.y + box.height <= EDGE;

/**
 * The object the lane most likely talked about, when the request names none: the best-scored
 * object that recognition compares with the products, i.e. one with a box that has an area and
 * whose detector label is not ignored (a person at the lane is never the item). That is also the
 * object checkout's scan zone saw longest and surest, and the one a crop `detector` upload takes.
 * Ties go to the first listed (the detections list objects best score first). Null when none
 * qualifies: the whole frame is learned then.
 */
export function likelyObject(objects: readonly RecentObject[], ignore: ReadonlySet<string>): number | null {
  let best: number | null = null;
  for (const [i, object] of objects.entries()) {
    if (object.box === null || object.box.width <= 0 || object.box.height <= 0) continue;
    if (ignore.has(object.recognition?.detectorLabel ?? object.label)) continue;
    if (best === null || object.score > objects[best]!.score) best = i;
  }
  return best;
}

const describe = (frame: LaneFrame, i: number) =>
  frame.kept !== undefined ? `frame ${i + 1} (kept ${frame.kept})` : `frame ${i + 1} (${frame.camera} seq ${frame.seq})`;

/** The upload a recent frame becomes: its given box, else its given object, else the likely object, else the whole frame. */
function recentUpload(frame: LaneFrame, held: RecentFrame, ignore: ReadonlySet<string>, which: string): PhotoUpload {
  if (frame.object !== undefined && frame.object >= held.objects.length)
    throw new ProductError(
      400,
      `${which}: object ${frame.object} does not exist; the frame has ${held.objects.length} object${held.objects.length === 1 ? '' : 's'} (0-${held.objects.length - 1})`,
    );
  if (frame.box !== undefined) return { bytes: held.jpeg, crop: 'box', box: frame.box };
  const index = frame.object ?? likelyObject(held.objects, ignore);
  const box = index === null ? null : held.objects[index]!.box;
  // An object without a box (a classification model's label) is about the whole frame.
  if (box === null || !insideFrame(box)) return { bytes: held.jpeg, crop: 'whole' };
  return { bytes: held.jpeg, crop: 'detector', found: box };
}

/**
 * The photos the frames of a from-lane request become, all of them or none: every frame is checked
 * before any kept image is fetched, and a refusal names the frames at fault.
 * - 400: a box outside the frame, an object index the frame does not have;
 * - 404: frames no longer held (their camera moved on past the ring, or was forgotten), all named;
 *   a kept image sync does not have;
 * - 503: recent frames are off, or kept images are asked for and no sync service is configured,
 *   or it cannot be reached (502 when it answers with an error).
 */
export async function laneUploads(frames: readonly LaneFrame[], sources: LaneSources): Promise<PhotoUpload[]> {
  const uploads: Array<PhotoUpload | null> = [];
  const missing: string[] = [];
  const kept: Array<{ i: number; frame: LaneFrame }> = [];
  for (const [i, frame] of frames.entries()) {
    const which = describe(frame, i);
    if (frame.box !== undefined && !insideFrame(frame.box)) throw new ProductError(400, `${which}: the box must lie inside the frame and have an area`);
    if (frame.kept !== undefined) {
      kept.push({ i, frame });
      uploads.push(null);
      continue;
    }
    if (sources.recent.limits.framesPerCamera === 0)
      throw new ProductError(503, 'recent frames are not kept (SIGHTLINE_INFERENCE_RECENT_FRAMES=0): only kept images can be added');
    const held = sources.recent.get(frame.camera!, frame.seq!);
    if (held === undefined) {
      missing.push(which);
      uploads.push(null);
      continue;
    }
    uploads.push(recentUpload(frame, held, sources.ignore, which));
  }
  if (missing.length > 0) {
    const cameras = [...new Set(frames.filter((f) => f.camera !== undefined).map((f) => f.camera!))];
    const held = cameras.map((camera) => {
      const range = sources.recent.range(camera);
      return range === null ? `nothing of ${camera}` : `${camera} seq ${range.first}-${range.last}`;
    });
    throw new ProductError(
      404,
      `${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} no longer held: the last ${sources.recent.limits.framesPerCamera} frames of each camera are (now ${held.join(', ')}); frames sync kept can be added by name`,
    );
  }
  if (kept.length > 0 && sources.fetchKept === null)
    throw new ProductError(
      503,
      `${describe(kept[0]!.frame, kept[0]!.i)}: kept images come from the sync service, and none is configured (SIGHTLINE_INFERENCE_SYNC_URL)`,
    );
  for (const { i, frame } of kept) {
    let bytes: Buffer;
    try {
      bytes = await sources.fetchKept!(frame.kept!);
    } catch (err) {
      if (err instanceof ProductError) throw new ProductError(err.status, `${describe(frame, i)}: ${err.message}`);
      throw err;
    }
    // Like an upload: the box given, else the best object the running detector finds in it.
    uploads[i] = frame.box !== undefined ? { bytes, crop: 'box', box: frame.box } : { bytes, crop: 'detector' };
  }
  return uploads.map((u) => u!);
}
