// Layout ops. reshape is free (the result shares native memory) and therefore synchronous.
import type { RingTensor } from '../tensor/ring_tensor';
import { normalizeAxis, shapeString, sizeOf } from '../tensor/shape';
import * as K from './kernel_names';
import { runKernel1, runKernelSync } from './run_kernel';
import { requireInts, requireTensor, ringScalar } from './validate';

/** New shape, same elements; one dimension may be -1 and is inferred. */
export function reshape(a: RingTensor, shape: readonly number[]): RingTensor {
  requireTensor('reshape', a);
  const s = requireInts('reshape', shape, 'shape');
  const unknown = s.filter((d) => d === -1).length;
  if (unknown > 1 || s.some((d) => d < -1)) throw new RangeError(`reshape: invalid target shape ${shapeString(s)}`);
  let target = s;
  if (unknown === 1) {
    const known = sizeOf(s.filter((d) => d !== -1));
    if (known === 0 || a.size % known !== 0)
      throw new RangeError(`reshape: cannot reshape ${shapeString(a.shape)} to ${shapeString(s)}`);
    target = s.map((d) => (d === -1 ? a.size / known : d));
  }
  if (sizeOf(target) !== a.size)
    throw new RangeError(
      `reshape: cannot reshape ${shapeString(a.shape)} (${a.size} elements) to ${shapeString(target)} (${sizeOf(target)} elements)`,
    );
  return runKernelSync(K.Reshape, [a], { shape: target })[0];
}

/** [d0, d1, ...] -> [d0, d1 * ...]: keeps the batch axis. */
export function flatten(a: RingTensor): RingTensor {
  if (a.rank < 1) throw new RangeError('flatten: input must have rank >= 1, got shape []');
  return reshape(a, [a.shape[0], a.size === 0 ? 0 : a.size / Math.max(a.shape[0], 1)]);
}

/** Permutes axes; the default reverses them. */
export async function transpose(a: RingTensor, perm?: readonly number[]): Promise<RingTensor> {
  requireTensor('transpose', a);
  const p = perm ? requireInts('transpose', perm, 'perm') : [...a.shape.keys()].reverse();
  const sorted = [...p].sort((x, y) => x - y);
  if (p.length !== a.rank || sorted.some((v, i) => v !== i))
    throw new RangeError(`transpose: ${JSON.stringify(p)} is not a permutation of the axes of ${shapeString(a.shape)}`);
  return runKernel1(K.Transpose, [a], { perm: p });
}

/** a[begin : begin + size] per axis; a size of -1 runs to the end of that axis. */
export async function slice(a: RingTensor, begin: readonly number[], size?: readonly number[]): Promise<RingTensor> {
  requireTensor('slice', a);
  const b = requireInts('slice', begin, 'begin');
  const s = size ? requireInts('slice', size, 'size') : b.map(() => -1);
  if (b.length !== a.rank || s.length !== a.rank)
    throw new RangeError(`slice: begin ${shapeString(b)} and size ${shapeString(s)} must match the rank of ${shapeString(a.shape)}`);
  for (let i = 0; i < a.rank; i++) {
    const len = s[i] === -1 ? a.shape[i] - b[i] : s[i];
    if (b[i] < 0 || len < 0 || b[i] + len > a.shape[i])
      throw new RangeError(`slice: begin ${shapeString(b)} size ${shapeString(s)} is out of bounds for shape ${shapeString(a.shape)}`);
  }
  return runKernel1(K.Slice, [a], { begin: b, size: s });
}

/** Joins tensors along an axis; every other dimension must match. */
export async function concat(tensors: readonly RingTensor[], axis = 0): Promise<RingTensor> {
  if (!Array.isArray(tensors) || tensors.length === 0) throw new RangeError('concat: needs at least one tensor');
  tensors.forEach((t, i) => requireTensor('concat', t, `tensor ${i}`));
  const first = tensors[0];
  const ax = normalizeAxis('concat', axis, first.shape);
  for (const t of tensors) {
    if (t.dtype !== first.dtype) throw new TypeError(`concat: dtypes ${first.dtype} and ${t.dtype} differ`);
    if (t.rank !== first.rank || t.shape.some((d: number, i: number) => i !== ax && d !== first.shape[i]))
      throw new RangeError(`concat: shapes ${shapeString(first.shape)} and ${shapeString(t.shape)} differ outside axis ${ax}`);
  }
  return runKernel1(K.Concat, tensors, { axis: ax });
}

/** Pads with a constant (default 0): paddings[i] = [before, after] for axis i. */
export async function pad(a: RingTensor, paddings: readonly (readonly [number, number])[], value: bigint | number = 0n): Promise<RingTensor> {
  requireTensor('pad', a);
  if (!Array.isArray(paddings) || paddings.length !== a.rank)
    throw new RangeError(`pad: paddings must hold one [before, after] pair per axis of ${shapeString(a.shape)}`);
  const flat = requireInts('pad', paddings.flat(), 'paddings');
  if (flat.length !== 2 * a.rank || flat.some((p) => p < 0))
    throw new RangeError(`pad: paddings ${JSON.stringify(paddings)} must be non-negative [before, after] pairs`);
  return runKernel1(K.Pad, [a], { paddings: flat, value: ringScalar('pad', value) });
}

/**
 * Selects entries along an axis: out.shape[axis] = indices.length. Long index lists may come as an
 * Int32Array (one copy into the kernel, where an array is read element by element: a Conv3D's
 * windows, ops_conv3d.ts); the kernel checks their range either way.
 */
export async function gather(a: RingTensor, indices: readonly number[] | Int32Array, axis = 0): Promise<RingTensor> {
  requireTensor('gather', a);
  const ax = normalizeAxis('gather', axis, a.shape);
  if (indices instanceof Int32Array) return runKernel1(K.Gather, [a], { indices, axis: ax });
  const idx = requireInts('gather', indices, 'indices');
  idx.forEach((v, j) => {
    if (v < 0 || v >= a.shape[ax])
      throw new RangeError(`gather: index ${v} at position ${j} is out of range [0, ${a.shape[ax]}) for axis ${ax} of ${shapeString(a.shape)}`);
  });
  return runKernel1(K.Gather, [a], { indices: idx, axis: ax });
}

/** out[..., perm[..., i]] = a[..., i]: a per-row permutation of the last axis (perm is ring64). */
export async function permuteLastAxis(a: RingTensor, perm: RingTensor): Promise<RingTensor> {
  requireTensor('permuteLastAxis', a);
  requireTensor('permuteLastAxis', perm, 'permutation');
  if (shapeString(a.shape) !== shapeString(perm.shape))
    throw new RangeError(`permuteLastAxis: input ${shapeString(a.shape)} and permutation ${shapeString(perm.shape)} differ`);
  return runKernel1(K.PermuteLastAxis, [a, perm]);
}
