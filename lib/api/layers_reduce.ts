// Sums, means and maxima over axes between layers (`tf.reduce_sum(w * x, axis=1)` pooling a
// sequence by attention weights, `tf.reduce_mean(x, axis=-1)`, `ops.max(x, axis=[1, 2])`), which
// tf-keras saves as TFOpLambda and Keras 3 as Sum / Mean / Max operations. keras_operations.ts
// rewrites each as a TfeReduce layer ({op, axes, keepdims}); the axes are checked once the input's
// rank is known (reduceGeometry, shared by the private and the plaintext model). Privately the
// reduced axes are moved last and flattened (local), then summed (local, exact), averaged as an
// average pool over them (its reciprocal's precision, ops_nonlinear.ts avgPool2d) or compared as a
// max pool (exact).
import type { LayerConfig } from './layers_graph';

/** The layer class the rewrite makes; Keras has no reduction layer over arbitrary axes. */
export const REDUCE_LAYER = 'TfeReduce';
export type ReduceOp = 'sum' | 'mean' | 'max';

export interface ReduceSpec {
  op: ReduceOp;
  /** The axes as written (negative from the end); null: every axis but the batch. */
  axes: number[] | null;
  keepdims: boolean;
}

/** The layer's settings, checked (a topology may come from elsewhere than the rewrite). */
export function reduceOf(l: LayerConfig): ReduceSpec {
  const c = l.config;
  const fail = (msg: string): never => {
    throw new Error(`layer '${c.name}' (${l.class_name}): ${msg}`);
  };
  const extra = Object.keys(c).filter((k) => !['name', 'op', 'axes', 'keepdims'].includes(k));
  if (extra.length) fail(`setting '${extra[0]}' is not supported`);
  if (!['sum', 'mean', 'max'].includes(String(c.op))) fail(`op = ${JSON.stringify(c.op)} is not sum, mean or max`);
  const axes = c.axes === null || c.axes === undefined ? null : Array.isArray(c.axes) ? c.axes : [c.axes];
  if (axes && !axes.every((a) => Number.isSafeInteger(a))) fail(`axes = ${JSON.stringify(c.axes)} are not integers`);
  if (c.keepdims !== undefined && typeof c.keepdims !== 'boolean') fail(`keepdims = ${JSON.stringify(c.keepdims)} is not a boolean`);
  return { op: c.op as ReduceOp, axes: axes as number[] | null, keepdims: c.keepdims === true };
}

/**
 * For an input of `shape` (the batch first): the permutation putting the kept axes first (the
 * batch among them) and the reduced last, how many values are kept and reduced per example, and
 * the output's shape. The batch may not be reduced (the whole batch is not one example's).
 */
export function reduceGeometry(spec: ReduceSpec, shape: readonly number[], fail: (msg: string) => never): { perm: number[]; kept: number; reduced: number; out: number[] } {
  const r = shape.length;
  const axes = (spec.axes ?? shape.map((_, a) => a).slice(1)).map((a) => (a < 0 ? a + r : a));
  for (const [i, a] of axes.entries()) {
    if (a < 0 || a >= r) fail(`axis ${(spec.axes ?? [])[i]} is out of range for a rank-${r} input [${shape}]`);
    if (a === 0) fail('reduces over the batch axis, which is not supported (each example is its own)');
    if (axes.indexOf(a) !== i) fail(`names axis ${a} twice`);
  }
  const keptAxes = shape.map((_, a) => a).filter((a) => !axes.includes(a)), sorted = [...axes].sort((p, q) => p - q);
  const prod = (as: number[]) => as.reduce((n, a) => n * shape[a], 1);
  return {
    perm: [...keptAxes, ...sorted],
    kept: prod(keptAxes) / shape[0],
    reduced: prod(sorted),
    out: spec.keepdims ? shape.map((d, a) => (axes.includes(a) ? 1 : d)) : keptAxes.map((a) => shape[a]),
  };
}
