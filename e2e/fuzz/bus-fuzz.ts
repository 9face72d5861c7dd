import type { MqttClient } from 'mqtt';
import { MAX_CASE_BYTES, type BusCase, type CaseKind, type ChannelFuzzer } from './payloads.ts';

/**
 * Sends the channels' hostile messages in turn, channel after channel, each channel's cases in a
 * fixed mix of kinds, with a bounded number in flight. The byte budget is spent evenly over the
 * run on big valid-looking frames and clips under new ids (per-id state is where memory goes);
 * once it is spent, a case that would be big is replaced by a field mutation.
 */

/** Twenty cases per cycle: mostly field mutations, a quarter valid-looking messages under new ids. */
const MIX: CaseKind[] = [
  'field',
  'ids',
  'field',
  'document',
  'field',
  'ids',
  'extra-key',
  'field',
  'media',
  'ids',
  'field',
  'topic',
  'field',
  'ids',
  'document',
  'field',
  'extra-key',
  'ids',
  'field',
  'media',
];

export interface BusResult {
  sent: number;
  bytes: number;
  /** Per channel: case kind to count. */
  byChannel: Map<string, Map<CaseKind, number>>;
  /** Publishes that failed (the client was disconnected, the broker closed the connection). */
  failed: number;
  /** The last cases sent, newest last, to set beside a restart. */
  recent: Array<{ at: number; channel: string; topic: string; note: string }>;
}

export interface BusFuzzOptions {
  count: number;
  deadline: number;
  byteBudget: number;
  inFlight: number;
}

const BIG = 64 * 1024;

export async function fuzzBus(client: MqttClient, fuzzers: ChannelFuzzer[], options: BusFuzzOptions): Promise<BusResult> {
  const result: BusResult = { sent: 0, bytes: 0, byChannel: new Map(), failed: 0, recent: [] };
  let inFlight = 0;
  let wake: (() => void) | null = null;
  const cycles = new Map<string, number>();
  const media = fuzzers.filter((f) => f.channel.encoding === 'jpeg' || f.channel.encoding === 'wav');
  let regular = 0;
  let volume = 0;
  for (let i = 0; i < options.count && Date.now() < options.deadline; i++) {
    let busCase: BusCase;
    if (media.length > 0 && result.bytes < (options.byteBudget * i) / options.count) {
      // Behind the byte schedule: a big frame or clip under a new id, to show what per-id state costs.
      busCase = media[volume++ % media.length]!.next('ids');
    } else {
      const fuzzer = fuzzers[regular++ % fuzzers.length]!;
      const turn = cycles.get(fuzzer.channel.name) ?? 0;
      cycles.set(fuzzer.channel.name, turn + 1);
      busCase = fuzzer.next(MIX[turn % MIX.length]!);
      if (busCase.payload.length >= BIG && (result.bytes + busCase.payload.length > options.byteBudget || busCase.payload.length > MAX_CASE_BYTES)) {
        busCase = fuzzer.next('field');
      }
    }
    const byKind = result.byChannel.get(busCase.channel) ?? new Map<CaseKind, number>();
    byKind.set(busCase.kind, (byKind.get(busCase.kind) ?? 0) + 1);
    result.byChannel.set(busCase.channel, byKind);
    result.sent++;
    result.bytes += busCase.payload.length;
    result.recent.push({ at: Date.now(), channel: busCase.channel, topic: busCase.topic.slice(0, 120), note: busCase.note });
    if (result.recent.length > 400) result.recent.splice(0, 200);

    while (!client.connected && Date.now() < options.deadline) await new Promise((r) => setTimeout(r, 50));
    inFlight++;
    client.publish(busCase.topic, busCase.payload, { qos: busCase.qos }, (err) => {
      if (err) result.failed++;
      inFlight--;
      wake?.();
    });
    while (inFlight >= options.inFlight && Date.now() < options.deadline + 15_000) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 500);
      });
    }
  }
  const settleBy = Date.now() + 15_000;
  while (inFlight > 0 && Date.now() < settleBy) await new Promise((r) => setTimeout(r, 50));
  return result;
}
