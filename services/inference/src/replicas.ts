import { createHash } from 'node:crypto';
import type { InferenceReplica } from '@sightline/schemas';

/**
 * Cameras split evenly between replicas, the same on every replica given the same inputs: the
 * (camera, replica) pairs are ranked by a hash (rendezvous hashing) and taken best first while
 * the replica has room (at most ceil(cameras / replicas) each). A replica joining or leaving
 * moves few cameras, and none moves while the group is unchanged.
 */
export function assignCameras(cameras: readonly string[], replicas: readonly string[]): Map<string, string> {
  const owners = new Map<string, string>();
  if (replicas.length === 0) return owners;
  const room = Math.ceil(cameras.length / replicas.length);
  const load = new Map(replicas.map((r) => [r, 0]));
  const pairs: Array<{ camera: string; replica: string; rank: string }> = [];
  for (const camera of new Set(cameras))
    for (const replica of new Set(replicas)) pairs.push({ camera, replica, rank: createHash('sha256').update(`${camera}\n${replica}`).digest('hex') });
  pairs.sort((a, b) => (a.rank < b.rank ? 1 : a.rank > b.rank ? -1 : 0));
  for (const { camera, replica } of pairs) {
    if (owners.has(camera) || load.get(replica)! >= room) continue;
    owners.set(camera, replica);
    load.set(replica, load.get(replica)! + 1);
  }
  return owners;
}

export interface ReplicaGroupOptions {
  self: string;
  /** How often this replica says it is alive; a replica silent for 3 heartbeats is counted gone. */
  heartbeatMs: number;
  /** The cameras this replica knows of now (configured, or seen lately). */
  cameras: () => string[];
  /** Publishes this replica's state (retained). Failures are the caller's to log. */
  publish: (state: InferenceReplica) => Promise<unknown>;
  /** Cameras this replica no longer serves: their waiting frames must go before the others take them. */
  onReleased?: (cameras: string[]) => void;
  /** Called whenever the served set or the view changed. */
  onChange?: () => void;
  now?: () => number;
}

interface Member {
  state: InferenceReplica;
  /** Local time of its last live message (retained copies do not count: they may be a dead one's). */
  heardAt: number;
  /** Its assignment, computed once per distinct (cameras, replicas). */
  owners: Map<string, string>;
}

/**
 * One inference replica's membership in the group sharing the cameras. Every replica publishes
 * its view (the live replicas and the cameras it knows) on a retained topic at each heartbeat and
 * at once on every change. A camera is served by this replica only while every live replica's
 * published view assigns it here, so during a handover the old owner has stopped (and said so)
 * before the new one starts: a frame is never served twice, and a camera waits at most one
 * message round trip when the group changes, or 3 heartbeats when a replica dies unannounced
 * (about one round trip when its last will is seen: see `someoneLeft`).
 *
 * A new replica first listens for `2 × heartbeatMs` (`joining`, serving nothing and counted by
 * nobody), so it learns the live replicas before it takes any camera; replicas joining together
 * go online in the order of their ids.
 */
export class ReplicaGroup {
  readonly #options: ReplicaGroupOptions;
  readonly #now: () => number;
  readonly #members = new Map<string, Member>();
  #state: InferenceReplica['state'] = 'joining';
  #serving = new Set<string>();
  #view: string[] = [];
  #cameras: string[] = [];
  #owners = new Map<string, string>();
  #lastPublishedKey = '';
  #lastPublishedAt = 0;
  #joinedAt = 0;
  /** Replicas asked to prove they are alive (after a last will was seen), and by when. */
  #suspects = new Map<string, number>();
  #timer: NodeJS.Timeout | null = null;
  #lastTickAt = 0;
  get #tickMs(): number {
    return Math.max(25, Math.floor(this.#options.heartbeatMs / 4));
  }
  /** Set while updating: `cameras()` may report a change (a camera expiring) from inside an update. */
  #updating = false;

  constructor(options: ReplicaGroupOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  get state(): InferenceReplica['state'] {
    return this.#state;
  }

  /** Whether this replica serves the camera now. */
  serves(camera: string): boolean {
    return this.#serving.has(camera);
  }

  serving(): string[] {
    return [...this.#serving].sort();
  }

  /** The live replicas as this one sees them (itself included once online). */
  view(): string[] {
    return [...this.#view];
  }

  start(): void {
    this.#joinedAt = this.#now();
    this.#state = 'joining';
    this.#update(true);
    this.#lastTickAt = this.#now();
    this.#timer = setInterval(() => this.#tick(), this.#tickMs);
    this.#timer.unref();
  }

  /**
   * Starts listening again, serving nothing: call when the connection to the broker drops
   * (`connected` false) and again when it is back. Cut off, this replica heard nobody and counted every other one gone;
   * serving its own idea of the split on reconnecting would double what the others serve.
   */
  rejoin(connected: boolean): void {
    if (this.#state === 'offline') return;
    this.#state = 'joining';
    // While cut off it cannot listen: the listening time starts once connected.
    this.#joinedAt = connected ? this.#now() : Infinity;
    this.#update(false);
  }

  /** Stops serving at once (the caller then finishes the frame in flight). */
  release(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#state = 'offline';
    this.#update(false);
  }

  /** Says `offline`, so the others take the cameras without waiting for heartbeats to lapse. */
  async leave(): Promise<void> {
    if (this.#state !== 'offline') this.release();
    await this.#options.publish(this.#snapshot());
  }

  /** A replica's state as published (retained copies, sent on subscribing, prove nothing about liveness). */
  onState(state: InferenceReplica, retained: boolean): void {
    if (state.replica === this.#options.self || retained) return;
    if (state.state === 'offline') {
      this.#members.delete(state.replica);
      this.#suspects.delete(state.replica);
    } else {
      const known = this.#members.get(state.replica);
      const sameView = known !== undefined && sameList(known.state.cameras, state.cameras) && sameList(known.state.replicas, state.replicas);
      this.#members.set(state.replica, {
        state,
        heardAt: this.#now(),
        owners: sameView ? known.owners : assignCameras(state.cameras, state.replicas),
      });
      this.#suspects.delete(state.replica);
    }
    this.#update(false);
  }

  /**
   * The service's last will was seen: some replica vanished, but which one the will cannot say.
   * Each live replica answers at once with a heartbeat; whoever has not within half a heartbeat
   * (at least 250 ms) is counted gone.
   */
  someoneLeft(): void {
    const deadline = this.#now() + Math.max(250, this.#options.heartbeatMs / 2);
    for (const [replica, member] of this.#members) if (member.state.state === 'online') this.#suspects.set(replica, deadline);
    this.#publish(true);
  }

  /** The cameras known changed (one seen first, or gone quiet). */
  camerasChanged(): void {
    this.#update(false);
  }

  #tick(): void {
    const now = this.#now();
    // A tick much later than due means this replica's own event loop stalled: the others'
    // heartbeats may be waiting unread in the socket (timers run before I/O), so judge silence
    // only at the next tick, once they are read.
    const stalled = now - this.#lastTickAt > 2 * this.#tickMs;
    this.#lastTickAt = now;
    const silentFor = 3 * this.#options.heartbeatMs;
    for (const [replica, member] of stalled ? [] : this.#members) {
      const suspectUntil = this.#suspects.get(replica);
      if (now - member.heardAt > silentFor || (suspectUntil !== undefined && now >= suspectUntil)) {
        this.#members.delete(replica);
        this.#suspects.delete(replica);
      }
    }
    // Replicas starting together go online one at a time, smallest id first: two that each took
    // themselves for the only one would both serve every camera until they heard of each other.
    const earlierJoiner = [...this.#members].some(([replica, m]) => m.state.state === 'joining' && replica < this.#options.self);
    if (this.#state === 'joining' && now - this.#joinedAt >= 2 * this.#options.heartbeatMs && !earlierJoiner) this.#state = 'online';
    this.#update(now - this.#lastPublishedAt >= this.#options.heartbeatMs);
  }

  /** Recomputes the view and the served cameras; publishes when they changed (or `force`). */
  #update(force: boolean): void {
    if (this.#updating) return;
    this.#updating = true;
    try {
      this.#recompute(force);
    } finally {
      this.#updating = false;
    }
  }

  #recompute(force: boolean): void {
    const self = this.#options.self;
    const cameras = [...new Set(this.#options.cameras())].sort();
    const view =
      this.#state === 'online' ? [...new Set([self, ...[...this.#members].filter(([, m]) => m.state.state === 'online').map(([r]) => r)])].sort() : [];
    if (!sameList(view, this.#view) || !sameList(cameras, this.#cameras)) this.#owners = assignCameras(cameras, view);
    this.#view = view;
    this.#cameras = cameras;

    const serving = new Set<string>();
    if (this.#state === 'online') {
      for (const camera of cameras) {
        if (this.#owners.get(camera) !== self) continue;
        // Every live replica must agree: one that has not yet seen the change may still serve it.
        const agreed = view.every((replica) => replica === self || this.#members.get(replica)?.owners.get(camera) === self);
        if (agreed) serving.add(camera);
      }
    }
    const released = [...this.#serving].filter((camera) => !serving.has(camera));
    const changed = released.length > 0 || serving.size !== this.#serving.size;
    this.#serving = serving;
    if (released.length > 0) this.#options.onReleased?.(released);
    this.#publish(force);
    if (changed) this.#options.onChange?.();
  }

  #snapshot(): InferenceReplica {
    return { replica: this.#options.self, state: this.#state, replicas: this.#view, cameras: this.#cameras, serving: this.serving(), at: this.#now() };
  }

  #publish(force: boolean): void {
    const snapshot = this.#snapshot();
    const key = JSON.stringify([snapshot.state, snapshot.replicas, snapshot.cameras, snapshot.serving]);
    if (!force && key === this.#lastPublishedKey) return;
    this.#lastPublishedKey = key;
    this.#lastPublishedAt = this.#now();
    this.#options.publish(snapshot).catch(() => {
      // Not published (disconnected): the next heartbeat says it again.
      this.#lastPublishedKey = '';
    });
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}
