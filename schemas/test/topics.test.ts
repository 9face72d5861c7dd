import assert from 'node:assert/strict';
import { test } from 'node:test';
import { channels, createTopics } from '../src/index.ts';

test('topics are built from the channel templates under the prefix', () => {
  const topics = createTopics();
  assert.equal(topics.topic(channels.frame, { camera: 'door-1' }), 'sightline/cameras/door-1/frame');
  assert.equal(topics.topic(channels.availability, { service: 'capture' }), 'sightline/services/capture/availability');
  assert.equal(createTopics('store7/sightline').topic(channels.frame, { camera: 'c' }), 'store7/sightline/cameras/c/frame');
});

test('a publish topic can never carry a wildcard, a separator, a $ or an empty level', () => {
  const topics = createTopics();
  for (const camera of ['+', '#', 'a/b', '$SYS', '', 'a b', 'x'.repeat(65), '../x']) {
    assert.throws(() => topics.topic(channels.frame, { camera }), /camera/, `camera ${JSON.stringify(camera)}`);
  }
  assert.throws(() => topics.topic(channels.frame, {} as { camera: string }), /camera/);
});

test('bad prefixes are refused', () => {
  for (const prefix of ['', '/sightline', 'a/+', '#', '$SYS', 'a//b', 'a/b/c/d/e']) {
    assert.throws(() => createTopics(prefix), /must be 1-4 levels/, `prefix ${JSON.stringify(prefix)}`);
  }
});

test('filters put + where a parameter is left open, and match reads parameters back', () => {
  const topics = createTopics();
  assert.equal(topics.filter(channels.frame), 'sightline/cameras/+/frame');
  assert.equal(topics.filter(channels.frame, { camera: 'c1' }), 'sightline/cameras/c1/frame');
  assert.deepEqual(topics.match(channels.frame, 'sightline/cameras/c1/frame'), { camera: 'c1' });
  assert.equal(topics.match(channels.frame, 'sightline/cameras/c1/detections'), null);
  assert.equal(topics.match(channels.frame, 'other/cameras/c1/frame'), null);
  assert.equal(topics.match(channels.frame, 'sightline/cameras/c1/frame/extra'), null);
  assert.equal(topics.match(channels.frame, 'sightline/cameras/$bad/frame'), null);
});
