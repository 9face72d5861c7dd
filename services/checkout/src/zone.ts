/** A scan zone: a polygon in normalised frame coordinates (0-1, origin top-left). */
export type Point = readonly [number, number];

/** Ray casting; a point exactly on an edge counts as inside on the left/top edges. */
export function insidePolygon(point: Point, polygon: readonly Point[]): boolean {
  const [x, y] = point;
  let inside = false;
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
    const [xi, yi] = polygon[i]!;
    const [xj, yj] = polygon[j]!;
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** Shoelace area; 0 for a polygon whose points are all on one line. */
export function polygonArea(polygon: readonly Point[]): number {
  let twice = 0;
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
    twice += polygon[j]![0] * polygon[i]![1] - polygon[i]![0] * polygon[j]![1];
  }
  return Math.abs(twice) / 2;
}

export const WHOLE_FRAME: readonly Point[] = [
  [0, 0],
  [1, 0],
  [1, 1],
  [0, 1],
];

/** Whole-frame zones also take a box touching the right or bottom edge. */
export function boxCentreInside(box: { x: number; y: number; width: number; height: number } | null, polygon: readonly Point[]): boolean {
  const centre: Point = box === null ? [0.5, 0.5] : [Math.min(box.x + box.width / 2, 1 - 1e-9), Math.min(box.y + box.height / 2, 1 - 1e-9)];
  return insidePolygon(centre, polygon);
}
