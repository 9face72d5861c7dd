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

test('the decoder registry knows every descriptor form', async () => {
  const { availableDecoders, createDecoder } = await import('../src/pipeline/decoders.ts');
  assert.deepEqual(availableDecoders().sort(), ['boxes-classes-scores', 'centernet', 'custom-vision-classification', 'softmax', 'yolov2']);
  assert.deepEqual(createDecoder({ type: 'centernet', heatmaps: 'h', sizes: 's' }).outputs, ['h', 's']);
  assert.deepEqual(createDecoder({ type: 'softmax', output: 'probs', applySoftmax: true }).outputs, ['probs']);
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
  const scheduler = new Scheduler<string, string>({
    prepareDuring: 'tail',
    prepare: async (job) => job.item,
    run: async (job, _ready, modelDone) => {
      await tick(5);
      modelDone();
      await tick(5);
      ran.push(job.item);
    },
    onDrop: (_camera, reason, item) => dropped.push(`${item}:${reason}`),
  });
  scheduler.submit('a', 'a0');
  await tick(1);
  scheduler.submit('a', 'a1'); // taken and prepared when a0's model is done
  await tick(7);
  await scheduler.stop();
  assert.deepEqual(ran, ['a0']);
  assert.deepEqual(dropped, ['a1:stopped']);
});
