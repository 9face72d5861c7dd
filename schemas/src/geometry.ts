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

/** A zone: 3-64 points enclosing some area (points on one line are refused with the reason). */
export const polygonSchema = z
  .array(pointSchema, { error: 'must be a list of points' })
  .min(3, 'needs at least 3 points')
  .max(MAX_POLYGON_POINTS, `has more than ${MAX_POLYGON_POINTS} points`)
  .refine((points) => polygonArea(points) > MIN_AREA, 'encloses no area (its points are on one line)')
  .describe('A polygon in normalised frame coordinates (0-1, origin top-left)');

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
