import { z } from 'zod';

/**
 * Zones on a camera's frame: checkout's scan zones and alert's restricted zones (and the console's
 * zone editor) share these. Coordinates are normalised to the frame: 0-1, origin top-left, the
 * same as a detection box.
 */

export interface Point {
  readonly x: number;
  readonly y: number;
}
export type Polygon = readonly Point[];

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

const coordinate = (axis: 'x' | 'y') =>
  z
    .number({ error: `${axis} must be a number` })
    .min(0, `${axis} must be 0-1`)
    .max(1, `${axis} must be 0-1`);

/** A point written `[x, y]` or `{x, y}` in a configuration file; always `{x, y}` once read. */
export const pointSchema: z.ZodType<Point> = z.preprocess(
  (value) => (Array.isArray(value) && value.length === 2 ? { x: value[0], y: value[1] } : value),
  z.strictObject({ x: coordinate('x'), y: coordinate('y') }, { error: 'must be a point: [x, y] or {x, y}, each 0-1' }),
);

export const MAX_POLYGON_POINTS = 64;
/** Less than this share of the frame is a line, not an area. */
const MIN_AREA = 1e-6;
/**
 * Cross products this close to 0 count as 0 (points on one line, a vertex on an edge). Coordinates
 * are 0-1, so products are at most 2: 1e-12 is far below anything drawn on a frame and far above
 * the rounding of one product (~1e-16).
 */
const EPSILON = 1e-12;

/**
 * A zone: 3-64 points, each 0-1, no point repeating the one before it, enclosing some area, its
 * edges never crossing or touching each other. Each problem is refused with the reason
 * (`polygonProblem`), so a lanes file, a rules file and the zone editor's PUT say the same.
 */
export const polygonSchema = z
  .array(pointSchema, { error: 'must be a list of points' })
  .min(3, 'needs at least 3 points')
  .max(MAX_POLYGON_POINTS, `has more than ${MAX_POLYGON_POINTS} points`)
  .superRefine(
    (points, ctx) => {
      const problem = polygonProblem(points);
      if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
    },
    // The count and each point have their messages above, with their places; the shape is judged
    // only for points that can be a zone.
    { when: (payload) => payload.issues.length === 0 },
  )
  .describe('A polygon in normalised frame coordinates (0-1, origin top-left)');

/**
 * Why `points` cannot be a zone, or null when it can: the one rule for zones, for code that holds
 * points rather than parsing them (the schema above applies it too). Points are numbered from 0,
 * as in the schema's paths. The first problem found is told, in this order: the count, a
 * coordinate, a point repeating the one before it (the last repeating the first: a closed ring),
 * all points on one line, edges crossing or touching, too little area.
 */
export function polygonProblem(points: readonly Point[]): string | null {
  if (points.length < 3) return 'needs at least 3 points';
  if (points.length > MAX_POLYGON_POINTS) return `has more than ${MAX_POLYGON_POINTS} points`;
  for (const [i, point] of points.entries()) {
    for (const axis of ['x', 'y'] as const) {
      const value: unknown = point[axis];
      if (typeof value !== 'number' || !Number.isFinite(value)) return `point ${i}: ${axis} must be a number`;
      if (value < 0 || value > 1) return `point ${i}: ${axis} must be 0-1`;
    }
  }
  const n = points.length;
  for (let i = 0; i < n; i++) {
    const a = points[i]!;
    const b = points[(i + 1) % n]!;
    if (a.x === b.x && a.y === b.y) {
      return i === n - 1
        ? `the last point repeats the first: leave it out (a zone closes itself)`
        : `points ${i} and ${i + 1} are the same point: leave one out`;
    }
  }
  if (points.every((p) => Math.abs(cross(points[0]!, points[1]!, p)) <= EPSILON)) return 'encloses no area (its points are on one line)';
  const crossing = firstCrossing(points);
  if (crossing !== null) return crossing;
  if (polygonArea(points) <= MIN_AREA) return 'encloses no area (it is too thin or too small)';
  return null;
}

/** (b - a) x (c - a): positive when c is to the left of a->b, 0 when the three are on one line. */
function cross(a: Point, b: Point, c: Point): number {
  return (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x);
}

const side = (a: Point, b: Point, c: Point): -1 | 0 | 1 => {
  const value = cross(a, b, c);
  return value > EPSILON ? 1 : value < -EPSILON ? -1 : 0;
};

/** Whether c, on the line through a and b, lies within the segment a-b. */
function withinSegment(a: Point, b: Point, c: Point): boolean {
  return (
    Math.min(a.x, b.x) - EPSILON <= c.x && c.x <= Math.max(a.x, b.x) + EPSILON && Math.min(a.y, b.y) - EPSILON <= c.y && c.y <= Math.max(a.y, b.y) + EPSILON
  );
}

/** Whether segments a-b and c-d share any point: crossing, touching, or lying over each other. */
function segmentsMeet(a: Point, b: Point, c: Point, d: Point): boolean {
  const s1 = side(a, b, c);
  const s2 = side(a, b, d);
  const s3 = side(c, d, a);
  const s4 = side(c, d, b);
  if (s1 * s2 < 0 && s3 * s4 < 0) return true;
  return (
    (s1 === 0 && withinSegment(a, b, c)) || (s2 === 0 && withinSegment(a, b, d)) || (s3 === 0 && withinSegment(c, d, a)) || (s4 === 0 && withinSegment(c, d, b))
  );
}

/**
 * The first two edges that meet anywhere but at the point they share, as a message; null for a
 * simple polygon. Edge i runs from point i to point i + 1 (the last back to point 0). Every pair
 * is tried: at most 64 x 63 / 2 = 2016 pairs, 0.04 ms for a 64-point star.
 */
function firstCrossing(points: readonly Point[]): string | null {
  const n = points.length;
  const edge = (i: number) => `${i}-${(i + 1) % n}`;
  for (let i = 0; i < n; i++) {
    const a = points[i]!;
    const b = points[(i + 1) % n]!;
    // The next edge shares b: it meets this one elsewhere only by turning back along it.
    const c = points[(i + 2) % n]!;
    if (side(a, b, c) === 0 && (a.x - b.x) * (c.x - b.x) + (a.y - b.y) * (c.y - b.y) > 0) {
      return `edges ${edge(i)} and ${edge((i + 1) % n)} turn back over each other at point ${(i + 1) % n}`;
    }
    for (let j = i + 2; j < n; j++) {
      if (i === 0 && j === n - 1) continue; // they share point 0, checked as the pair (n - 1, 0) above
      if (segmentsMeet(a, b, points[j]!, points[(j + 1) % n]!)) return `edges ${edge(i)} and ${edge(j)} cross or touch: a zone must not cross itself`;
    }
  }
  return null;
}

/**
 * The body of a zone change (`PUT /lanes/:lane/zone` in checkout, `PUT /rules/:id/zone` in alert):
 * `{"zone": [[x, y], ...]}` with the points as a lanes or rules file writes them.
 */
export const zoneBodySchema = z.strictObject(
  { zone: polygonSchema },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `unknown ${issue.keys.length === 1 ? 'key' : 'keys'} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}: the body is {"zone": [[x, y], ...]}`
        : 'the body must be {"zone": [[x, y], ...]}',
  },
);

/**
 * The body limit of a zone change. The longest honest body is 64 points, each coordinate written
 * with all 17 significant digits and an exponent (23 characters), pretty-printed: 5.4 KB with two
 * spaces of indentation, 6.7 KB with four (tested). 16 KiB leaves room for that twice over and is
 * a quarter of the kit's JSON limit.
 */
export const ZONE_BODY_LIMIT = 16 * 1024;

/** A zone change's body, or why it is refused (every problem, each with its place: `zone.2.x: x must be 0-1`). */
export function parseZoneBody(body: unknown): { zone: Polygon } | { problem: string } {
  const parsed = zoneBodySchema.safeParse(body);
  if (parsed.success) return { zone: parsed.data.zone };
  return {
    problem: parsed.error.issues.map((issue) => (issue.path.length > 0 ? `${issue.path.map(String).join('.')}: ${issue.message}` : issue.message)).join('; '),
  };
}

/** The whole frame, the zone of a lane that names none. */
export const WHOLE_FRAME: Polygon = [
  { x: 0, y: 0 },
  { x: 1, y: 0 },
  { x: 1, y: 1 },
  { x: 0, y: 1 },
];

/** Even-odd ray casting; a point exactly on a left or top edge counts as inside. */
export function insidePolygon(point: Point, polygon: Polygon): boolean {
  const { x, y } = point;
  let inside = false;
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
    const a = polygon[i]!;
    const b = polygon[j]!;
    if (a.y > y !== b.y > y && x < ((b.x - a.x) * (y - a.y)) / (b.y - a.y) + a.x) inside = !inside;
  }
  return inside;
}

/** Shoelace area; 0 for a polygon whose points are all on one line. */
export function polygonArea(polygon: Polygon): number {
  let twice = 0;
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
    twice += polygon[j]!.x * polygon[i]!.y - polygon[i]!.x * polygon[j]!.y;
  }
  return Math.abs(twice) / 2;
}

/**
 * Where an object is for a scan zone: its box centre (the frame's centre for a classification,
 * which has no box). Pulled just inside the right and bottom edges, so a whole-frame zone takes a
 * box touching them.
 */
export function boxCentre(box: Box | null): Point {
  if (box === null) return { x: 0.5, y: 0.5 };
  return { x: Math.min(box.x + box.width / 2, 1 - 1e-9), y: Math.min(box.y + box.height / 2, 1 - 1e-9) };
}

/** Where a person stands: the middle of the box's bottom edge. */
export function footPoint(box: Box): Point {
  return { x: box.x + box.width / 2, y: box.y + box.height };
}

/** The smallest upright rectangle around a polygon, for a cheap test before the exact one. */
export function boundsOf(polygon: Polygon): { minX: number; maxX: number; minY: number; maxY: number } {
  return {
    minX: Math.min(...polygon.map((p) => p.x)),
    maxX: Math.max(...polygon.map((p) => p.x)),
    minY: Math.min(...polygon.map((p) => p.y)),
    maxY: Math.max(...polygon.map((p) => p.y)),
  };
}
