// A public constant tensor added to a layer's output: an operation between layers such as
// `x + positional_encoding` (a sinusoidal table Keras's Transformer tutorials add to the token
// embeddings), which Keras 3 saves as an Add operation with a NumPy constant. keras_operations.ts
// rewrites it as this internal layer. The constant is public, as every operation's constants are
// (it travels in the topology the servers read), and adding it is local: server0 adds it to its
// share. NumPy's broadcasting, the constant's shape aligned with the input's last axes; it may
// not enlarge the input, nor have a batch axis of its own.
import { add, constantTensor, neg } from './ops';
import { type LayerConfig, refuse } from './layers_graph';
import { plainAlloc, type PlainTensor } from './plain_kernels';
import type { AnyTensor } from './tensor';

export const CONSTANT_LAYER = 'TfeAddConstant';

/** The most values a constant may hold: it travels in the topology. */
export const MAX_CONSTANT_VALUES = 1 << 20;

/** The constant of a TfeAddConstant layer, checked: `values` (row-major) of `shape`, times `sign`, plus the input times `inputSign` (c - x: -1). */
export function addedConstantOf(l: LayerConfig): { values: number[]; shape: number[]; inputSign: 1 | -1 } {
  const { values, shape, input_sign: sign } = l.config as { values?: unknown; shape?: unknown; input_sign?: unknown };
  if (!Array.isArray(shape) || shape.length === 0 || !shape.every((d) => Number.isSafeInteger(d) && d >= 1)) refuse(l, `shape = ${JSON.stringify(shape)?.slice(0, 60)} is not a list of positive sizes`);
  const n = (shape as number[]).reduce((a, b) => a * b, 1);
  if (n > MAX_CONSTANT_VALUES) refuse(l, `its constant of ${n} values is more than the ${MAX_CONSTANT_VALUES} a topology may carry`);
  if (!Array.isArray(values) || values.length !== n || !values.every((v) => typeof v === 'number' && Number.isFinite(v))) refuse(l, `values must be ${n} finite numbers (the shape [${shape}])`);
  if (sign !== undefined && sign !== 1 && sign !== -1) refuse(l, `input_sign = ${JSON.stringify(sign)} is not 1 or -1`);
  return { values: values as number[], shape: shape as number[], inputSign: sign === -1 ? -1 : 1 };
}

/** The constant's shape as it broadcasts onto an input of `shape` (ones before it), or a refusal. */
function aligned(l: LayerConfig, c: number[], shape: readonly number[]): number[] {
  if (c.length > shape.length) refuse(l, `its constant of shape [${c}] has more axes than its input [${shape}]`);
  const full = [...Array(shape.length - c.length).fill(1), ...c];
  if (c.length === shape.length && c[0] !== 1) refuse(l, `its constant of shape [${c}] has a batch axis of ${c[0]}: it would differ between examples`);
  full.forEach((d, i) => {
    if (d !== 1 && d !== shape[i]) refuse(l, `its constant of shape [${c}] does not broadcast onto its input [${shape}] (axis ${i}: ${d} against ${shape[i]})`);
  });
  return full;
}

/** x + c (or c - x), privately: the constant public, the sum local. */
export function addConstant(l: LayerConfig, x: AnyTensor): AnyTensor {
  const { values, shape, inputSign } = addedConstantOf(l);
  const full = aligned(l, shape, x.shape);
  const c = constantTensor(x.cluster, values, full, `${l.config.name} (constant)`);
  return add(inputSign === 1 ? x : neg(x), c);
}

/** x + c (or c - x) in float64. */
export function plainAddConstant(l: LayerConfig, x: PlainTensor): PlainTensor {
  const { values, shape, inputSign } = addedConstantOf(l);
  const full = aligned(l, shape, x.shape);
  const out = plainAlloc(x.data.length);
  // The constant's strides over the input's axes (0 where it broadcasts).
  const strides = full.map(() => 0);
  for (let i = full.length - 1, s = 1; i >= 0; i--) {
    strides[i] = full[i] === 1 ? 0 : s;
    s *= full[i];
  }
  const idx = x.shape.map(() => 0);
  for (let k = 0; k < out.length; k++) {
    let at = 0;
    for (let i = 0; i < idx.length; i++) at += idx[i] * strides[i];
    out[k] = inputSign * x.data[k] + values[at];
    for (let i = idx.length - 1; i >= 0; i--) {
      if (++idx[i] < x.shape[i]) break;
      idx[i] = 0;
    }
  }
  return { data: out, shape: x.shape };
}
