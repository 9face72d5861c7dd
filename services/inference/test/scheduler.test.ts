import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Scheduler } from '../src/pipeline/scheduler.ts';

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

function harness(runMs = 10) {
  const ran: string[] = [];
  const prepared: string[] = [];
  const dropped: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const scheduler = new Scheduler<string, string>({
    prepare: async (job) => {
      prepared.push(job.item);
      return `p:${job.item}`;
    },
    run: async (job, ready) => {
      assert.ok('value' in ready && ready.value === `p:${job.item}`);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await tick(runMs);
      ran.push(job.item);
      inFlight--;
    },
    onDrop: (camera, reason, item) => dropped.push(`${item}:${reason}`),
  });
  return { scheduler, ran, prepared, dropped, maxInFlight: () => maxInFlight };
}

test('latest wins per camera, one run at a time, the next frame prepared while one runs', async () => {
  const h = harness();
  h.scheduler.submit('a', 'a0');
  await tick(1);
  for (let i = 1; i < 5; i++) h.scheduler.submit('a', `a${i}`);
  assert.equal(h.scheduler.waiting(), 1);
  await h.scheduler.idle();
  assert.deepEqual(h.ran, ['a0', 'a4']);
  assert.deepEqual(h.dropped, ['a1:replaced', 'a2:replaced', 'a3:replaced']);
  assert.equal(h.maxInFlight(), 1);
});

test('cameras take turns whatever their rates', async () => {
  const h = harness(5);
  for (let round = 0; round < 6; round++) {
    for (let i = 0; i < 4; i++) h.scheduler.submit('busy', `b${round}.${i}`);
    h.scheduler.submit('quiet', `q${round}`);
    await tick(6);
  }
  await h.scheduler.idle();
  const busy = h.ran.filter((r) => r.startsWith('b')).length;
  const quiet = h.ran.filter((r) => r.startsWith('q')).length;
  assert.ok(Math.abs(busy - quiet) <= 1, `${h.ran.join(' ')}`);
});

test('between() runs after the run in flight and before the next; a failed prepare reaches run as an error', async () => {
  const order: string[] = [];
  const scheduler = new Scheduler<string, string>({
    prepare: async (job) => {
      if (job.item === 'bad') throw new Error('cannot decode');
      return job.item;
    },
    run: async (job, ready) => {
      order.push('error' in ready ? `error:${(ready.error as Error).message}` : `start:${job.item}`);
      await tick(10);
      order.push(`end:${job.item}`);
    },
    onDrop: () => {},
  });
  scheduler.submit('a', 'x');
  await tick(1);
  const swapped = scheduler.between(async () => {
    order.push('swap');
    return 42;
  });
  scheduler.submit('b', 'y');
  assert.equal(await swapped, 42);
  scheduler.submit('c', 'bad');
  await scheduler.idle();
  assert.deepEqual(order, ['start:x', 'end:x', 'swap', 'start:y', 'end:y', 'error:cannot decode', 'end:bad']);
  await scheduler.stop();
  const dropped: string[] = [];
  const stopped = new Scheduler<string>({ run: async () => {}, onDrop: (_c, reason) => dropped.push(reason) });
  await stopped.stop();
  stopped.submit('a', 'late');
  assert.deepEqual(dropped, ['stopped']);
});

test("prepareDuring 'tail': the next frame is prepared once the run calls modelDone (or ends), not while its model runs", async () => {
  const events: string[] = [];
  const scheduler = new Scheduler<string, string>({
    prepareDuring: 'tail',
    prepare: async (job) => {
      events.push(`prepare:${job.item}`);
      return job.item;
    },
    run: async (job, ready, modelDone) => {
      assert.ok('value' in ready && ready.value === job.item);
      events.push(`model:${job.item}`);
      await tick(10);
      if (job.item !== 'c') {
        modelDone(); // 'c' never says so: its end counts
        await Promise.resolve();
      }
      events.push(`tail:${job.item}`);
      await tick(5);
      events.push(`end:${job.item}`);
    },
    onDrop: () => {},
  });
  scheduler.submit('x', 'a');
  await tick(1);
  scheduler.submit('x', 'b'); // waits while a's model runs
  await tick(12);
  scheduler.submit('x', 'c'); // arrives during a's tail: prepared when b's model is done
  await scheduler.idle();
  assert.deepEqual(events, ['prepare:a', 'model:a', 'prepare:b', 'tail:a', 'end:a', 'model:b', 'prepare:c', 'tail:b', 'end:b', 'model:c', 'tail:c', 'end:c']);
});

test('stop() drops the frame already taken and prepared ahead instead of running it', async () => {
  const ran: string[] = [];
  const dropped: string[] = [];
  let a1Prepared!: () => void;
  const preparedAhead = new Promise<void>((resolve) => (a1Prepared = resolve));
  const scheduler = new Scheduler<string, string>({
    prepareDuring: 'tail',
    prepare: async (job) => {
      if (job.item === 'a1') a1Prepared();
      return job.item;
    },
    run: async (job, _ready, modelDone) => {
      await tick(5);
      modelDone();
      await tick(50);
      ran.push(job.item);
    },
    onDrop: (_camera, reason, item) => dropped.push(`${item}:${reason}`),
  });
  scheduler.submit('a', 'a0');
  await tick(1);
  scheduler.submit('a', 'a1'); // taken and prepared when a0's model is done
  // Stopped while a0 finishes and a1 waits prepared: on events, not timers, so a slow machine cannot reorder them.
  await preparedAhead;
  await scheduler.stop();
  assert.deepEqual(ran, ['a0']);
  assert.deepEqual(dropped, ['a1:stopped']);
});

test('waiting frames of 400 cameras stay within the byte bound: the longest-waiting are evicted and reported', async () => {
  const MB = 1024 * 1024;
  const dropped: string[] = [];
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const ran: string[] = [];
  const scheduler = new Scheduler<{ id: string; bytes: number }>({
    run: async (job) => {
      if (ran.length === 0) await held; // the model is busy while the flood arrives
      ran.push(job.item.id);
    },
    onDrop: (_camera, reason, item) => dropped.push(`${item.id}:${reason}`),
    waiting: { maxEntries: 1000, maxBytes: 16 * MB, sizeOf: (item) => item.bytes },
  });
  scheduler.submit('cam-000', { id: 'cam-000', bytes: Math.round(3.8 * MB) });
  await tick(1);
  let peak = 0;
  for (let i = 1; i < 400; i++) {
    const camera = `cam-${String(i).padStart(3, '0')}`;
    scheduler.submit(camera, { id: camera, bytes: Math.round(3.8 * MB) });
    peak = Math.max(peak, scheduler.waiting());
  }
  assert.equal(scheduler.waiting(), 4, 'four 3.8 MB frames fit in 16 MB');
  assert.equal(peak, 4);
  assert.ok(scheduler.waitingBytes() <= 16 * MB, `waiting bytes ${scheduler.waitingBytes()}`);
  // cam-000 is running; the frames that waited longest went first.
  assert.deepEqual(dropped.slice(0, 2), ['cam-001:evicted', 'cam-002:evicted']);
  assert.equal(dropped.length, 399 - 4);
  release();
  await scheduler.idle();
  assert.deepEqual(ran, ['cam-000', 'cam-396', 'cam-397', 'cam-398', 'cam-399']);
  assert.equal(scheduler.waitingBytes(), 0);
});

test('a scheduling failure is reported to onError and the frames after it still run (never an unhandled rejection)', async () => {
  const errors: string[] = [];
  const ran: string[] = [];
  const scheduler = new Scheduler<string, string>({
    // Not async: a synchronous throw, as a buggy step would.
    prepare: (job) => {
      if (job.item === 'boom') throw new Error('prepare threw synchronously');
      return Promise.resolve(job.item);
    },
    run: async (job) => {
      ran.push(job.item);
    },
    onDrop: () => {},
    onError: (err) => errors.push((err as Error).message),
  });
  scheduler.submit('a', 'boom');
  await tick(5);
  scheduler.submit('a', 'ok');
  await scheduler.idle();
  assert.deepEqual(errors, ['prepare threw synchronously']);
  assert.deepEqual(ran, ['ok']);
});

test('pipelined: the next run starts at modelDone while the last one finishes its tail, and they end in order', async () => {
  const events: string[] = [];
  let models = 0;
  let maxModels = 0;
  let tails = 0;
  let maxTails = 0;
  const scheduler = new Scheduler<string, string>({
    pipelined: true,
    prepare: async (job) => job.item,
    run: async (job, _ready, modelDone, previous) => {
      models++;
      maxModels = Math.max(maxModels, models);
      events.push(`model:${job.item}`);
      await tick(10);
      models--;
      modelDone();
      tails++;
      maxTails = Math.max(maxTails, tails);
      // A tail longer than the next model run: publishing still waits for the one before.
      await tick(job.item === 'a' ? 25 : 2);
      await previous;
      events.push(`end:${job.item}`);
      tails--;
    },
    onDrop: () => {},
  });
  scheduler.submit('a', 'a');
  scheduler.submit('b', 'b');
  scheduler.submit('c', 'c');
  await scheduler.idle();
  // b's model ran during a's tail; b ended only after a, though its own tail was shorter.
  assert.ok(events.indexOf('model:b') < events.indexOf('end:a'), events.join(' '));
  assert.deepEqual(
    events.filter((e) => e.startsWith('end:')),
    ['end:a', 'end:b', 'end:c'],
  );
  assert.equal(maxModels, 1, 'one model run at a time');
  assert.ok(maxTails <= 2, `${maxTails} jobs past their model at once`);
  // c's model waits for a's end: at most one job in its tail while a model runs.
  assert.ok(events.indexOf('model:c') > events.indexOf('end:a'), events.join(' '));
});

test('pipelined: idle(), stop() and between() wait for the job still in its tail', async () => {
  const order: string[] = [];
  const scheduler = new Scheduler<string, string>({
    pipelined: true,
    prepare: async (job) => job.item,
    run: async (job, _ready, modelDone) => {
      await tick(5);
      modelDone();
      await tick(30);
      order.push(`end:${job.item}`);
    },
    onDrop: () => {},
  });
  scheduler.submit('a', 'a0');
  scheduler.submit('b', 'b0');
  await tick(12); // a0 in its tail, b0's model running
  const swapped = scheduler.between(async () => order.push('between'));
  await scheduler.idle();
  await swapped;
  assert.deepEqual(order, ['end:a0', 'end:b0', 'between']);
  scheduler.submit('a', 'a1');
  await tick(8); // a1 in its tail
  await scheduler.stop();
  assert.deepEqual(order.at(-1), 'end:a1');
});
