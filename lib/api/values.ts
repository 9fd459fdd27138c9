// What providers may return, converted to float64 data and a shape: nested arrays, numbers,
// typed arrays with a shape, or TensorFlow.js tensors (duck-typed: shape + dataSync), so that
// TensorFlow.js is never a required dependency.
import { shapeString, sizeOf } from '../tensor/shape';

export interface TensorLikeWithShape {
  data: ArrayLike<number>;
  shape: readonly number[];
}
export interface TfjsTensorLike {
  shape: readonly number[];
  dataSync(): ArrayLike<number>;
}
export type NestedArray = number | readonly NestedArray[];
export type TensorValue = NestedArray | TensorLikeWithShape | TfjsTensorLike;

export interface Dense {
  data: Float64Array;
  shape: number[];
}

function isTfjs(v: unknown): v is TfjsTensorLike {
  return typeof v === 'object' && v !== null && 'dataSync' in v && typeof (v as TfjsTensorLike).dataSync === 'function' && Array.isArray((v as TfjsTensorLike).shape);
}

function isWithShape(v: unknown): v is TensorLikeWithShape {
  return typeof v === 'object' && v !== null && 'data' in v && 'shape' in v && Array.isArray((v as TensorLikeWithShape).shape);
}

function nestedShape(v: NestedArray, what: string): number[] {
  if (typeof v === 'number') return [];
  if (!Array.isArray(v)) throw new TypeError(`${what}: expected a number or nested array, got ${typeof v}`);
  if (v.length === 0) return [0];
  const inner = nestedShape(v[0], what);
  for (const e of v) {
    const s = nestedShape(e, what);
    if (shapeString(s) !== shapeString(inner)) throw new TypeError(`${what}: ragged nested array (${shapeString(inner)} vs ${shapeString(s)})`);
  }
  return [v.length, ...inner];
}

export function toDense(v: TensorValue, what = 'value'): Dense {
  if (isTfjs(v)) return { data: Float64Array.from(v.dataSync()), shape: [...v.shape] };
  if (isWithShape(v)) {
    const shape = [...v.shape];
    if (v.data.length !== sizeOf(shape)) throw new RangeError(`${what}: data has ${v.data.length} elements but shape ${shapeString(shape)} needs ${sizeOf(shape)}`);
    return { data: Float64Array.from(v.data), shape };
  }
  if (typeof v === 'number' || Array.isArray(v)) {
    const shape = nestedShape(v as NestedArray, what);
    const flat = typeof v === 'number' ? [v] : (v as NestedArray[]).flat(Infinity as 1) as number[];
    return { data: Float64Array.from(flat), shape };
  }
  throw new TypeError(`${what}: unsupported value (expected nested arrays, {data, shape} or a TensorFlow.js tensor)`);
}

/** Float64 data back to nested arrays of the given shape. */
export function toNested(data: Float64Array, shape: readonly number[]): NestedArray {
  if (shape.length === 0) return data[0];
  const stride = sizeOf(shape.slice(1));
  return Array.from({ length: shape[0] }, (_, i) => toNested(data.subarray(i * stride, (i + 1) * stride), shape.slice(1)));
}
