// Shape helpers and the validation errors that name the shapes involved.

export type Shape = readonly number[];

export function shapeString(s: Shape): string {
  return `[${s.join(',')}]`;
}

/** Whether two shapes are the same, dimension by dimension. */
export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function sizeOf(s: Shape): number {
  let n = 1;
  for (const d of s) n *= d;
  return n;
}

export function assertShape(s: unknown, what = 'shape'): number[] {
  if (!Array.isArray(s)) throw new TypeError(`${what} must be an array of non-negative integers, got ${String(s)}`);
  for (const d of s)
    if (!Number.isSafeInteger(d) || d < 0)
      throw new TypeError(`${what} ${JSON.stringify(s)} must hold non-negative integers`);
  return [...s];
}

/** NumPy broadcasting; the error names both shapes. */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const da = a[i - (r - a.length)] ?? 1;
    const db = b[i - (r - b.length)] ?? 1;
    if (da !== db && da !== 1 && db !== 1)
      throw new Error(
        `${op}: shapes ${shapeString(a)} and ${shapeString(b)} cannot be broadcast (dimension ${i}: ${da} vs ${db})`,
      );
    out.push(da === 1 ? db : da);
  }
  return out;
}

/**
 * The axes a reduction runs over, as tfjs reads them: none given (undefined or null) means every
 * axis; one number or a list, each possibly negative. A repeated axis or one out of range is refused.
 */
export function reductionAxes(op: string, axes: unknown, shape: Shape): number[] {
  if (axes === undefined || axes === null) return [...shape.keys()];
  if (typeof axes !== 'number' && !Array.isArray(axes)) throw new TypeError(`${op}: axes must be a number, a list of numbers, or null for every axis; got ${typeof axes}`);
  const list: unknown[] = typeof axes === 'number' ? [axes] : axes;
  const norm = list.map((a) => {
    if (typeof a !== 'number') throw new TypeError(`${op}: axes ${JSON.stringify(list)} must hold numbers`);
    return normalizeAxis(op, a, shape);
  });
  if (new Set(norm).size !== norm.length) throw new RangeError(`${op}: axes ${JSON.stringify(list)} repeat an axis`);
  return norm;
}

/** Normalises a possibly negative axis; the error names the shape. */
export function normalizeAxis(op: string, axis: number, shape: Shape): number {
  const r = shape.length;
  const a = axis < 0 ? axis + r : axis;
  if (!Number.isInteger(axis) || a < 0 || a >= r)
    throw new RangeError(`${op}: axis ${axis} is out of range for shape ${shapeString(shape)}`);
  return a;
}
