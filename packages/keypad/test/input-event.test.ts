import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decodeInputEvent,
  decodeInputEvents,
  encodeInputEvent,
  encodeInputEvents,
  eventTimeMs,
  EV_KEY,
  EV_MSC,
  EV_SYN,
  INPUT_EVENT_SIZE,
  InputEventDecoder,
  KEY_AUTOREPEAT,
  KEY_PRESS,
  KEY_RELEASE,
  type InputEvent,
} from '../src/input-event.ts';

test('input_event: 24 bytes laid out as on 64-bit Linux, constants as in input-event-codes.h', () => {
  assert.deepEqual([EV_SYN, EV_KEY, EV_MSC, KEY_RELEASE, KEY_PRESS, KEY_AUTOREPEAT], [0, 1, 4, 0, 1, 2]);
  const bytes = encodeInputEvent({ sec: 0x1_2345_6789, usec: 999_999, type: EV_KEY, code: 76, value: -2 });
  assert.equal(bytes.length, INPUT_EVENT_SIZE);
  // tv_sec int64 LE, tv_usec int64 LE, type u16 LE, code u16 LE, value s32 LE.
  assert.equal(bytes.toString('hex'), '8967452301000000' + '3f420f0000000000' + '0100' + '4c00' + 'feffffff');
  assert.deepEqual(decodeInputEvent(bytes), { sec: 0x1_2345_6789, usec: 999_999, type: 1, code: 76, value: -2 });
  assert.equal(eventTimeMs({ sec: 1_796_119_200, usec: 123_999, type: 1, code: 76, value: 1 }), 1_796_119_200_123);
  assert.throws(() => decodeInputEvents(Buffer.alloc(25)), /25 bytes is not a whole number of 24-byte input events/);
});

test('input_event: the streaming decoder gives the same records for every way of cutting the bytes', () => {
  const events: InputEvent[] = Array.from({ length: 9 }, (_, i) => ({
    sec: 1_796_119_200 + i,
    usec: i * 1111,
    type: i % 3 === 1 ? EV_KEY : EV_SYN,
    code: 70 + i,
    value: (i % 3) - 1,
  }));
  const bytes = encodeInputEvents(events);
  assert.deepEqual(decodeInputEvents(bytes), events);
  for (let size = 1; size <= 2 * INPUT_EVENT_SIZE + 1; size += 1) {
    const decoder = new InputEventDecoder();
    const out: InputEvent[] = [];
    for (let at = 0; at < bytes.length; at += size) decoder.push(bytes.subarray(at, at + size), (e) => out.push(e));
    assert.deepEqual(out, events, `chunks of ${size} bytes`);
    assert.equal(decoder.pendingBytes, 0);
  }
  // Cuts at odd, uneven places, including empty chunks.
  const decoder = new InputEventDecoder();
  const out: InputEvent[] = [];
  let at = 0;
  for (const size of [0, 1, 22, 2, 0, 47, 24, 25, 3, 23]) {
    decoder.push(bytes.subarray(at, at + size), (e) => out.push(e));
    at += size;
  }
  assert.equal(at, 6 * INPUT_EVENT_SIZE + 3);
  assert.deepEqual(out, events.slice(0, 6));
  assert.equal(decoder.pendingBytes, 3);
  decoder.push(bytes.subarray(at), (e) => out.push(e));
  assert.deepEqual(out, events);
  // What is left of a record at the end is reported, and forgotten.
  decoder.push(bytes.subarray(0, 10), () => assert.fail('no whole record in 10 bytes'));
  assert.equal(decoder.reset(), 10);
  assert.equal(decoder.pendingBytes, 0);
  decoder.push(bytes.subarray(0, INPUT_EVENT_SIZE), (e) => assert.deepEqual(e, events[0]));
});
