// Tensor operations written between the layers of a Functional model (`inputs / 255`, `x + 3`,
// `tf.nn.relu(x)`, `ops.mean(x, axis=1)`, `a * b`): tf-keras saves each as a TFOpLambda layer
// (`"function": "math.truediv"`, its constant among the call's keyword arguments) and Keras 3 as
// an operation node (module `keras.src.ops.numpy`, class `TrueDivide`, its constant among the
// call's arguments). TensorFlow.js loads neither (tfjs#7271). Each is rewritten here, before
// anything reads the topology, as the layer (or short chain of layers) that computes the same
// thing: a public constant as Rescaling's scale or offset, two tensors as a merge layer, an
// activation as Activation, a mean over the steps or the pixels as global average pooling, a
// slice, reshape or transpose as the local layer that moves the same values. The last layer of a
// chain keeps the operation's name (what reads the operation reads it); every one carries a note
// (`operation`) of what NumPy's broadcasting asks of its inputs, which the private and the
// plaintext model both check when they run (checkOperation). An operation not in TF_FUNCTIONS or
// KERAS3_CLASSES, or with an argument its rewrite does not read, is refused, naming it.
import { MODEL_CLASSES } from './nested_models';
import { type LayerConfig, layerLabel } from './layers_graph';
import { SLICE_LAYER, sliceKey } from './layers_slice';
import { AXES_LAYER, STACK_LAYER } from './layers_axes';
import { SUPPORTED_LAYERS } from './layers_catalog';
import { REDUCE_LAYER } from './layers_reduce';
import { historyOf, isOpsModule, withoutKeras3Masks } from './keras3_masks';
import { CONSTANT_LAYER } from './layers_constant';

/** What a layer made of an operation asks of its inputs: NumPy's broadcasting, not Keras's merge layers'. */
export interface OperationNote {
  /** The operation as the model wrote it ('tf.math.multiply', 'keras.ops.multiply'). */
  name: string;
  /** Two tensors of one rank: NumPy aligns the last axes, where a merge layer would add axes after the batch. */
  sameRanks?: boolean;
  /** A constant of this rank: the input has at least as many axes (the output would gain axes otherwise). */
  minRank?: number;
  /** The input has exactly this rank (a mean over axis 1 is GlobalAveragePooling1D only on [batch, steps, features]). */
  rank?: number;
}

/** Refuses inputs the operation a layer was made of would have computed otherwise (see OperationNote). */
export function checkOperation(l: LayerConfig, shapes: readonly (readonly number[])[]): void {
  const note = l.operation;
  if (!note) return;
  const fail = (msg: string): never => {
    throw new Error(`${layerLabel(l)}: ${msg}`);
  };
  if (note.sameRanks && shapes.some((s) => s.length !== shapes[0].length))
    fail(`takes tensors of shapes ${shapes.map((s) => `[${s}]`).join(' and ')}: tensors of different ranks are broadcast against the batch axis, which is not supported`);
  if (note.minRank !== undefined && shapes[0].length < note.minRank) fail(`its constant has ${note.minRank} axes and its input [${shapes[0]}] ${shapes[0].length}: the result would gain axes, which is not supported`);
  if (note.rank !== undefined && shapes.some((s) => s.length !== note.rank)) fail(`takes rank-${note.rank} inputs, got ${shapes.map((s) => `[${s}]`).join(' and ')}`);
}

type Ref = [string, number, number];
/** An argument of the operation's call: a tensor, a list of them (concat), or a constant. */
type Operand = { ref: Ref } | { list: Operand[] } | { constant: unknown };
interface Call {
  operands: Operand[];
  /** Its other arguments, by name (axis, keepdims...); `name` and nulls left out. */
  params: Record<string, unknown>;
}
/** One layer of what an operation becomes: each reads the one before, the first the operation's tensors. */
interface Step {
  class_name: string;
  config: Record<string, unknown>;
  note?: Omit<OperationNote, 'name'>;
}
interface Rewrite {
  steps: Step[];
  inputs: Ref[];
}

const isRefArray = (v: unknown): v is unknown[] => Array.isArray(v) && typeof v[0] === 'string' && typeof v[1] === 'number';
const refOf = (a: unknown[]): Ref => [String(a[0]), Number(a[1]), Number(a[2] ?? 0)];
const isTensor = (o: Operand): o is { ref: Ref } => 'ref' in o;

/** The call a tf-keras TFOpLambda node records: [layer, node, tensor, kwargs] for its first argument (a list of them for a list), the rest by name. */
function keras2Call(node: unknown, label: string): Call {
  const single = isRefArray(node);
  const entries = single ? [node] : Array.isArray(node) ? node : [];
  if (entries.length === 0 || !entries.every(isRefArray)) throw new Error(`${label}: its call ${JSON.stringify(node)?.slice(0, 80)} is not a tf-keras call`);
  // tf-keras writes a constant first argument (`3 - x`) as ['_CONSTANT_VALUE', -1, value, kwargs].
  const operandOf = (e: unknown[]): Operand => (e[0] === '_CONSTANT_VALUE' && e[1] === -1 ? { constant: e[2] } : { ref: refOf(e) });
  const operands: Operand[] = [single ? operandOf(node as unknown[]) : { list: entries.map(operandOf) }];
  const params: Record<string, unknown> = {};
  const kwargs = (entries[0] as unknown[])[3];
  for (const [k, v] of Object.entries(kwargs && typeof kwargs === 'object' ? (kwargs as Record<string, unknown>) : {})) {
    if (k === 'name' || v === null) continue;
    // The second operand comes by name (y; b for matmul); a tensor there is [layer, node, tensor].
    if (k === 'y' || k === 'b') operands.push(isRefArray(v) && v.length === 3 ? { ref: refOf(v) } : { constant: v });
    else if (isRefArray(v)) throw new Error(`${label}: takes a tensor as '${k}', which is not supported`);
    else params[k] = v;
  }
  return { operands, params };
}

/** The call a Keras 3 operation node records: {args, kwargs}, tensors as __keras_tensor__ objects; its settings in its config. */
function keras3Call(node: unknown, config: Record<string, unknown>, label: string): Call {
  const o = node as { args?: unknown; kwargs?: unknown } | null;
  if (!o || typeof o !== 'object' || !Array.isArray(o.args)) throw new Error(`${label}: its call ${JSON.stringify(node)?.slice(0, 80)} is not a Keras 3 call`);
  const operandOf = (v: unknown): Operand => {
    const h = historyOf(v);
    if (h) return { ref: refOf(h) };
    return Array.isArray(v) && v.some((e) => historyOf(e)) ? { list: v.map(operandOf) } : { constant: v };
  };
  const operands = o.args.map(operandOf);
  const params: Record<string, unknown> = {};
  for (const [k, v] of Object.entries({ ...config, ...(o.kwargs && typeof o.kwargs === 'object' ? o.kwargs : {}) })) {
    if (k === 'name' || v === null) continue;
    if (historyOf(v)) throw new Error(`${label}: takes a tensor as '${k}', which is not supported`);
    params[k] = v;
  }
  return { operands, params };
}

/**
 * A constant operand's values: a number, or one value per channel (the last axis) with every
 * other axis of size 1 (NumPy arrays as Keras 3 writes them too); its rank, for checkOperation.
 */
/** A constant operand's value, a NumPy array or tensor as Keras 3 writes it unwrapped. */
function constantValue(o: Operand): unknown {
  const v = (o as { constant?: unknown }).constant;
  const wrapped = v as { class_name?: unknown; config?: { value?: unknown } } | null;
  return wrapped && typeof wrapped === 'object' && !Array.isArray(wrapped) && (wrapped.class_name === '__numpy__' || wrapped.class_name === '__tensor__') ? wrapped.config?.value : v;
}

function constantOf(o: Operand, label: string): { values: number[]; rank: number } {
  let v = constantValue(o);
  const given = v;
  let rank = 0;
  while (Array.isArray(v) && v.length === 1 && Array.isArray(v[0])) (v = v[0]), rank++;
  const values = Array.isArray(v) ? v : [v];
  if (Array.isArray(v)) rank++;
  if (values.length === 0 || !values.every((x) => typeof x === 'number' && Number.isFinite(x)))
    throw new Error(`${label}: its constant ${describeConstant(given)} is not supported: a number, or one per channel (the last axis, every other axis of size 1). A [steps, steps] mask: call the attention layer with use_causal_mask; a learned table (positions): make it a weight (an Embedding or a Dense layer); a fixed table added (a positional encoding) is added as it is`);
  return { values: values as number[], rank };
}

/**
 * A constant that is not a number or one per channel: its shape and row-major values, when it is a
 * rectangular array of finite numbers (NumPy's, as Keras 3 writes it too); else undefined.
 */
function wholeConstant(o: Operand): { values: number[]; shape: number[] } | undefined {
  const v = constantValue(o);
  if (!Array.isArray(v)) return undefined;
  const shape: number[] = [];
  for (let e: unknown = v; Array.isArray(e); e = e[0]) shape.push(e.length);
  const values = (v as unknown[]).flat(Infinity);
  if (shape.includes(0) || values.length !== shape.reduce((x, y) => x * y, 1) || !values.every((x) => typeof x === 'number' && Number.isFinite(x))) return undefined;
  // One value per channel (every other axis 1) stays a Rescaling.
  if (shape.slice(0, -1).every((d) => d === 1)) return undefined;
  return { values: values as number[], shape };
}

/** A constant as an error names it: its shape, and its first values. */
function describeConstant(v: unknown): string {
  const shape: number[] = [];
  for (let e = v; Array.isArray(e); e = e[0]) shape.push(e.length);
  const flat = Array.isArray(v) ? (v as unknown[]).flat(Infinity) : [v];
  const head = flat.slice(0, 6).map((x) => JSON.stringify(x)?.slice(0, 20)).join(', ');
  return Array.isArray(v) ? `of shape [${shape}] ([${head}${flat.length > 6 ? ', ...' : ''}])` : String(JSON.stringify(v)).slice(0, 60);
}

/** Rescaling's setting: one number, or one per channel. */
const setting = (xs: number[]): number | number[] => (xs.every((x) => x === xs[0]) ? xs[0] : xs);
const MERGES: Record<string, string> = { add: 'Add', subtract: 'Subtract', multiply: 'Multiply', maximum: 'Maximum', minimum: 'Minimum' };

/** x op y with two tensors (a merge layer) or a tensor and a public constant (Rescaling, ReLU). */
function binary(op: string, call: Call, label: string): Rewrite {
  if (call.operands.length !== 2) throw new Error(`${label}: takes 2 operands, got ${call.operands.length}`);
  const [a, b] = call.operands;
  if (isTensor(a) && isTensor(b)) {
    if (!MERGES[op]) throw new Error(`${label}: divides by a tensor; dividing by a private value is not supported`);
    return { inputs: [a.ref, b.ref], steps: [{ class_name: MERGES[op], config: {}, note: { sameRanks: true } }] };
  }
  const tensorFirst = isTensor(a);
  const t = tensorFirst ? a : b;
  if (!isTensor(t)) throw new Error(`${label}: has no tensor operand (${'list' in t ? 'a list' : 'constants only'})`);
  // x + C or x - C (C - x) for a constant of another shape (a positional encoding): added as it
  // is, public (layers_constant.ts).
  const whole = (op === 'add' || op === 'subtract') ? wholeConstant(tensorFirst ? b : a) : undefined;
  if (whole) return { inputs: [t.ref], steps: [{ class_name: CONSTANT_LAYER, config: { values: op === 'subtract' && tensorFirst ? whole.values.map((v) => -v) : whole.values, shape: whole.shape, input_sign: op === 'subtract' && !tensorFirst ? -1 : 1 } }] };
  const { values: c, rank } = constantOf(tensorFirst ? b : a, label);
  const note = rank > 1 ? { minRank: rank } : {};
  const neg = c.map((v) => -v);
  const rescale = (scale: number[], offset: number[]): Step => ({ class_name: 'Rescaling', config: { scale: setting(scale), offset: setting(offset) }, note });
  const relu: Step = { class_name: 'ReLU', config: {} };
  const steps: Step[] = (() => {
    switch (op) {
      case 'add':
        return [rescale([1], c)];
      case 'subtract':
        return [tensorFirst ? rescale([1], neg) : rescale([-1], c)];
      case 'multiply':
        return [rescale(c, [0])];
      case 'divide':
        if (!tensorFirst) throw new Error(`${label}: divides a constant by a tensor; dividing by a private value is not supported`);
        if (c.includes(0)) throw new Error(`${label}: divides by 0`);
        return [rescale(c.map((v) => 1 / v), [0])];
      case 'maximum':
        // max(x, c) = relu(x - c) + c: exact, as relu is.
        return c.every((v) => v === 0) ? [relu] : [rescale([1], neg), relu, rescale([1], c)];
      default:
        // min(x, c) = c - relu(c - x).
        return [rescale([-1], c), relu, rescale([-1], c)];
    }
  })();
  return { inputs: [t.ref], steps };
}

/** The one tensor a unary operation takes. */
function unaryInput(call: Call, label: string): Ref {
  const [x] = call.operands;
  if (call.operands.length !== 1 || !isTensor(x)) throw new Error(`${label}: takes one tensor`);
  return x.ref;
}

/** Refuses an argument the operation's rewrite does not read (defaults and nulls aside). */
function onlyParams(call: Call, label: string, allowed: Record<string, (v: unknown) => boolean>): void {
  for (const [k, v] of Object.entries(call.params)) {
    // An operation's own float dtype (Keras 3 may write one) changes nothing here; cast's is its target.
    if (k === 'dtype' && !allowed.dtype && isFloat(v)) continue;
    const ok = allowed[k];
    if (!ok) throw new Error(`${label}: argument '${k}' is not supported`);
    if (!ok(v)) throw new Error(`${label}: ${k} = ${JSON.stringify(v)} is not supported`);
  }
}

const ANY = () => true;
const ACTIVATIONS = new Set(['relu', 'relu6', 'sigmoid', 'tanh', 'softplus', 'softsign', 'selu', 'log_sigmoid', 'hard_sigmoid', 'hard_silu']);
const FLOATS = new Set(['float16', 'bfloat16', 'float32', 'float64']);
/** A float dtype: its name, or a Keras 3 DTypePolicy object naming one. */
const isFloat = (v: unknown): boolean => FLOATS.has(String((v as { config?: { name?: unknown } } | null)?.config?.name ?? v));

/** Axes as a sorted list (one number or several). */
const axesOf = (v: unknown): number[] | undefined => {
  const list = Array.isArray(v) ? v : [v];
  return list.every((a) => Number.isInteger(a)) ? (list as number[]).slice().sort((p, q) => p - q) : undefined;
};

/** The layers computing canonical operation `op` on `call`. */
function rewrite(op: string, call: Call, label: string, keras3: boolean): Rewrite {
  if (op in MERGES || op === 'divide') return binary(op, call, label);
  const one = (class_name: string, config: Record<string, unknown> = {}, note?: Step['note']): Rewrite => ({ inputs: [unaryInput(call, label)], steps: [{ class_name, config, ...(note ? { note } : {}) }] });
  if (ACTIVATIONS.has(op)) return onlyParams(call, label, {}), one('Activation', { activation: op });
  switch (op) {
    case 'negative':
      return onlyParams(call, label, {}), one('Rescaling', { scale: -1, offset: 0 });
    case 'identity':
      return onlyParams(call, label, {}), one('Activation', { activation: 'linear' });
    case 'cast':
      onlyParams(call, label, { dtype: isFloat });
      return one('Activation', { activation: 'linear' });
    case 'gelu': {
      // tf.nn.gelu's approximate defaults to False, keras.ops.gelu's to True (the tanh form).
      onlyParams(call, label, { approximate: (v) => typeof v === 'boolean' });
      const approximate = (call.params.approximate ?? keras3) as boolean;
      return one('Activation', { activation: approximate ? 'gelu_new' : 'gelu' });
    }
    case 'silu':
      onlyParams(call, label, { beta: (v) => v === 1 });
      return one('Activation', { activation: 'silu' });
    case 'elu':
      onlyParams(call, label, { alpha: (v) => typeof v === 'number' });
      return one('ELU', { alpha: call.params.alpha ?? 1 });
    case 'leaky_relu': {
      onlyParams(call, label, { alpha: (v) => typeof v === 'number', negative_slope: (v) => typeof v === 'number' });
      return one('LeakyReLU', { alpha: call.params.alpha ?? call.params.negative_slope ?? 0.2 });
    }
    case 'softmax':
      onlyParams(call, label, { axis: (v) => Number.isInteger(v) });
      return one('Softmax', { axis: call.params.axis ?? -1 });
    case 'exp':
      // The activation 'exponential': the output's, applied by the client (final_activation.ts); hidden, refused there.
      return onlyParams(call, label, {}), one('Activation', { activation: 'exponential' });
    case 'log_softmax':
      // Over the last axis only (the activation's, which the client applies on the output).
      onlyParams(call, label, { axis: (v) => v === -1 });
      return one('Activation', { activation: 'log_softmax' });
    case 'reshape': {
      // tf.reshape(x, shape) names it shape, keras.ops.reshape's operation newshape (new_shape in Keras 3.0).
      const shape = call.params.shape ?? call.params.newshape ?? call.params.new_shape ?? (call.operands[1] && 'constant' in call.operands[1] ? call.operands[1].constant : undefined);
      onlyParams(call, label, { shape: ANY, newshape: ANY, new_shape: ANY });
      const x = call.operands[0];
      if (!isTensor(x)) throw new Error(`${label}: takes one tensor`);
      if (!Array.isArray(shape) || !(shape[0] === -1 || shape[0] === null))
        throw new Error(`${label}: reshapes to ${JSON.stringify(shape)}; only a shape keeping the batch first (-1 or None, then the sizes of one example) is supported`);
      return { inputs: [x.ref], steps: [{ class_name: 'Reshape', config: { target_shape: shape.slice(1) } }] };
    }
    case 'square':
    case 'pow': {
      // x ** 2: a private product of x with itself; x ** 1 is x. Other powers are refused.
      const x = unaryInput({ ...call, operands: call.operands.slice(0, 1) }, label);
      const p = op === 'square' ? 2 : call.operands[1] && 'constant' in call.operands[1] ? call.operands[1].constant : undefined;
      if (op === 'square' ? call.operands.length !== 1 : call.operands.length !== 2) throw new Error(`${label}: takes ${op === 'square' ? 'one tensor' : 'a tensor and a constant exponent'}`);
      onlyParams(call, label, {});
      if (p === 1) return { inputs: [x], steps: [{ class_name: 'Activation', config: { activation: 'linear' } }] };
      if (p !== 2) throw new Error(`${label}: raises to the power ${JSON.stringify(p)}; only 2 (a product) and 1 are supported`);
      return { inputs: [x, x], steps: [{ class_name: 'Multiply', config: {} }] };
    }
    case 'sum':
    case 'mean':
    case 'max': {
      // Over the axes given; none given would reduce the batch's too (every example into one).
      onlyParams(call, label, { axis: (v) => axesOf(v) !== undefined, keepdims: (v) => typeof v === 'boolean', initial: (v) => v === null });
      if (call.params.axis === undefined) throw new Error(`${label}: names no axis, so it reduces the batch too (every example into one value); give the axes`);
      return one(REDUCE_LAYER, { op, axes: axesOf(call.params.axis), keepdims: call.params.keepdims === true });
    }
    case 'expand_dims':
      onlyParams(call, label, { axis: (v) => Number.isInteger(v) });
      if (call.params.axis === undefined) throw new Error(`${label}: names no axis`);
      return one(AXES_LAYER, { expand: call.params.axis });
    case 'squeeze': {
      // tf.compat.v1.squeeze's deprecated squeeze_dims is the axis under another name.
      onlyParams(call, label, { axis: (v) => axesOf(v) !== undefined, squeeze_dims: (v) => axesOf(v) !== undefined });
      return one(AXES_LAYER, { squeeze: call.params.axis ?? call.params.squeeze_dims ?? null });
    }
    case 'transpose': {
      // tf.transpose names it perm, keras.ops.transpose's operation axes; the batch stays first.
      onlyParams(call, label, { perm: ANY, axes: ANY, conjugate: (v) => v === false });
      const perm = call.params.perm ?? call.params.axes;
      if (!Array.isArray(perm) || perm[0] !== 0 || !perm.every((a) => Number.isInteger(a)))
        throw new Error(`${label}: permutes the axes as ${JSON.stringify(perm ?? null)}; only a permutation keeping the batch first ([0, ...]) is supported`);
      return one('Permute', { dims: perm.slice(1) }, { rank: perm.length });
    }
    case 'matmul': {
      // [batch, n, k] x [batch, k, m] (either transposed first): Dot over the contracted axes.
      onlyParams(call, label, { transpose_a: (v) => typeof v === 'boolean', transpose_b: (v) => typeof v === 'boolean', adjoint_a: (v) => v === false, adjoint_b: (v) => v === false, a_is_sparse: (v) => v === false, b_is_sparse: (v) => v === false, output_type: ANY });
      const [a, b] = call.operands;
      if (call.operands.length !== 2 || !isTensor(a) || !isTensor(b)) throw new Error(`${label}: takes two tensors (a product with a constant matrix is a Dense layer)`);
      const axes = [call.params.transpose_a === true ? 1 : 2, call.params.transpose_b === true ? 2 : 1];
      return { inputs: [a.ref, b.ref], steps: [{ class_name: 'Dot', config: { axes }, note: { rank: 3 } }] };
    }
    case 'getitem': {
      // tf-keras passes the key by name (slice_spec), Keras 3 as the second argument.
      const key = 'slice_spec' in call.params ? call.params.slice_spec : call.operands[1] && 'constant' in call.operands[1] ? call.operands[1].constant : undefined;
      onlyParams(call, label, { slice_spec: ANY });
      const x = call.operands[0];
      if (!isTensor(x) || call.operands.length > 2) throw new Error(`${label}: takes one tensor and a key`);
      const entries = sliceKey(key, label).map((e) => (e === 'ellipsis' ? { class_name: '__ellipsis__' } : e));
      return { inputs: [x.ref], steps: [{ class_name: SLICE_LAYER, config: { key: entries } }] };
    }
    case 'stack': {
      // A list of tensors of one shape along a new axis (keras.applications' caffe-style preprocess_input).
      onlyParams(call, label, { axis: (v) => Number.isInteger(v) });
      const [list] = call.operands;
      const parts = list && 'list' in list ? list.list : [];
      if (call.operands.length !== 1 || parts.length === 0 || !parts.every(isTensor)) throw new Error(`${label}: takes a list of tensors (constants among them are not supported)`);
      return { inputs: parts.map((p) => (p as { ref: Ref }).ref), steps: [{ class_name: STACK_LAYER, config: { axis: call.params.axis ?? 0 } }] };
    }
    case 'concat': {
      onlyParams(call, label, { axis: (v) => Number.isInteger(v) });
      const [list] = call.operands;
      const parts = list && 'list' in list ? list.list : [];
      if (call.operands.length !== 1 || parts.length === 0 || !parts.every(isTensor)) throw new Error(`${label}: takes a list of tensors (constants among them are not supported)`);
      const refs = parts.map((p) => (p as { ref: Ref }).ref);
      if (refs.length === 1) return { inputs: refs, steps: [{ class_name: 'Activation', config: { activation: 'linear' } }] };
      return { inputs: refs, steps: [{ class_name: 'Concatenate', config: { axis: call.params.axis ?? 0 }, note: { sameRanks: true } }] };
    }
  }
  throw new Error(`${label}: is not supported`);
}

/** tf-keras's TFOpLambda functions (tf. left out) and Keras 3's operation classes, as the operations above. */
const TF_FUNCTIONS: Record<string, string> = {
  '__operators__.add': 'add', 'math.add': 'add', 'math.subtract': 'subtract', 'math.multiply': 'multiply',
  'math.truediv': 'divide', 'math.divide': 'divide', 'math.negative': 'negative', 'math.maximum': 'maximum', 'math.minimum': 'minimum',
  'nn.relu': 'relu', 'nn.relu6': 'relu6', 'math.sigmoid': 'sigmoid', 'nn.sigmoid': 'sigmoid', 'math.tanh': 'tanh', 'nn.tanh': 'tanh',
  'math.softplus': 'softplus', 'nn.softplus': 'softplus', 'nn.softsign': 'softsign', 'math.softsign': 'softsign', 'nn.selu': 'selu', 'nn.elu': 'elu', 'nn.gelu': 'gelu', 'nn.silu': 'silu', 'nn.swish': 'silu',
  'nn.leaky_relu': 'leaky_relu', 'math.log_sigmoid': 'log_sigmoid', 'nn.softmax': 'softmax', 'math.softmax': 'softmax',
  'math.exp': 'exp', 'nn.log_softmax': 'log_softmax', 'math.log_softmax': 'log_softmax',
  'math.pow': 'pow', 'math.square': 'square', 'math.reduce_mean': 'mean', 'math.reduce_max': 'max', 'math.reduce_sum': 'sum', expand_dims: 'expand_dims', squeeze: 'squeeze', 'compat.v1.squeeze': 'squeeze',
  transpose: 'transpose', 'compat.v1.transpose': 'transpose', 'linalg.matmul': 'matmul', matmul: 'matmul', reshape: 'reshape', concat: 'concat', stack: 'stack', cast: 'cast', identity: 'identity', '__operators__.getitem': 'getitem',
};
const KERAS3_CLASSES: Record<string, string> = {
  Add: 'add', Subtract: 'subtract', Multiply: 'multiply', Divide: 'divide', TrueDivide: 'divide', Negative: 'negative', Maximum: 'maximum', Minimum: 'minimum',
  Relu: 'relu', Relu6: 'relu6', Sigmoid: 'sigmoid', Tanh: 'tanh', Softplus: 'softplus', Softsign: 'softsign', Selu: 'selu', Elu: 'elu', Gelu: 'gelu', Silu: 'silu', Swish: 'silu',
  LeakyRelu: 'leaky_relu', LogSigmoid: 'log_sigmoid', HardSigmoid: 'hard_sigmoid', HardSilu: 'hard_silu', HardSwish: 'hard_silu', Softmax: 'softmax', Exp: 'exp', LogSoftmax: 'log_softmax',
  Power: 'pow', Square: 'square', Mean: 'mean', Max: 'max', Sum: 'sum', ExpandDims: 'expand_dims', Squeeze: 'squeeze', Transpose: 'transpose', Matmul: 'matmul', Reshape: 'reshape', Concatenate: 'concat', Stack: 'stack', Cast: 'cast', GetItem: 'getitem',
};
const SUPPORTED = 'x + y, x - y, x * y, x ** 2 and tf.maximum/minimum (two tensors of one shape, or a tensor and a number or one number per channel), x / a constant, -x, a sum, mean or maximum over any axes but the batch, a reshape, transpose, expand_dims or squeeze keeping the batch first, a matmul of two [batch, n, k] tensors, a concat, a stack (on an axis after the batch), slicing (x[:, 0], x[:, -1, :], x[..., :3], x[..., ::-1]: any step), a cast to float, and the activations relu, relu6, sigmoid, tanh, softplus, selu, elu, gelu, silu, leaky_relu, log_sigmoid, softmax (Keras 3: hard_sigmoid, hard_silu), and on the output exp and log_softmax (last axis)';

/** Keras 3 operations named as a layer is: told apart by their call when the module is gone. */
const LAYER_NAMED = new Set(['Add', 'Subtract', 'Multiply', 'Maximum', 'Minimum', 'Reshape', 'Softmax', 'Concatenate']);
/** Merge layers (one list of tensors) whose names Keras 3 operations share (keras.ops.average, dot...). */
const MERGE_LAYERS = new Set(['Add', 'Subtract', 'Multiply', 'Maximum', 'Minimum', 'Average', 'Dot']);

/**
 * Whether a layer entry is an operation: tf-keras's TFOpLambda, or a Keras 3 operation node. Its
 * module says so, but tensorflowjs_converter deletes every `module` key of a Keras 3 model; then
 * an operation class no layer has (TrueDivide, Mean, GetItem...) says so, and one named as a
 * layer is by its call: a merge layer takes one list of tensors (args [[a, b]]), the operation
 * two arguments (args [a, 0.5]); Reshape's operation has newshape where the layer has
 * target_shape; an operation's config had no name before Keras 3.11. Softmax and Concatenate
 * compute alike either way, so otherwise stay the layers.
 */
function isOperation(l: LayerConfig): boolean {
  if (l?.class_name === 'TFOpLambda' || l?.class_name === 'SlicingOpLambda') return true;
  const module = (l as { module?: unknown } | undefined)?.module;
  if (typeof module === 'string') return isOpsModule(module);
  if (!l || typeof l.class_name !== 'string') return false;
  const cls = l.class_name, c = (l.config ?? {}) as Record<string, unknown>;
  const node = Array.isArray(l.inbound_nodes) ? (l.inbound_nodes[0] as { args?: unknown } | undefined) : undefined;
  const args = node && typeof node === 'object' && Array.isArray(node.args) ? node.args : undefined;
  const layer = SUPPORTED_LAYERS.includes(cls) || MODEL_CLASSES.has(cls);
  if (Object.hasOwn(KERAS3_CLASSES, cls)) {
    // A layer's config names it; an operation's did not before Keras 3.11.
    if (!LAYER_NAMED.has(cls) || typeof c.name !== 'string') return true;
    if (!args) return false;
    if (cls === 'Reshape') return 'newshape' in c || 'new_shape' in c;
  }
  // Named as a merge layer: a merge layer takes one list of tensors, an operation its operands.
  if (MERGE_LAYERS.has(cls)) return !!args && !(args.length === 1 && Array.isArray(args[0]));
  // A class no layer here has, called in Keras 3's form, whose config lacks what every Keras 3
  // layer's has (trainable, dtype): an operation this file does not know (keras.ops.take), so
  // refused as one, with the list of those it knows, rather than as an unknown layer.
  return !layer && !!args && !('trainable' in c) && !('dtype' in c);
}

/** The operations Keras 3 builds padding masks with (Embedding's NotEqual, Masking's Any, merges' LogicalOr...). */
const MASK_OPERATIONS = new Set(['NotEqual', 'Any', 'All', 'LogicalOr', 'LogicalAnd', 'LogicalNot', 'OnesLike', 'Ones']);

/** The layers (one or a chain) replacing operation `l`, the last named as it; `used` holds every layer name, and gains theirs. */
function replace(l: LayerConfig, used: Set<string>): LayerConfig[] {
  // Keras 3 before 3.11 writes an operation's config without its name (the entry has it).
  const name = String(l.config?.name ?? l.name);
  const keras3 = l.class_name !== 'TFOpLambda' && l.class_name !== 'SlicingOpLambda';
  const written = keras3 ? `keras.ops ${l.class_name}` : `tf.${String(l.config?.function ?? '?')}`;
  const label = `operation '${name}' (${written})`;
  if (!keras3 && typeof l.config?.function !== 'string') throw new Error(`${label}: names no function (its config's "function", the TensorFlow symbol it calls)`);
  const op = keras3 ? KERAS3_CLASSES[l.class_name] : TF_FUNCTIONS[String(l.config?.function)];
  // Keras 3 writes padding masks out as such operations (keras3_masks.ts takes out the forms it
  // knows): one left here is a mask combined in another form, which the user never wrote.
  if (!op && keras3 && MASK_OPERATIONS.has(l.class_name))
    throw new Error(`${label}: is Keras 3's own padding-mask computation (from Embedding(mask_zero) or Masking), combined in a form not supported (a masked sequence merged with an unmasked one, say): mask both, or use mask_zero false`);
  if (!op) throw new Error(`${label}: is not supported; of operations on tensors, ${SUPPORTED} are`);
  const nodes = Array.isArray(l.inbound_nodes) ? l.inbound_nodes : [];
  if (nodes.length === 0) throw new Error(`${label}: is never called`);
  const rewrites = nodes.map((node) => rewrite(op, keras3 ? keras3Call(node, l.config as Record<string, unknown>, label) : keras2Call(node, label), label, keras3));
  // A layer called more than once takes the same settings each time (one set of layers for all calls).
  const steps = JSON.stringify(rewrites[0].steps);
  if (rewrites.some((r) => JSON.stringify(r.steps) !== steps)) throw new Error(`${label}: is called several times with different constants or settings`);
  const names = rewrites[0].steps.map((_, i, all) => {
    if (i === all.length - 1) return name;
    let n = `${name}/${i + 1}`;
    while (used.has(n)) n += '_';
    used.add(n);
    return n;
  });
  const node = (refs: Ref[], merge: boolean): unknown => {
    if (!keras3) return refs.map((r) => [...r, {}]);
    const kt = (r: Ref) => ({ class_name: '__keras_tensor__', config: { keras_history: r } });
    return { args: [merge ? refs.map(kt) : kt(refs[0])], kwargs: {} };
  };
  return rewrites[0].steps.map((s, i) => ({
    class_name: s.class_name,
    config: { name: names[i], ...s.config },
    name: names[i],
    operation: { name: written, ...s.note },
    inbound_nodes: rewrites.map((r, k) => (i === 0 ? node(r.inputs, r.inputs.length > 1) : node([[names[i - 1], k, 0]], false))),
  }));
}

/** A layer list with its operations rewritten (recursively inside nested models); the same list when it has none. */
function rewriteLayers(given: LayerConfig[]): LayerConfig[] {
  // Keras 3's padding masks first: their operations go, their `mask` arguments become notes.
  const layers = withoutKeras3Masks(given);
  const used = new Set(layers.map((l) => String(l?.config?.name)));
  let changed = layers !== given;
  const out = layers.flatMap((l) => {
    if (isOperation(l)) {
      changed = true;
      return replace(l, used);
    }
    const inner = nestedLayers(l);
    if (!inner) return [l];
    const rewritten = rewriteLayers(inner);
    if (rewritten === inner) return [l];
    changed = true;
    return [Array.isArray(l.config) ? { ...l, config: rewritten } : { ...l, config: { ...l.config, layers: rewritten } }] as LayerConfig[];
  });
  return changed ? out : given;
}

/** A nested model's layer list (Sequential as a list or {layers}, Functional), or undefined. */
function nestedLayers(l: LayerConfig): LayerConfig[] | undefined {
  if (!l || !MODEL_CLASSES.has(l.class_name)) return undefined;
  const c = l.config as unknown;
  if (Array.isArray(c)) return c as LayerConfig[];
  const layers = (c as { layers?: unknown } | undefined)?.layers;
  return Array.isArray(layers) ? (layers as LayerConfig[]) : undefined;
}

/**
 * The topology with its operations rewritten as layers (see the top of this file); the same object
 * when it has none. Never edits the caller's topology.
 */
export function withoutOperations<T extends { modelTopology?: unknown }>(json: T): T {
  const topo = json?.modelTopology as { model_config?: unknown; class_name?: unknown; config?: unknown } | undefined;
  if (!topo || typeof topo !== 'object') return json;
  const holder = (topo.model_config ?? topo) as LayerConfig;
  const layers = nestedLayers(holder);
  if (!layers) return json;
  const rewritten = rewriteLayers(layers);
  if (rewritten === layers) return json;
  const newHolder = Array.isArray(holder.config) ? { ...holder, config: rewritten } : { ...holder, config: { ...holder.config, layers: rewritten } };
  return { ...json, modelTopology: topo.model_config ? { ...topo, model_config: newHolder } : { ...topo, ...newHolder } };
}
