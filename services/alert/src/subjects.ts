import { busServices, type CameraStatus } from '@sightline/schemas';
import { BoundedMap, type BoundedMapOptions } from '@sightline/kit';
import type { EngineLimits } from './engine.ts';
import type { Rule } from './rules.ts';

/** The service whose cameras report `cameras/<camera>/status`. */
const CAPTURE = 'capture';

export interface CameraState {
  /** What capture last said (undefined: nothing yet); every camera is offline while capture is. */
  status: 'online' | 'offline' | undefined;
  /** When this service learnt the camera went offline (its own clock, not capture's). */
  offlineSince: number | undefined;
  reason: string | undefined;
  /** Camera-offline rules whose alert a person resolved while the camera stayed away: not raised again until it is back. */
  dismissed: Set<string>;
}

export interface SubjectsOptions {
  rules: readonly Rule[];
  limits: EngineLimits;
  /** This service's own name: its own availability is not watched. */
  self: string;
  now: () => number;
  /** Counts an input about a subject the engine does not act on. */
  dropped: { inc(labels: { channel: string; reason: string }): void };
  /** Where the bounded maps count their evictions. */
  bounded: Pick<BoundedMapOptions<unknown, unknown>, 'registry' | 'logger' | 'now'>;
}

/** The cameras, lanes and services the engine acts on (see `EngineLimits`), and what capture said of each camera. */
export class Subjects {
  /** Configured cameras (listed, or named by a rule): always held. */
  readonly knownCameras = new Map<string, CameraState>();
  /** Cameras seen on the bus but not configured: capped, forgotten when quiet. */
  readonly seenCameras: BoundedMap<string, CameraState>;
  /** Cameras the generic camera-offline rule watches from the start, seen or not. */
  readonly watchedFromStart: ReadonlySet<string>;
  private readonly knownLanes: ReadonlySet<string>;
  private readonly seenLanes: BoundedMap<string, true>;
  private readonly knownServices: ReadonlySet<string>;
  private readonly options: SubjectsOptions;
  /** capture's availability went offline and no `online` came since: its camera statuses are stale. */
  private captureOffline = false;

  constructor(options: SubjectsOptions) {
    this.options = options;
    const { rules, limits, bounded } = options;
    this.seenCameras = new BoundedMap({ name: 'alert-cameras', maxEntries: limits.maxCameras, idleMs: limits.forgetMs, whenFull: 'refuse-new', ...bounded });
    this.seenLanes = new BoundedMap({ name: 'alert-lanes', maxEntries: limits.maxLanes, idleMs: limits.forgetMs, whenFull: 'refuse-new', ...bounded });
    const ruleCameras = rules.flatMap((rule) => ('camera' in rule && rule.camera !== undefined ? [rule.camera] : []));
    for (const camera of [...(limits.cameras ?? []), ...ruleCameras]) this.knownCameras.set(camera, newCameraState());
    this.watchedFromStart = new Set(limits.cameras ?? []);
    this.knownLanes = new Set([...(limits.lanes ?? []), ...rules.flatMap((rule) => ('lane' in rule && rule.lane !== undefined ? [rule.lane] : []))]);
    this.knownServices = new Set(
      [
        ...busServices,
        ...limits.services,
        ...rules.flatMap((rule) => (rule.type === 'service-offline' && rule.service !== undefined ? [rule.service] : [])),
      ].filter((service) => service !== options.self),
    );
  }

  /** The state of a camera the engine acts on: configured, or seen and within the cap; undefined (counted) otherwise. */
  camera(camera: string, channel: string): CameraState | undefined {
    const known = this.knownCameras.get(camera);
    if (known !== undefined) return known;
    if (this.options.limits.cameras !== null) return this.ignored(channel, 'camera-not-configured');
    const seen = this.seenCameras.get(camera);
    if (seen !== undefined) return seen;
    const state = newCameraState();
    return this.seenCameras.set(camera, state) ? state : this.ignored(channel, 'camera-cap');
  }

  /** A camera held, without counting it as seen. */
  peekCamera(camera: string): CameraState | undefined {
    return this.knownCameras.get(camera) ?? this.seenCameras.peek(camera);
  }

  /** Whether the engine acts on this lane (configured, or seen and within the cap); counted when not. */
  lane(lane: string, channel: string): 'known' | 'seen' | undefined {
    if (this.knownLanes.has(lane)) return 'known';
    if (this.options.limits.lanes !== null) return this.ignored(channel, 'lane-not-configured');
    return this.seenLanes.set(lane, true) ? 'seen' : this.ignored(channel, 'lane-cap');
  }

  /** Whether the engine watches this service's availability; counted when not. */
  service(service: string): boolean {
    if (service === this.options.self) return false;
    if (this.knownServices.has(service)) return true;
    this.ignored('availability', 'unknown-service');
    return false;
  }

  /** capture's word on one camera; whether it is acted on (online counts as evidence even for a camera not held). */
  cameraStatus(camera: string, status: Pick<CameraStatus, 'state' | 'reason'>): boolean {
    // While capture is offline its retained statuses are stale: they describe a capture that is gone.
    if (this.captureOffline) {
      this.ignored('cameraStatus', 'capture-offline');
      return false;
    }
    const state = this.camera(camera, 'cameraStatus');
    if (status.state === 'offline') {
      if (state !== undefined) this.setCameraOffline(state, status.reason ?? 'offline');
      return false;
    }
    if (state !== undefined) {
      state.status = 'online';
      state.offlineSince = undefined;
      state.reason = undefined;
      state.dismissed.clear();
    }
    return true;
  }

  /**
   * A watched service's availability. capture's last will covers one connection, not each camera,
   * so when it goes offline every camera it reported is offline; a camera counts as online again
   * only once a status published after capture came back says so.
   */
  availability(service: string, availability: 'online' | 'offline'): void {
    if (service !== CAPTURE) return;
    this.captureOffline = availability === 'offline';
    if (!this.captureOffline) return;
    for (const state of [...this.knownCameras.values(), ...this.seenCameras.values()]) {
      if (state.status !== undefined) this.setCameraOffline(state, 'capture is offline');
    }
  }

  private setCameraOffline(state: CameraState, reason: string): void {
    if (state.status !== 'offline') state.offlineSince = this.options.now();
    state.status = 'offline';
    state.reason = reason;
  }

  private ignored(channel: string, reason: string): undefined {
    this.options.dropped.inc({ channel, reason });
    return undefined;
  }
}

function newCameraState(): CameraState {
  return { status: undefined, offlineSince: undefined, reason: undefined, dismissed: new Set() };
}
