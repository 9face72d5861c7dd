import type { Registry } from 'prom-client';
import type { CatalogIndex } from '@sightline/catalog';
import { BoundedMap, type Logger } from '@sightline/kit';
import { boxCentre, insidePolygon, normaliseLabel, type Detections, type Product } from '@sightline/schemas';
import type { LaneConfig } from './config.ts';
import { MAX_LABEL_KEY_CHARS } from './store.ts';

/**
 * One product (or one unknown label) seen in the zone, from its first sighting until it has been
 * gone `clearMs` by the service's clock (its entry then expires from the presence map).
 */
interface Presence {
  key: string;
  product: Product | null;
  label: string;
  lastFrame: number;
  /** Scores and counts are kept only until the scan is decided (at most `scanFrames` of each). */
  streak: { startAt: number; frames: number; scores: number[]; counts: number[] } | null;
  /** Scanned, announced or given up: not again in this presence. */
  done: boolean;
}

/** A presence in view long enough to be scanned, once. `product` is null for a label the catalog does not sell. */
export interface ScanDecision {
  key: string;
  product: Product | null;
  label: string;
  /** Items the camera counted over the streak. */
  counted: number;
  /** The mean score over the streak, to three decimals. */
  confidence: number;
}

/** Whether anything is tracked in the zone, and whether every presence tracked is already decided. */
export type Occupancy = 'empty' | 'decided' | 'undecided';

export interface ScanZoneDeps {
  config: LaneConfig;
  catalog: CatalogIndex;
  now: () => number;
  logger: Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
  registry?: Registry;
  /** Keys scanned before a restart (the stored `memory.scanned`): not scanned again while in view. */
  scanned: string[];
  /** A decided presence was forgotten: the stored list of scanned keys changed. */
  forgot: () => void;
}

/**
 * What is in a lane's scan zone: one presence per product or unknown label, its streak of
 * consecutive frames, and the decision to scan it once the streak is long enough.
 */
export class ScanZone {
  readonly #config: LaneConfig;
  readonly #catalog: CatalogIndex;
  readonly #presences: BoundedMap<string, Presence>;
  /** Presences read back from the store: they join the map at the first frame after the restart, so their clock starts then. */
  #restored: Presence[] = [];
  #frames = 0;

  constructor({ config, catalog, now, logger, registry, scanned, forgot }: ScanZoneDeps) {
    this.#config = config;
    this.#catalog = catalog;
    const { tuning } = config;
    this.#presences = new BoundedMap<string, Presence>({
      name: `checkout-presences-${config.id}`,
      maxEntries: tuning.maxPresences,
      maxBytes: tuning.maxPresenceBytes,
      sizeOf: (_presence, key) => presenceBytes(key, tuning.scanFrames),
      idleMs: tuning.clearMs,
      now,
      logger,
      ...(registry ? { registry } : {}),
      onEvict: (_key, presence) => {
        if (presence.done) forgot();
      },
    });
    for (const key of scanned) {
      const product = key.startsWith('label:') ? null : (catalog.bySku(key) ?? null);
      this.#restored.push({ key, product, label: key, lastFrame: -2, streak: null, done: true });
    }
  }

  /** Follows one frame; `decided` is called at once for each presence whose scan this frame decides. */
  observe(detections: Detections, decided: (decision: ScanDecision) => void): void {
    const { tuning, zone } = this.#config;
    this.#frames += 1;
    // Capture time paces a scan (SCAN_MS); how long something has been gone is the service's own clock.
    const t = detections.capturedAt;
    for (const presence of this.#restored.splice(0)) this.#presences.set(presence.key, presence);

    const seen = new Map<string, { product: Product | null; label: string; best: number; count: number }>();
    for (const object of detections.objects) {
      if (!insidePolygon(boxCentre(object.box), zone)) continue;
      const label = normaliseLabel(object.label);
      if (tuning.ignoreLabels.includes(label)) continue;
      const product = this.#catalog.byLabel(label) ?? null;
      if (object.score < (product?.threshold ?? tuning.scoreThreshold)) continue;
      // Lower-casing can lengthen a label ('İ' becomes two units): the key is cut to what the store reads back.
      const key = product ? product.sku : `label:${label.slice(0, MAX_LABEL_KEY_CHARS)}`;
      const entry = seen.get(key);
      if (entry) {
        entry.count += 1;
        entry.best = Math.max(entry.best, object.score);
      } else {
        seen.set(key, { product, label: object.label, best: object.score, count: 1 });
      }
    }

    for (const [key, sighting] of seen) {
      let presence = this.#presences.get(key);
      if (!presence) {
        presence = { key, product: sighting.product, label: sighting.label, lastFrame: -2, streak: null, done: false };
        this.#presences.set(key, presence);
      }
      if (presence.streak && presence.lastFrame === this.#frames - 1) {
        presence.streak.frames += 1;
        if (!presence.done) {
          presence.streak.scores.push(sighting.best);
          presence.streak.counts.push(sighting.count);
        }
      } else {
        presence.streak = { startAt: t, frames: 1, scores: [sighting.best], counts: [sighting.count] };
      }
      presence.lastFrame = this.#frames;
      presence.label = sighting.label;
      const { streak } = presence;
      if (!presence.done && (streak.frames >= tuning.scanFrames || t - streak.startAt >= tuning.scanMs)) {
        presence.done = true;
        decided({
          key,
          product: presence.product,
          label: presence.label,
          counted: mode(streak.counts),
          confidence: Math.round((streak.scores.reduce((a, b) => a + b, 0) / streak.scores.length) * 1000) / 1000,
        });
      }
    }

    for (const presence of this.#presences.values()) if (!seen.has(presence.key)) presence.streak = null;
  }

  /** Forgets what has been gone `clearMs`. */
  expire(): void {
    this.#presences.expire();
  }

  /** What is in view now: SKUs, or `label:` keys for labels the catalog does not sell. */
  inView(): string[] {
    return [...this.#presences.values()].filter((p) => p.streak !== null).map((p) => p.product?.sku ?? p.key);
  }

  occupancy(): Occupancy {
    const presences = this.#all();
    if (presences.length === 0) return 'empty';
    return presences.every((p) => p.done) ? 'decided' : 'undecided';
  }

  /** The keys not to scan again, as the store keeps them. */
  scanned(): string[] {
    return this.#all()
      .filter((p) => p.done)
      .map((p) => p.key);
  }

  bounds(): { held: number; bytes: number; max: number; maxBytes: number } {
    return { held: this.#presences.size, bytes: this.#presences.bytes, max: this.#presences.maxEntries, maxBytes: this.#presences.maxBytes };
  }

  #all(): Presence[] {
    return [...this.#presences.values(), ...this.#restored];
  }
}

/** The most frequent count; on a tie the smaller one (never charge for an item seen only sometimes). */
function mode(values: number[]): number {
  const tally = new Map<number, number>();
  for (const value of values) tally.set(value, (tally.get(value) ?? 0) + 1);
  let best = values[0] ?? 1;
  let bestCount = 0;
  for (const [value, count] of tally) {
    if (count > bestCount || (count === bestCount && value < best)) {
      best = value;
      bestCount = count;
    }
  }
  return best;
}

/** A presence's bytes, roughly: the key and label strings (UTF-16) and the scores of one streak. */
function presenceBytes(key: string, scanFrames: number): number {
  return 128 + 2 * key.length + 2 * 256 + 16 * scanFrames;
}
