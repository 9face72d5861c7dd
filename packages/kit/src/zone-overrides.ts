import { existsSync } from 'node:fs';
import { z } from 'zod';
import { epochMsSchema, idSchema, polygonSchema, type Polygon } from '@sightline/schemas';
import { loadDataFile, writeFileAtomic } from './files.ts';

/** A zone set at run time (over HTTP), and the camera whose frame it was drawn on. */
export interface ZoneOverride {
  camera: string;
  zone: Polygon;
  updatedAt: number;
}

/** More than any service has zones (checkout: 64 lanes, alert: 200 rules). */
export const MAX_ZONE_OVERRIDES = 256;
/** 256 zones of 64 points at full precision, pretty-printed: about 1.6 MB; a bigger file is not one of ours. */
export const MAX_ZONES_FILE_BYTES = 2 * 1024 * 1024;

export const zonesFileSchema = z.strictObject({
  zones: z
    .record(idSchema, z.strictObject({ camera: idSchema, zone: polygonSchema, updatedAt: epochMsSchema }))
    .refine((zones) => Object.keys(zones).length <= MAX_ZONE_OVERRIDES, `holds more than ${MAX_ZONE_OVERRIDES} zones`),
});

export class ZonesFileError extends Error {
  override name = 'ZonesFileError';
}

/**
 * Zones changed at run time, kept in a small JSON file in the service's data dir and applied over
 * the zones its configuration file gives (checkout's lanes, alert's person-in-zone rules). The
 * configuration file may be read-only or absent (the built-in defaults), and the data dir is the
 * one place a service writes, so the changes live there and the configuration stays as written.
 *
 * `{"zones": {"<lane or rule id>": {"camera": "cam1", "zone": [{"x": 0, "y": 0}, ...], "updatedAt": <epoch ms>}}}`
 *
 * The file is replaced whole at each change (`writeFileAtomic`): a crash leaves the zones before
 * the change or after it. The constructor only stores; `load` reads.
 */
export class ZoneOverrides {
  readonly file: string;
  #zones = new Map<string, ZoneOverride>();
  #loaded = false;

  constructor(file: string) {
    this.file = file;
  }

  /**
   * Reads the file (none: no changes) and keeps the zones that still apply: `targets` maps each
   * id that has a zone to its camera. A zone for an id no longer configured, or drawn on another
   * camera than the id's now, is left out and returned in `ignored` with the reason; it is gone
   * from the file at the next change. A file that cannot be read or is not valid throws a
   * ZonesFileError with every problem: a zone silently reverting could watch the wrong place.
   */
  load(targets: ReadonlyMap<string, string>): { applied: Map<string, ZoneOverride>; ignored: Array<{ id: string; reason: string }> } {
    this.#zones = new Map();
    const ignored: Array<{ id: string; reason: string }> = [];
    if (!existsSync(this.file)) {
      this.#loaded = true;
      return { applied: new Map(), ignored };
    }
    const { value, problems } = loadDataFile('zones file', this.file, zonesFileSchema, MAX_ZONES_FILE_BYTES);
    if (value === undefined) {
      throw new ZonesFileError(`${problems.join('; ')} (fix it, or remove it to go back to the configured zones)`);
    }
    for (const [id, entry] of Object.entries(value.zones)) {
      const camera = targets.get(id);
      if (camera === undefined) ignored.push({ id, reason: 'no zone of this id is configured' });
      else if (camera !== entry.camera) ignored.push({ id, reason: `drawn on camera ${entry.camera}, and ${id} now watches ${camera}` });
      else this.#zones.set(id, entry);
    }
    this.#loaded = true;
    return { applied: new Map(this.#zones), ignored };
  }

  get(id: string): ZoneOverride | undefined {
    return this.#zones.get(id);
  }

  /** Writes the file with `id`'s new zone and only then keeps it; throws (nothing changed) when the file cannot be written. */
  set(id: string, override: ZoneOverride): void {
    // Written before the file was read, the file would lose every other zone it holds.
    if (!this.#loaded) throw new ZonesFileError(`${this.file} has not been read yet: zones can be changed once the service has started`);
    const zones = new Map(this.#zones).set(id, override);
    writeFileAtomic(this.file, `${JSON.stringify({ zones: Object.fromEntries(zones) }, null, 2)}\n`);
    this.#zones = zones;
  }
}
