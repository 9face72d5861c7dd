import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { boundsOf, boxCentre, footPoint, insidePolygon, polygonArea, polygonSchema, WHOLE_FRAME } from '../src/index.ts';

const square = [
  { x: 0.5, y: 0.5 },
  { x: 1, y: 0.5 },
  { x: 1, y: 1 },
  { x: 0.5, y: 1 },
];
const ell = [
  { x: 0, y: 0 },
  { x: 1, y: 0 },
  { x: 1, y: 0.2 },
  { x: 0.2, y: 0.2 },
  { x: 0.2, y: 1 },
  { x: 0, y: 1 },
];

test('inside a polygon: convex and concave, by even-odd ray casting', () => {
  assert.equal(insidePolygon({ x: 0.75, y: 0.75 }, square), true);
  assert.equal(insidePolygon({ x: 0.25, y: 0.75 }, square), false);
  assert.equal(insidePolygon({ x: 0.1, y: 0.9 }, ell), true);
  assert.equal(insidePolygon({ x: 0.6, y: 0.6 }, ell), false, 'the notch of the L is outside');
  assert.equal(insidePolygon({ x: 0.5, y: 0.5 }, square), true, 'the top-left corner is inside');
});

test('zones are read as [x, y] or {x, y} and always come out as {x, y}; every problem has its place', () => {
  assert.deepEqual(polygonSchema.parse([[0, 0], { x: 1, y: 0 }, [0.5, 1]]), [
    { x: 0, y: 0 },
    { x: 1, y: 0 },
    { x: 0.5, y: 1 },
  ]);
  const problems = (value: unknown) => {
    const parsed = polygonSchema.safeParse(value);
    return parsed.success ? 'ok' : z.prettifyError(parsed.error);
  };
  assert.match(
    problems([
      [0, 0],
      [1, 1],
    ]),
    /needs at least 3 points/,
  );
  assert.match(
    problems([
      [0, 0],
      [0.5, 0.5],
      [1, 1],
    ]),
    /encloses no area/,
  );
  assert.match(
    problems([
      [0, 0],
      [1.5, 0],
      [1, -0.1],
    ]),
    /x must be 0-1[\s\S]*→ at \[1\]\.x[\s\S]*y must be 0-1[\s\S]*→ at \[2\]\.y/,
  );
  assert.match(problems([[0, 0], 'a', [1, 1]]), /must be a point/);
  assert.match(
    problems([
      [0, 0],
      [1, 0, 3],
      [1, 1],
    ]),
    /must be a point/,
  );
  assert.match(problems(Array.from({ length: 65 }, (_, i) => [i / 65, (i % 2) / 2])), /more than 64 points/);
  assert.equal(polygonArea(WHOLE_FRAME), 1);
});

test('where an object is: the box centre for a scan zone, the foot point for a person', () => {
  assert.deepEqual(boxCentre({ x: 0.2, y: 0.2, width: 0.4, height: 0.2 }), { x: 0.4, y: 0.30000000000000004 });
  assert.deepEqual(boxCentre(null), { x: 0.5, y: 0.5 }, 'a classification is about the whole frame');
  // A box touching the right and bottom edges is still inside the whole frame.
  assert.equal(insidePolygon(boxCentre({ x: 0, y: 0, width: 1, height: 1 }), WHOLE_FRAME), true);
  assert.equal(insidePolygon(boxCentre({ x: 0.99, y: 0.99, width: 0.01, height: 0.01 }), WHOLE_FRAME), true);
  assert.deepEqual(footPoint({ x: 0.4, y: 0.1, width: 0.2, height: 0.8 }), { x: 0.5, y: 0.9 });
  assert.deepEqual(boundsOf(ell), { minX: 0, maxX: 1, minY: 0, maxY: 1 });
});
