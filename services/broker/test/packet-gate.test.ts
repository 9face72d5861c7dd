import assert from 'node:assert/strict';
import { Duplex, PassThrough } from 'node:stream';
import { test } from 'node:test';
import { PacketGate, PacketScanner, type PacketLimits, type Violation } from '../src/packet-gate.ts';
import { connectPacket, remainingLength } from './helpers.ts';

const limits: PacketLimits = { connectBytes: 4096, publishBytes: 1024, subscribeBytes: 512 };

function header(type: number, length: number, flags = 0): Buffer {
  return Buffer.concat([Buffer.from([(type << 4) | flags]), remainingLength(length)]);
}

/** Feeds the bytes one at a time: the first violation, or null. */
function byteByByte(bytes: Buffer): Violation | null {
  const scanner = new PacketScanner(limits);
  for (const byte of bytes) {
    const violation = scanner.scan(Buffer.from([byte]));
    if (violation !== null) return violation;
  }
  return null;
}

test('the scanner follows packet boundaries however the bytes are cut', () => {
  const connect = connectPacket({ clientId: 'c', clean: true, keepalive: 30 });
  const publish = Buffer.concat([header(3, 1000), Buffer.alloc(1000)]);
  const subscribe = Buffer.concat([header(8, 8, 2), Buffer.alloc(8)]);
  const ping = header(12, 0);
  const puback = Buffer.concat([header(4, 2), Buffer.from([0, 1])]);
  const stream = Buffer.concat([connect, publish, ping, subscribe, puback, publish]);
  assert.equal(new PacketScanner(limits).scan(stream), null);
  assert.equal(byteByByte(stream), null);
  const scanner = new PacketScanner(limits);
  for (let i = 0; i < stream.length; i += 7) assert.equal(scanner.scan(stream.subarray(i, i + 7)), null);
  assert.equal(scanner.completed, 6);
});

test('the scanner reports each violation as soon as the header shows it', () => {
  const connect = connectPacket({ clientId: 'c', clean: true, keepalive: 30 });
  assert.deepEqual(byteByByte(header(3, 10)), { reason: 'first_not_connect', type: 3 });
  assert.deepEqual(byteByByte(header(1, 4097)), { reason: 'connect_too_large', type: 1, announced: 4097, limit: 4096 });
  assert.deepEqual(byteByByte(Buffer.concat([connect, header(3, 1025)])), { reason: 'publish_too_large', type: 3, announced: 1025, limit: 1024 });
  assert.deepEqual(byteByByte(Buffer.concat([connect, header(10, 513, 2)])), { reason: 'subscribe_too_large', type: 10, announced: 513, limit: 512 });
  assert.deepEqual(new PacketScanner({ ...limits, connectBytes: 1 << 30 }).scan(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff])), {
    reason: 'malformed_length',
    type: 1,
  });
  assert.deepEqual(byteByByte(Buffer.concat([connect, header(12, 1)])), { reason: 'malformed_length', type: 12, announced: 1, limit: 0 });
  for (const type of [0, 1, 2, 9, 11, 13, 15]) assert.equal(byteByByte(Buffer.concat([connect, header(type, 0)]))?.reason, 'unexpected_type', `type ${type}`);
  // A length whose first bytes already exceed the limit is refused before its last byte arrives.
  const scanner = new PacketScanner(limits);
  assert.deepEqual(scanner.scan(Buffer.from([0x10, 0x80, 0x80])), null);
  assert.deepEqual(new PacketScanner(limits).scan(Buffer.from([0x10, 0x81, 0x40])), { reason: 'connect_too_large', type: 1, announced: 8193, limit: 4096 });
});

test('after the CONNECT the gate reads nothing more until the client has authenticated', async () => {
  const inner = new PassThrough();
  const violations: Violation[] = [];
  const gate = new PacketGate(inner as Duplex, { limits: { ...limits, publishBytes: 1 << 20 }, onViolation: (v) => violations.push(v) });
  const received: Buffer[] = [];
  gate.on('data', (chunk: Buffer) => received.push(chunk));
  const connect = connectPacket({ clientId: 'c', clean: true, keepalive: 30 });
  inner.write(connect);
  inner.write(Buffer.concat([header(3, 100_000), Buffer.alloc(1000)]));
  for (let i = 0; i < 99; i++) inner.write(Buffer.alloc(1000));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(Buffer.concat(received).length, connect.length);
  // Neither passed on nor held by the gate: left in the connection.
  assert.equal(gate.readableLength, 0);
  assert.equal(inner.isPaused(), true);
  gate.authenticated();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(Buffer.concat(received).length, connect.length + 4 + 100_000);
  assert.deepEqual(violations, []);
});

test('the gate hands aedes whole packets, one buffer per read(null): views of the socket read, joined only when a packet spans reads', async () => {
  const inner = new PassThrough();
  const gate = new PacketGate(inner as Duplex, { limits: { ...limits, publishBytes: 1 << 20 }, onViolation: () => assert.fail('no violation') });
  gate.authenticated();
  const connect = connectPacket({ clientId: 'c', clean: true, keepalive: 30 });
  const publish = (n: number) => Buffer.concat([header(3, 60_000), Buffer.alloc(60_000, n)]);
  const first = Buffer.concat([connect, publish(1), publish(2).subarray(0, 30_000)]);
  const second = Buffer.concat([publish(2).subarray(30_000), publish(3), header(12, 0), publish(4).subarray(0, 10)]);
  inner.write(first);
  inner.write(second);
  await new Promise((resolve) => setImmediate(resolve));
  const reads: Buffer[] = [];
  for (let read = gate.read(null); read !== null; read = gate.read(null)) reads.push(read);
  assert.deepEqual(
    reads.map((r) => r.length),
    [connect.length + publish(1).length, publish(2).length, publish(3).length + 2],
  );
  // Whole packets within one socket read are not copied; the one spanning two reads is joined.
  assert.equal(reads[0]!.buffer, first.buffer);
  assert.notEqual(reads[1]!.buffer, second.buffer);
  assert.equal(reads[2]!.buffer, second.buffer);
  assert.deepEqual(Buffer.concat(reads), Buffer.concat([connect, publish(1), publish(2), publish(3), header(12, 0)]));
  // The rest of the fourth publish waits for its end.
  inner.write(publish(4).subarray(10));
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(gate.read(null), publish(4));
});

test('writes go straight to the connection: its buffered bytes are the gate’s, and its drain is the gate’s', async () => {
  // A connection whose socket takes nothing until told to.
  const held: (() => void)[] = [];
  const inner = new Duplex({ highWaterMark: 1024, read() {}, write: (_chunk, _encoding, callback) => held.push(callback) });
  const gate = new PacketGate(inner, { limits, onViolation: () => assert.fail('no violation') });
  assert.equal(gate.write(Buffer.alloc(512)), true);
  assert.equal(gate.write(Buffer.alloc(4096)), false);
  assert.equal(gate.unsentBytes, 512 + 4096);
  const drained = new Promise((resolve) => gate.once('drain', resolve));
  while (held.length > 0) {
    held.shift()!();
    await new Promise((resolve) => setImmediate(resolve));
  }
  await drained;
  assert.equal(gate.unsentBytes, 0);
});
