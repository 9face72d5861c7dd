import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import {
  boundsOf,
  boxCentre,
  footPoint,
  insidePolygon,
  MAX_POLYGON_POINTS,
  parseZoneBody,
  polygonArea,
  polygonProblem,
  polygonSchema,
  WHOLE_FRAME,
  ZONE_BODY_LIMIT,
  type Point,
} from '../src/index.ts';

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

const pts = (...xy: Array<[number, number]>): Point[] => xy.map(([x, y]) => ({ x, y }));

test('polygonProblem: simple polygons pass, convex or not, clockwise or not, up to 64 points', () => {
  assert.equal(polygonProblem(square), null);
  assert.equal(polygonProblem(ell), null, 'concave');
  assert.equal(polygonProblem([...square].reverse()), null, 'the other way round');
  assert.equal(polygonProblem(WHOLE_FRAME), null);
  assert.equal(polygonProblem(pts([0, 0], [1, 0], [0, 1])), null);
  // A star: concave at every other point, its edges close to each other but never meeting.
  const star = Array.from({ length: MAX_POLYGON_POINTS }, (_, i) => {
    const r = i % 2 === 0 ? 0.45 : 0.2;
    const a = (2 * Math.PI * i) / MAX_POLYGON_POINTS;
    return { x: 0.5 + r * Math.cos(a), y: 0.5 + r * Math.sin(a) };
  });
  assert.equal(polygonProblem(star), null);
  // A U whose arms come within 0.001 of each other is still simple.
  assert.equal(polygonProblem(pts([0, 0], [0.4995, 0], [0.4995, 0.9], [0.5005, 0.9], [0.5005, 0], [1, 0], [1, 1], [0, 1])), null);
});

test('polygonProblem: each problem is told, with the points it concerns', () => {
  const cases: Array<[Point[], RegExp]> = [
    [pts([0, 0], [1, 1]), /needs at least 3 points/],
    [pts(...Array.from({ length: 65 }, (_, i): [number, number] => [i / 65, (i % 2) / 2])), /more than 64 points/],
    [pts([0, 0], [1.5, 0], [1, 1]), /^point 1: x must be 0-1$/],
    [pts([0, 0], [1, 0], [1, -0.1]), /^point 2: y must be 0-1$/],
    [pts([0, 0], [Number.NaN, 0], [1, 1]), /^point 1: x must be a number$/],
    [pts([0, 0], [1, 0], [1, Number.POSITIVE_INFINITY]), /^point 2: y must be a number$/],
    [[{ x: 0, y: 0 }, { x: '0.5', y: 0 } as unknown as Point, { x: 1, y: 1 }], /^point 1: x must be a number$/],
    [pts([0, 0], [1, 0], [1, 0], [0, 1]), /^points 1 and 2 are the same point/],
    [pts([0, 0], [1, 0], [1, 1], [0, 0]), /the last point repeats the first/],
    [pts([0, 0], [0.5, 0.5], [1, 1]), /encloses no area \(its points are on one line\)/],
    [pts([0, 0], [1, 1], [0.5, 0.5], [0.2, 0.2]), /encloses no area \(its points are on one line\)/],
    // A bow tie: its halves cancel out in the shoelace, so the crossing must be found first.
    [pts([0, 0], [1, 1], [1, 0], [0, 1]), /^edges 0-1 and 2-3 cross or touch/],
    [pts([0.1, 0.1], [0.9, 0.1], [0.1, 0.9], [0.9, 0.9]), /edges 1-2 and 3-0 cross or touch/],
    // A figure of eight through one shared point, not a crossing: touching is refused too.
    [pts([0, 0], [0.5, 0.5], [1, 0], [1, 1], [0.5, 0.5], [0, 1]), /cross or touch/],
    // A point lying on an edge that is not its own.
    [pts([0, 0], [1, 0], [1, 1], [0.5, 0], [0, 1]), /cross or touch/],
    // A spike: out along an edge and back over it.
    [pts([0, 0], [1, 0], [0.5, 0], [0.5, 1]), /^edges 0-1 and 1-2 turn back over each other at point 1$/],
    [pts([0.5, 0.5], [0.501, 0.5], [0.5, 0.501]), /encloses no area \(it is too thin or too small\)/],
  ];
  for (const [points, message] of cases) assert.match(polygonProblem(points) ?? 'ok', message, JSON.stringify(points));
});

test('the polygon schema applies polygonProblem: lanes and rules files refuse a crossing zone too', () => {
  const bowTie = [
    [0, 0],
    [1, 1],
    [1, 0],
    [0, 1],
  ];
  const parsed = polygonSchema.safeParse(bowTie);
  assert.equal(parsed.success, false);
  assert.deepEqual(
    parsed.error?.issues.map((i) => i.message),
    ['edges 0-1 and 2-3 cross or touch: a zone must not cross itself'],
  );
  const short = polygonSchema.safeParse([
    [0, 0],
    [1, 1],
  ]);
  assert.deepEqual(
    short.error?.issues.map((i) => i.message),
    ['needs at least 3 points'],
    'one message for a count that is wrong',
  );
  // Beside a problem elsewhere in a file, the zone's own problem is still told.
  const inFile = z.strictObject({ name: z.string(), zone: polygonSchema }).safeParse({ name: 1, zone: bowTie });
  assert.deepEqual(
    inFile.error?.issues.map((i) => i.path.join('.')),
    ['name', 'zone'],
  );
});

test('a zone body: {"zone": [...]} and nothing else, every problem with its place', () => {
  assert.deepEqual(parseZoneBody({ zone: [[0, 0], { x: 1, y: 0 }, [0, 1]] }), { zone: pts([0, 0], [1, 0], [0, 1]) });
  const problem = (body: unknown) => {
    const result = parseZoneBody(body);
    return 'problem' in result ? result.problem : 'ok';
  };
  assert.equal(problem({}), 'zone: must be a list of points');
  assert.equal(problem(null), 'the body must be {"zone": [[x, y], ...]}');
  assert.equal(problem([[0, 0]]), 'the body must be {"zone": [[x, y], ...]}');
  assert.equal(problem('zone'), 'the body must be {"zone": [[x, y], ...]}');
  assert.equal(problem({ zone: square, camera: 'x' }), 'unknown key "camera": the body is {"zone": [[x, y], ...]}');
  assert.equal(problem({ zone: 'all' }), 'zone: must be a list of points');
  assert.equal(
    problem({
      zone: [
        [0, 0],
        [1, 0],
        ['1', 1],
      ],
    }),
    'zone.2.x: x must be a number',
  );
  assert.equal(
    problem({
      zone: [
        [0, 0],
        [1, 0],
        [1, 1, 1],
      ],
    }),
    'zone.2: must be a point: [x, y] or {x, y}, each 0-1',
  );
  assert.equal(problem({ zone: [[0, 0], { x: 1, y: 0, z: 0 }, [1, 1]] }), 'zone.1: must be a point: [x, y] or {x, y}, each 0-1');
  assert.equal(
    problem({
      zone: [
        [0, 0],
        [2, 0],
        [1, -1],
      ],
    }),
    'zone.1.x: x must be 0-1; zone.2.y: y must be 0-1',
  );
  assert.equal(
    problem({
      zone: [
        [0, 0],
        [1, 1],
        [1, 0],
        [0, 1],
      ],
    }),
    'zone: edges 0-1 and 2-3 cross or touch: a zone must not cross itself',
  );
});

test('the zone body limit takes the longest honest body: 64 points at full precision, pretty-printed', () => {
  // 17 significant digits and an exponent: the longest a coordinate 0-1 is written by JSON.stringify.
  const longest = 1.2345678901234567e-100;
  assert.equal(JSON.stringify(longest).length, 23);
  const zone = Array.from({ length: MAX_POLYGON_POINTS }, () => ({ x: longest, y: longest }));
  const body = JSON.stringify({ zone }, null, 4);
  assert.ok(body.length < ZONE_BODY_LIMIT / 2, `${body.length} bytes`);
});
