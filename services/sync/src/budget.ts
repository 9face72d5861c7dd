import { existsSync } from 'node:fs';
import { BoundedMap, loadDataFile, writeFileAtomic, type Logger } from '@sightline/kit';
import { idSchema } from '@sightline/schemas';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import type { Reason } from './selection.ts';

const DAY_MS = 24 * 3600_000;
const HOURS = 24;
/** Labels counted per camera and day: enough for any detector's classes; more is a hostile flood. */
const MAX_LABELS = 256;
const FILE_LIMIT = 4 * 1024 * 1024;

export interface BudgetSettings {
  /** Images per camera per UTC day (alert snapshots count, and are never refused). */
  imagesPerDay: number;
  /** Bytes of JPEG per camera per UTC day. */
  bytesPerDay: number;
  /** The most of a camera's daily images one label may take as an uncertain image (0-1). */
  labelShare: number;
}

/** Why an image was not taken though it was worth it. */
export type OverBudget = 'images' | 'bytes' | 'pace' | 'label-share';

interface Spent {
  day: number;
  images: number;
  bytes: number;
  /** A Map, not an object: labels come from the network, and `__proto__` is a label like any other. */
  labels: Map<string, number>;
}

const spentSchema = z.strictObject({
  day: z.number().int().min(0),
  images: z.number().int().min(0),
  bytes: z.number().int().min(0),
  labels: z.record(z.string().max(128), z.number().int().min(0)),
});
const fileSchema = z.strictObject({ version: z.literal(1), cameras: z.record(idSchema, spentSchema) });

/**
 * What each camera may send per day, spread over the day: by the end of hour h (UTC) a camera may
 * have spent (h + 1) / 24 of its day, so a busy morning cannot spend the evening's share, and the
 * images of a day cover its hours. Within that, one label may take at most `labelShare` of the
 * day's images as uncertain images, so the labelling queue sees many kinds of object, not the one
 * the detector doubts most often. The counts survive a restart (a file in the data dir), or a crash
 * loop would reset the budget with every start.
 */
export class DailyBudget {
  private readonly cameras: BoundedMap<string, Spent>;
  private readonly settings: BudgetSettings;
  private readonly file: string | null;
  private readonly logger: Logger | undefined;
  private saveTimer: NodeJS.Timeout | undefined;

  constructor(settings: BudgetSettings, limits: { cameras: number; file?: string; registry?: Registry; logger?: Logger }) {
    this.settings = settings;
    this.file = limits.file ?? null;
    this.logger = limits.logger;
    this.cameras = new BoundedMap<string, Spent>({
      name: 'sync-budgets',
      maxEntries: limits.cameras,
      // A camera quiet for a day has nothing left to count.
      idleMs: DAY_MS,
      ...(limits.registry !== undefined ? { registry: limits.registry } : {}),
      ...(limits.logger !== undefined ? { logger: limits.logger } : {}),
    });
  }

  /** Reads the counts an earlier run left; an unreadable file is reported and the counts start again. */
  load(at: number): void {
    if (this.file === null || !existsSync(this.file)) return;
    const { value, problems } = loadDataFile('sync budget', this.file, fileSchema, FILE_LIMIT);
    if (value === undefined) {
      this.logger?.warn({ file: this.file, problems }, "budget counts unreadable: today's counts start again");
      return;
    }
    const today = dayOf(at);
    for (const [camera, spent] of Object.entries(value.cameras)) {
      if (spent.day === today) this.cameras.set(camera, { ...spent, labels: new Map(Object.entries(spent.labels)) });
    }
  }

  /** Null when the image fits the camera's budget now; otherwise which bound it would cross. */
  check(camera: string, reason: Reason, bytes: number, labels: readonly string[], at: number): OverBudget | null {
    if (reason === 'alert') return null;
    const held = this.cameras.peek(camera);
    const spent = held !== undefined && held.day === dayOf(at) ? held : { images: 0, bytes: 0, labels: new Map<string, number>() };
    const { imagesPerDay, bytesPerDay } = this.settings;
    if (spent.images + 1 > imagesPerDay) return 'images';
    if (spent.bytes + bytes > bytesPerDay) return 'bytes';
    const hoursStarted = Math.floor((at - dayOf(at) * DAY_MS) / 3600_000) + 1;
    if (spent.images + 1 > Math.ceil((imagesPerDay * hoursStarted) / HOURS) || spent.bytes + bytes > (bytesPerDay * hoursStarted) / HOURS) return 'pace';
    if (reason === 'uncertain' && labels.length > 0) {
      const cap = Math.max(1, Math.floor(this.settings.labelShare * imagesPerDay));
      // An image that shows any label still under its share adds something to the set.
      if (labels.every((label) => (spent.labels.get(label) ?? 0) >= cap)) return 'label-share';
    }
    return null;
  }

  spend(camera: string, bytes: number, labels: readonly string[], at: number): void {
    const spent = this.spent(camera, at);
    spent.images += 1;
    spent.bytes += bytes;
    for (const label of labels) {
      if (spent.labels.has(label) || spent.labels.size < MAX_LABELS) spent.labels.set(label, (spent.labels.get(label) ?? 0) + 1);
    }
    this.scheduleSave();
  }

  /** Today's spending per camera held. */
  snapshot(at: number): Record<string, { images: number; bytes: number }> {
    const today = dayOf(at);
    const out: Record<string, { images: number; bytes: number }> = {};
    for (const [camera, spent] of this.cameras.entries()) {
      if (spent.day === today) out[camera] = { images: spent.images, bytes: spent.bytes };
    }
    return out;
  }

  /** Writes the counts now (the service is stopping). */
  save(): void {
    clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    if (this.file === null) return;
    const cameras: Record<string, z.infer<typeof spentSchema>> = {};
    for (const [camera, spent] of this.cameras.entries()) cameras[camera] = { ...spent, labels: Object.fromEntries(spent.labels) };
    try {
      writeFileAtomic(this.file, JSON.stringify({ version: 1, cameras }));
    } catch (err) {
      this.logger?.warn({ err: { message: (err as Error).message }, file: this.file }, 'budget counts not saved');
    }
  }

  private scheduleSave(): void {
    if (this.file === null || this.saveTimer !== undefined) return;
    // At most one write a second: a selection is a few a minute, but a burst of alerts is not.
    this.saveTimer = setTimeout(() => this.save(), 1000);
    this.saveTimer.unref();
  }

  private spent(camera: string, at: number): Spent {
    const day = dayOf(at);
    let spent = this.cameras.get(camera);
    if (spent === undefined || spent.day !== day) {
      spent = { day, images: 0, bytes: 0, labels: new Map() };
      this.cameras.set(camera, spent);
    }
    return spent;
  }
}

function dayOf(at: number): number {
  return Math.floor(at / DAY_MS);
}
