import { useEffect, useState } from 'preact/hooks';

/** What the console's live socket says (see services/console/src/live.ts). */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}
export interface DetectedObject {
  label: string;
  score: number;
  box: Box;
}
export interface FrameHeader {
  camera: string;
  seq: number;
  capturedAt: number;
  width: number | null;
  height: number | null;
  objects: DetectedObject[] | null;
  model: string | null;
  inferenceMs: number | null;
  sentAt: number;
}
export interface CameraStatus {
  camera: string;
  state: 'online' | 'offline';
  reason?: string;
  fps: number;
  width: number;
  height: number;
  since: number;
  at: number;
}
export interface BasketItem {
  id: string;
  sku: string;
  name: string;
  quantity: number;
  weightGrams: number | null;
  unitPriceMinor: number;
  priceMinor: number;
  at: number;
}
export interface Basket {
  id: string;
  lane: string;
  status: 'open' | 'finished' | 'abandoned';
  currency: string;
  items: BasketItem[];
  count: number;
  totalMinor: number;
  updatedAt: number;
}
export interface Said {
  lane: string;
  id: string;
  text: string;
  locale: string;
  at: number;
  kind: string;
}
export interface Alert {
  id: string;
  type: string;
  rule: string;
  severity: 'info' | 'warning' | 'critical';
  camera?: string;
  lane?: string;
  service?: string;
  message: string;
  firstSeen: number;
  lastSeen: number;
  count: number;
  snapshot: { camera: string; seq: number; capturedAt: number } | null;
  state: 'active' | 'acknowledged' | 'resolved';
}
export interface ModelRef {
  id: string;
  version: string;
}
export interface ModelState {
  model: ModelRef | null;
  since: number;
  error?: string;
}

/** A product inference recognises, as its state lists it (schemas/src/products.ts). */
export interface ProductSummary {
  id: string;
  name: string | null;
  photos: number;
  updatedAt: number;
}
export interface ProductState {
  products: ProductSummary[];
  backbone: string;
  threshold: number;
}

export interface ControlResult {
  lane: string;
  command?: string;
  outcome: string;
  reason?: string;
  at: number;
}

export interface LiveState {
  connected: boolean;
  /** The last control result of each lane (whoever sent the control). */
  controlResults: Map<string, ControlResult>;
  cameras: Map<string, CameraStatus | null>;
  services: Record<string, 'online' | 'offline'>;
  baskets: Map<string, Basket>;
  said: Map<string, Said>;
  model: ModelState | null;
  /** The products inference recognises, as it last said (after every change, whoever made it). */
  products: ProductState | null;
  /** Bumped on every alert change, so an alerts page knows to look again. */
  alertsVersion: number;
}

export interface PaintRecord {
  camera: string;
  seq: number;
  objects: DetectedObject[] | null;
  /** Capture's stamp of the frame and the console's stamp as it sent it (frame header), epoch ms. */
  capturedAt: number;
  sentAt: number;
  /** Frame message received -> painted (the next animation frame after drawing), ms. */
  latencyMs: number;
  /** When it was painted, epoch ms: the same clock as capturedAt and sentAt when all run on one machine. */
  paintedAt: number;
}

/** What the page measures about itself, for the browser tests and anyone curious (window.sightlineLive). */
export interface LiveStats {
  painted: PaintRecord[];
  received: number;
}

type FrameHandler = (header: FrameHeader, jpeg: Blob, receivedAt: number) => void;

class LiveClient {
  state: LiveState = {
    connected: false,
    controlResults: new Map(),
    cameras: new Map(),
    services: {},
    baskets: new Map(),
    said: new Map(),
    model: null,
    products: null,
    alertsVersion: 0,
  };
  readonly stats: LiveStats = { painted: [], received: 0 };
  private socket: WebSocket | null = null;
  private readonly listeners = new Set<() => void>();
  private readonly frameHandlers = new Map<string, Set<FrameHandler>>();
  private retry = 500;
  private stopped = true;

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.socket?.close();
    this.socket = null;
  }

  private connect(): void {
    const socket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/live`);
    socket.binaryType = 'arraybuffer';
    this.socket = socket;
    socket.onopen = () => {
      this.retry = 500;
      this.update({ connected: true });
      this.sendWatch();
    };
    socket.onclose = () => {
      this.update({ connected: false });
      if (!this.stopped) setTimeout(() => this.connect(), (this.retry = Math.min(this.retry * 2, 10_000)));
    };
    socket.onmessage = (event) => {
      if (typeof event.data === 'string') this.onJson(JSON.parse(event.data));
      else this.onFrame(event.data as ArrayBuffer);
    };
  }

  private sendWatch(): void {
    if (this.socket?.readyState !== WebSocket.OPEN) return;
    this.socket.send(JSON.stringify({ type: 'watch', cameras: [...this.frameHandlers.keys()] }));
  }

  private onFrame(data: ArrayBuffer): void {
    const receivedAt = performance.now();
    this.stats.received += 1;
    const view = new DataView(data);
    const length = view.getUint32(0);
    const header = JSON.parse(new TextDecoder().decode(new Uint8Array(data, 4, length))) as FrameHeader;
    const jpeg = new Blob([new Uint8Array(data, 4 + length)], { type: 'image/jpeg' });
    for (const handler of this.frameHandlers.get(header.camera) ?? []) handler(header, jpeg, receivedAt);
  }

  private onJson(message: any): void {
    const s = this.state;
    switch (message.type) {
      case 'hello': {
        const cameras = new Map<string, CameraStatus | null>();
        for (const c of message.cameras) cameras.set(c.camera, c.status);
        const baskets = new Map<string, Basket>();
        const said = new Map<string, Said>();
        for (const l of message.lanes) {
          if (l.basket) baskets.set(l.lane, l.basket);
          if (l.said) said.set(l.lane, l.said);
        }
        return this.update({ cameras, services: message.services, baskets, said, model: message.model, products: message.products ?? null });
      }
      case 'camera':
        return this.update({ cameras: new Map(s.cameras).set(message.status.camera, message.status) });
      case 'service':
        return this.update({ services: { ...s.services, [message.service]: message.availability } });
      case 'basket':
        return this.update({ baskets: new Map(s.baskets).set(message.basket.lane, message.basket) });
      case 'said':
        return this.update({ said: new Map(s.said).set(message.said.lane, message.said) });
      case 'control-result':
        return this.update({ controlResults: new Map(s.controlResults).set(message.result.lane, message.result) });
      case 'alert':
        return this.update({ alertsVersion: s.alertsVersion + 1 });
      case 'model':
        return this.update({ model: message.state });
      case 'products':
        return this.update({ products: message.state });
      default:
    }
  }

  private update(change: Partial<LiveState>): void {
    this.state = { ...this.state, ...change };
    for (const listener of this.listeners) listener();
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  watchFrames(camera: string, handler: FrameHandler): () => void {
    let handlers = this.frameHandlers.get(camera);
    if (!handlers) this.frameHandlers.set(camera, (handlers = new Set()));
    handlers.add(handler);
    this.sendWatch();
    return () => {
      handlers.delete(handler);
      if (handlers.size === 0) this.frameHandlers.delete(camera);
      this.sendWatch();
    };
  }

  recordPaint(record: Omit<PaintRecord, 'paintedAt'>): void {
    this.stats.painted.push({ ...record, paintedAt: Date.now() });
    if (this.stats.painted.length > 2000) this.stats.painted.splice(0, 1000);
  }
}

export const live = new LiveClient();
(window as unknown as { sightlineLive: LiveStats }).sightlineLive = live.stats;

export function useLive(): LiveState {
  const [state, setState] = useState(live.state);
  useEffect(() => live.subscribe(() => setState(live.state)), []);
  return state;
}
