// Keras's encodings of category indices (its encode_categorical_inputs), shared by the layers that
// make indices privately (Discretization, IntegerLookup): each makes one-hot rows over its
// categories, and the output mode is local arithmetic on them (multi_hot adds one relu, or one
// equality test where the protocol has an equality gate).
import { hasEqualityGate } from '../protocol/exact_protocols';
import { type LayerConfig, refuse } from './layers_graph';
import type { AnyTensor, PrivateTensor } from './tensor';
import { add, neg, pad, reduceSum, reshape, sub } from './ops';
import { relu } from './ops_nonlinear';
import { equalZeroWhole } from './comparison_ops';

export type CategoricalMode = 'one_hot' | 'multi_hot' | 'count';

/**
 * The output shape Keras gives for indices of `shape` (batch first) over `width` categories, or
 * why it refuses them: [batch] or [batch, k] (one_hot also [batch, k, 1]); one_hot gives a row per
 * feature ([batch, width] for a single one), count and multi_hot one row per example.
 */
export function encodedShape(l: LayerConfig, mode: CategoricalMode, shape: readonly number[], width: number): number[] {
  const r = shape.length, k = r === 1 ? 1 : shape[1];
  if (r === 0 || r > 3 || (r === 3 && (mode !== 'one_hot' || shape[2] !== 1)))
    refuse(l, `output_mode = '${mode}' takes inputs of shape [batch] or [batch, k]${mode === 'one_hot' ? ' (or [batch, k, 1])' : ''}, as Keras does, got [${shape}]`);
  return mode === 'one_hot' && k > 1 ? [shape[0], k, width] : [shape[0], width];
}

/**
 * The output of `mode` from one-hot rows [batch k, n] (a row per input value; an all-zero row adds
 * nothing), widened with zero columns to `width` (pad_to_max_tokens): count sums each example's
 * rows (local), multi_hot is min(count, 1) (exact protocols): 1 - [count = 0] where the protocol
 * has an equality gate (FSS: one DPF key per column, as deep as k needs bits, for counts are whole
 * and at most k: a 20 000-word bag of words' 20 001 columns at about a quarter of relu's keys),
 * else count - relu(count - 1).
 */
export function encodeRows(l: LayerConfig, mode: CategoricalMode, rows: AnyTensor, inputShape: readonly number[], width = rows.shape[1]): AnyTensor {
  const out = encodedShape(l, mode, inputShape, width), [n, bins] = rows.shape;
  const wide = width > bins ? pad(rows, [[0, 0], [0, width - bins]]) : rows;
  if (mode === 'one_hot') return reshape(wide, out);
  const k = n / inputShape[0];
  const count = k === 1 ? wide : reduceSum(reshape(wide, [inputShape[0], k, width]), 1);
  return mode === 'count' || k === 1 ? count : atMostOne(count, k);
}

/**
 * min(count, 1) for counts of one-hot rows, whole and at most k (exact protocols): 1 - [count = 0]
 * where the protocol has an equality gate (FSS: one DPF key, as deep as k needs bits), else
 * count - relu(count - 1). A count that is not whole (a client's own garbage rows) still gives 0
 * or 1 through the gate.
 */
export function atMostOne(count: AnyTensor, k: number): AnyTensor {
  const c = count.cluster;
  if (!hasEqualityGate(c.protocol)) return sub(count, relu(sub(count, 1)));
  const p = count as PrivateTensor, bound = BigInt(k) << BigInt(c.fixed.fracBits);
  return add(neg(c.internalOps(() => equalZeroWhole(p.bound === undefined ? p.withBound(bound) : p))), 1);
}

/** The plaintext twin: `index` gives each input value's column (or -1: none); Keras's layout as encodedShape. */
export function plainEncode(l: LayerConfig, mode: CategoricalMode, x: { data: ArrayLike<number>; shape: number[] }, width: number, index: (v: number) => number, alloc: (n: number) => Float64Array): { data: Float64Array; shape: number[] } {
  const shape = encodedShape(l, mode, x.shape, width), out = alloc(shape.reduce((a, d) => a * d, 1));
  // Rows: one per example (count, multi_hot) or per value (one_hot).
  const perRow = mode === 'one_hot' ? 1 : x.data.length / x.shape[0];
  for (let i = 0; i < x.data.length; i++) {
    const k = index(x.data[i]);
    if (k < 0) continue;
    const at = Math.floor(i / perRow) * width + k;
    out[at] = mode === 'count' ? out[at] + 1 : 1;
  }
  return { data: out, shape };
}
