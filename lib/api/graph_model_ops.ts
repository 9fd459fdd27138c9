// Each TensorFlow op a GraphModel may hold, as the Keras layer (or constant) it computes
// (graph_model.ts walks the graph). Constants are folded here: the shapes a Flatten computes
// from Shape, StridedSlice and Pack, with the batch size a symbol. Everything else is refused by
// name: an op translated wrongly would answer wrongly, silently.

/** A GraphDef node as tensorflowjs_converter writes it (attr values as TensorFlow's JSON). */
export interface GraphNode {
  name: string;
  op: string;
  input: string[];
  attr: Record<string, AttrValue>;
}

interface AttrValue {
  i?: string | number;
  f?: number;
  b?: boolean;
  s?: string;
  type?: string;
  list?: { i?: (string | number)[]; s?: string[]; f?: number[] };
  shape?: { dim?: { size?: string | number }[]; unknownRank?: boolean };
  tensor?: { dtype?: string; tensorShape?: { dim?: { size?: string | number }[] }; intVal?: number[]; floatVal?: number[]; int64Val?: (string | number)[] };
}

/** A size in a folded shape: known, the batch's ('B'), or another unknown ('U'). */
type Dim = number | 'B' | 'U';

export type Val =
  /** A constant: weights (data), or a small int vector that may hold symbolic sizes (dims). */
  | { kind: 'const'; shape: number[]; data: Float32Array; dims?: Dim[] }
  /** A tensor a layer computes: its layer's name, its rank (batch axis included), the layer and the node that made it. */
  | { kind: 'layer'; id: string; rank: number; entry: LayerEntry; node: string };

interface LayerEntry {
  class_name: string;
  name: string;
  config: Record<string, unknown>;
  inbound_nodes: unknown[];
}

type Weights = Map<string, { data: Float32Array; shape: number[] }>;

/** What the walk builds: layers in order, their weights, the inputs, and each node's read count. */
export interface Translated {
  layers: LayerEntry[];
  weights: Weights;
  names: Set<string>;
  inputs: { node: string; layer: string }[];
  consumers: Map<string, number>;
}

const where = (n: GraphNode) => `GraphModel node '${n.name}' (${n.op})`;

function fail(n: GraphNode, why: string): never {
  throw new Error(`${where(n)}: ${why}`);
}

const intOf = (v: string | number | undefined, d = 0): number => (v === undefined ? d : Number(v));
const ints = (n: GraphNode, k: string): number[] => (n.attr[k]?.list?.i ?? []).map((v) => Number(v));
const str = (n: GraphNode, k: string): string | undefined => (n.attr[k]?.s === undefined ? undefined : Buffer.from(n.attr[k].s!, 'base64').toString('utf8'));
const strs = (n: GraphNode, k: string): string[] => (n.attr[k]?.list?.s ?? []).map((s) => Buffer.from(s, 'base64').toString('utf8'));

function needArgs(n: GraphNode, args: Val[], count: number): void {
  if (args.length !== count) fail(n, `takes ${count} input(s), the graph gives it ${args.length}`);
}

function layerArg(n: GraphNode, v: Val, what = 'its input'): Extract<Val, { kind: 'layer' }> {
  if (v.kind !== 'layer') fail(n, `${what} is a constant: only ops on values computed from the model's input translate`);
  return v;
}

function constArg(n: GraphNode, v: Val, what: string): Extract<Val, { kind: 'const' }> {
  if (v.kind !== 'const') fail(n, `${what} is computed from the input, not a constant (weights computed at run time are not supported)`);
  return v;
}

/** A constant's values as sizes (symbolic ones kept). */
function dimsOf(v: Extract<Val, { kind: 'const' }>): Dim[] {
  return v.dims ?? [...v.data];
}

/** Only NHWC: the layers are channels_last. */
function channelsLast(n: GraphNode): void {
  const f = str(n, 'data_format');
  if (f !== undefined && f !== 'NHWC' && f !== 'NWC') fail(n, `data_format ${f} is not supported: only NHWC (channels last)`);
}

/** SAME or VALID (explicit paddings are a Pad before the op in Keras terms: refused). */
function paddingOf(n: GraphNode): 'same' | 'valid' {
  const p = str(n, 'padding');
  if (p === 'SAME') return 'same';
  if (p === 'VALID') return 'valid';
  return fail(n, `padding ${String(p)} is not supported: SAME or VALID`);
}

/** [1, h, w, 1] -> [h, w], refusing a stride or window over the batch or channels. */
function spatial(n: GraphNode, k: string, d = 1): [number, number] {
  const v = ints(n, k);
  if (v.length === 0) return [d, d];
  if (v.length !== 4 || v[0] !== 1 || v[3] !== 1) fail(n, `${k} [${v}] is not supported: [1, h, w, 1] only`);
  return [v[1], v[2]];
}

function keep(out: Translated, base: string): string {
  let name = base.replace(/^(StatefulPartitionedCall|PartitionedCall)\//, '').replace(/[^A-Za-z0-9_.-]/g, '_') || 'layer';
  if (!/^[A-Za-z]/.test(name)) name = `l_${name}`;
  let unique = name;
  for (let i = 1; out.names.has(unique); i++) unique = `${name}_${i}`;
  out.names.add(unique);
  return unique;
}

/** Appends a layer reading `inputs`; `weights` are [its weight's short name, values, shape]. */
function addLayer(out: Translated, n: GraphNode, class_name: string, config: Record<string, unknown>, inputs: Extract<Val, { kind: 'layer' }>[], rank: number, weights: [string, Float32Array, number[]][] = []): Extract<Val, { kind: 'layer' }> {
  const name = keep(out, `${n.name}${class_name === 'InputLayer' ? '' : `_${class_name}`}`);
  const entry: LayerEntry = { class_name, name, config: { name, ...config }, inbound_nodes: inputs.length === 0 ? [] : [inputs.map((x) => [x.id, 0, 0, {}])] };
  out.layers.push(entry);
  for (const [w, data, shape] of weights) out.weights.set(`${name}/${w}`, { data, shape });
  return { kind: 'layer', id: name, rank, entry, node: n.name };
}

const ACTIVATIONS: Record<string, (n: GraphNode) => [string, Record<string, unknown>]> = {
  Relu: () => ['Activation', { activation: 'relu' }],
  Relu6: () => ['ReLU', { max_value: 6 }],
  Elu: () => ['Activation', { activation: 'elu' }],
  Selu: () => ['Activation', { activation: 'selu' }],
  Sigmoid: () => ['Activation', { activation: 'sigmoid' }],
  Tanh: () => ['Activation', { activation: 'tanh' }],
  Softplus: () => ['Activation', { activation: 'softplus' }],
  Softsign: () => ['Activation', { activation: 'softsign' }],
  // A fused op names its slope leakyrelu_alpha; TensorFlow's default is 0.2.
  LeakyRelu: (n) => ['LeakyReLU', { alpha: n.attr.alpha?.f ?? n.attr.leakyrelu_alpha?.f ?? 0.2 }],
};

/** A fused op's ['BiasAdd', activation?]: the activation's layer after the op, if any. */
function fused(n: GraphNode, args: Val[], out: Translated): { bias?: Float32Array; then: (v: Extract<Val, { kind: 'layer' }>) => Val } {
  const ops = strs(n, 'fused_ops');
  if (ops[0] !== 'BiasAdd' || ops.length > 2) fail(n, `fused ops [${ops.join(', ')}] are not supported: BiasAdd, then at most one activation`);
  if (intOf(n.attr.num_args?.i, 1) !== 1 || args.length !== 3) fail(n, `takes its bias as one argument (num_args 1), got ${args.length - 2}`);
  const bias = constArg(n, args[2], 'its bias').data;
  const act = ops[1];
  if (act !== undefined && !ACTIVATIONS[act]) fail(n, `fused activation ${act} is not supported (${Object.keys(ACTIVATIONS).join(', ')})`);
  return { bias, then: (v) => (act === undefined ? v : activation(out, n, act, v)) };
}

function activation(out: Translated, n: GraphNode, op: string, x: Extract<Val, { kind: 'layer' }>): Val {
  const [cls, config] = ACTIVATIONS[op](n);
  return addLayer(out, n, cls, config, [x], x.rank);
}

/** Conv2D / DepthwiseConv2D (fused or not): the filter a constant, NHWC. */
function conv(n: GraphNode, args: Val[], out: Translated, depthwise: boolean, fusedOps: boolean): Val {
  if (!fusedOps) needArgs(n, args, 2);
  channelsLast(n);
  const x = layerArg(n, args[0]);
  const f = constArg(n, args[1], 'its filter');
  if (f.shape.length !== 4) fail(n, `its filter has shape [${f.shape}], not [kh, kw, in, out]`);
  const [kh, kw, , o] = f.shape;
  const dil = spatial(n, 'dilations'), strides = spatial(n, 'strides');
  const { bias, then } = fusedOps ? fused(n, args, out) : { bias: undefined, then: (v: Extract<Val, { kind: 'layer' }>) => v as Val };
  const common = { kernel_size: [kh, kw], strides, padding: paddingOf(n), data_format: 'channels_last', dilation_rate: dil, activation: 'linear', use_bias: bias !== undefined };
  const weights: [string, Float32Array, number[]][] = [[depthwise ? 'depthwise_kernel' : 'kernel', f.data, f.shape]];
  const outChannels = depthwise ? f.shape[2] * o : o;
  if (bias) {
    if (bias.length !== outChannels) fail(n, `its bias has ${bias.length} values for ${outChannels} output channels`);
    weights.push(['bias', bias, [outChannels]]);
  }
  const y = depthwise ? addLayer(out, n, 'DepthwiseConv2D', { ...common, depth_multiplier: o }, [x], 4, weights) : addLayer(out, n, 'Conv2D', { ...common, filters: o }, [x], 4, weights);
  return then(y);
}

/** MatMul / _FusedMatMul: x [batch, in] times a constant [in, out] (transpose_b: [out, in]). */
function matmul(n: GraphNode, args: Val[], out: Translated, fusedOps: boolean): Val {
  if (!fusedOps) needArgs(n, args, 2);
  if (n.attr.transpose_a?.b) fail(n, 'transpose_a is not supported');
  const x = layerArg(n, args[0]);
  const k = constArg(n, args[1], 'its right operand');
  if (k.shape.length !== 2) fail(n, `its right operand has shape [${k.shape}], not a matrix`);
  let [rows, cols] = k.shape, data = k.data;
  if (n.attr.transpose_b?.b) {
    data = new Float32Array(rows * cols);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) data[j * rows + i] = k.data[i * cols + j];
    [rows, cols] = [cols, rows];
  }
  const { bias, then } = fusedOps ? fused(n, args, out) : { bias: undefined, then: (v: Extract<Val, { kind: 'layer' }>) => v as Val };
  const weights: [string, Float32Array, number[]][] = [['kernel', data, [rows, cols]]];
  if (bias) {
    if (bias.length !== cols) fail(n, `its bias has ${bias.length} values for ${cols} outputs`);
    weights.push(['bias', bias, [cols]]);
  }
  return then(addLayer(out, n, 'Dense', { units: cols, activation: 'linear', use_bias: bias !== undefined }, [x], x.rank, weights));
}

/**
 * x + b for a constant b over x's last axis: merged into the layer that made x when that layer has
 * no bias and nothing else reads it (a BiasAdd the converter left unfused); refused otherwise.
 */
function addBias(n: GraphNode, x: Extract<Val, { kind: 'layer' }>, b: Extract<Val, { kind: 'const' }>, out: Translated): Val {
  const e = x.entry;
  const units = (e.config.filters ?? e.config.units ?? undefined) as number | undefined;
  const last = b.shape.length === 0 ? 1 : b.shape[b.shape.length - 1];
  const perChannel = b.shape.every((d, i) => i === b.shape.length - 1 || d === 1);
  const mergeable = ['Conv2D', 'Dense'].includes(e.class_name) && e.config.use_bias === false && out.consumers.get(x.node) === 1;
  if (!mergeable || !perChannel || units === undefined || last !== units)
    fail(n, 'adds a constant that is not the bias of the convolution or matmul just before it (read once): not supported');
  e.config.use_bias = true;
  out.weights.set(`${e.name}/bias`, { data: b.data, shape: [units] });
  return x;
}

/** Folds the int ops of a Flatten's shape: StridedSlice over a vector, masks begin/end/shrink only. */
function stridedSlice(n: GraphNode, args: Val[]): Val {
  needArgs(n, args, 4);
  const v = constArg(n, args[0], 'its input'), [b, e, s] = [1, 2, 3].map((i) => dimsOf(constArg(n, args[i], 'its begin, end and strides')));
  if (v.shape.length !== 1 || b.length !== 1) fail(n, 'only a slice of a vector (a shape) translates');
  for (const m of ['ellipsis_mask', 'new_axis_mask']) if (intOf(n.attr[m]?.i) !== 0) fail(n, `${m} is not supported`);
  const dims = dimsOf(v), len = dims.length, step = Number(s[0]);
  if (step !== 1) fail(n, `a stride of ${step} is not supported`);
  const at = (d: Dim) => (typeof d !== 'number' ? fail(n, 'its bounds are not constants') : d < 0 ? d + len : Math.min(d, len));
  const lo = intOf(n.attr.begin_mask?.i) & 1 ? 0 : at(b[0]);
  if (intOf(n.attr.shrink_axis_mask?.i) & 1) return { kind: 'const', shape: [], data: new Float32Array(1), dims: [dims[lo]] };
  const hi = intOf(n.attr.end_mask?.i) & 1 ? len : at(e[0]);
  const picked = dims.slice(lo, Math.max(lo, hi));
  return { kind: 'const', shape: [picked.length], data: new Float32Array(picked.length), dims: picked };
}

/** Reshape of a layer's value to a folded shape whose first size is the batch's (or -1 standing for it). */
function reshapeLayer(n: GraphNode, x: Extract<Val, { kind: 'layer' }>, target: Dim[], out: Translated): Val {
  const [first, ...rest] = target;
  if (first !== 'B' && first !== -1) fail(n, `reshapes to [${target}]: the batch axis must stay first`);
  if (rest.length === 0) fail(n, 'reshapes to the batch axis alone: not supported (keep a last axis of 1)');
  if (first === -1 && rest.includes(-1)) fail(n, `reshapes to [${target}]: two unknown sizes`);
  if (rest.some((d) => typeof d !== 'number' || (d < 1 && d !== -1))) fail(n, `reshapes to [${target}]: a size computed from the input's other sizes is not supported`);
  return addLayer(out, n, 'Reshape', { target_shape: rest }, [x], 1 + rest.length);
}

/** The value of a Const node: its manifest weight, or a value written inline. */
function constant(n: GraphNode, weights: Weights): Val {
  const w = weights.get(n.name);
  if (w) return { kind: 'const', shape: w.shape, data: w.data };
  const t = n.attr.value?.tensor;
  const shape = (t?.tensorShape?.dim ?? []).map((d) => Number(d.size));
  const size = shape.reduce((a, d) => a * d, 1);
  const vals = (t?.floatVal ?? t?.intVal ?? t?.int64Val ?? []).map(Number);
  if (!t || vals.length === 0 || (vals.length !== size && vals.length !== 1)) fail(n, 'its value is neither in the weights manifest nor written inline as numbers');
  return { kind: 'const', shape, data: Float32Array.from({ length: size }, (_, i) => vals[vals.length === 1 ? 0 : i]) };
}

/** The layers and constants of one node, given its inputs' values. */
export function translateNode(n: GraphNode, args: Val[], weights: Weights, out: Translated): Val[] {
  const op = n.op;
  if (op === 'Const') return [constant(n, weights)];
  if (op === 'Placeholder') {
    const dims = (n.attr.shape?.shape?.dim ?? []).map((d) => Number(d.size));
    if (n.attr.shape?.shape?.unknownRank || dims.length < 2) fail(n, 'the input needs a known rank, batch axis first');
    if (dims.slice(1).some((d) => !(d > 0))) fail(n, `the input's shape [${dims}] has an unknown size beyond the batch axis: give the model a fixed input shape`);
    const dtype = n.attr.dtype?.type;
    if (dtype !== undefined && dtype !== 'DT_FLOAT') fail(n, `an input of ${dtype} is not supported: float32 only`);
    const x = addLayer(out, n, 'InputLayer', { batch_input_shape: [null, ...dims.slice(1)], dtype: 'float32' }, [], dims.length);
    out.inputs.push({ node: n.name, layer: x.id });
    return [x];
  }
  if (op === 'Identity' || op === 'StopGradient' || op === 'Snapshot' || op === 'EnsureShape' || (op === 'IdentityN' && args.length === 1)) return [args[0]];
  if (op === 'Shape') {
    needArgs(n, args, 1);
    const v = args[0];
    const dims: Dim[] = v.kind === 'const' ? v.shape : ['B', ...Array<Dim>(v.rank - 1).fill('U')];
    return [{ kind: 'const', shape: [dims.length], data: new Float32Array(dims.length), dims }];
  }
  if (op === 'StridedSlice') return [stridedSlice(n, args)];
  if (op === 'Pack' && args.every((a) => a.kind === 'const' && a.shape.length === 0)) {
    if (intOf(n.attr.axis?.i) !== 0) fail(n, 'packs on an axis other than 0');
    const dims = args.map((a) => dimsOf(a as Extract<Val, { kind: 'const' }>)[0]);
    return [{ kind: 'const', shape: [dims.length], data: new Float32Array(dims.length), dims }];
  }
  if (op === 'Prod' && args[0]?.kind === 'const') {
    const dims = dimsOf(args[0]);
    const p = dims.reduce<Dim>((a, d) => (typeof a === 'number' && typeof d === 'number' ? a * d : 'U'), 1);
    return [{ kind: 'const', shape: [], data: new Float32Array(1), dims: [p] }];
  }
  if (op === 'Reshape') {
    needArgs(n, args, 2);
    return [reshapeLayer(n, layerArg(n, args[0]), dimsOf(constArg(n, args[1], 'its shape')), out)];
  }
  if (op === 'Squeeze') {
    const x = layerArg(n, args[0]);
    const axes = ints(n, 'squeeze_dims').length > 0 ? ints(n, 'squeeze_dims') : ints(n, 'axis');
    if (x.rank === 4 && x.entry.class_name === 'GlobalAveragePooling2D' && [...axes].map((a) => (a < 0 ? a + 4 : a)).sort().join() === '1,2' && x.entry.config.keepdims === true && out.consumers.get(x.node) === 1) {
      x.entry.config.keepdims = false;
      return [{ ...x, rank: 2 }];
    }
    return fail(n, 'a squeeze other than of a global average pool kept 4-D is not supported');
  }
  if (op === '_FusedConv2D') return [conv(n, args, out, false, true)];
  if (op === 'Conv2D') return [conv(n, args, out, false, false)];
  if (op === 'DepthwiseConv2dNative' || op === 'DepthwiseConv2d') return [conv(n, args, out, true, false)];
  if (op === 'FusedDepthwiseConv2dNative') return [conv(n, args, out, true, true)];
  if (op === '_FusedMatMul') return [matmul(n, args, out, true)];
  if (op === 'MatMul') return [matmul(n, args, out, false)];
  if (ACTIVATIONS[op]) {
    needArgs(n, args, 1);
    return [activation(out, n, op, layerArg(n, args[0]))];
  }
  if (op === 'Softmax') {
    needArgs(n, args, 1);
    const x = layerArg(n, args[0]);
    return [addLayer(out, n, 'Softmax', { axis: -1 }, [x], x.rank)];
  }
  if (op === 'MaxPool' || op === 'AvgPool') {
    needArgs(n, args, 1);
    channelsLast(n);
    const x = layerArg(n, args[0]);
    return [addLayer(out, n, op === 'MaxPool' ? 'MaxPooling2D' : 'AveragePooling2D', { pool_size: spatial(n, 'ksize'), strides: spatial(n, 'strides'), padding: paddingOf(n), data_format: 'channels_last' }, [x], 4)];
  }
  if (op === 'Mean') {
    needArgs(n, args, 2);
    const x = layerArg(n, args[0]);
    const axes = [...constArg(n, args[1], 'its axes').data].map((a) => (a < 0 ? a + x.rank : a)).sort();
    if (x.rank !== 4 || axes.join() !== '1,2') fail(n, `a mean over axes [${axes}] of a rank-${x.rank} value is not supported: over the two spatial axes of an image only (global average pooling)`);
    const keepdims = n.attr.keep_dims?.b === true;
    return [addLayer(out, n, 'GlobalAveragePooling2D', { data_format: 'channels_last', keepdims }, [x], keepdims ? 4 : 2)];
  }
  if (op === 'FusedBatchNorm' || op === 'FusedBatchNormV2' || op === 'FusedBatchNormV3') {
    channelsLast(n);
    if (n.attr.is_training?.b) fail(n, 'is_training is set: batch statistics are not supported, only the moving mean and variance');
    const x = layerArg(n, args[0]);
    const [gamma, beta, mean, variance] = [1, 2, 3, 4].map((i) => constArg(n, args[i], 'its scale, offset, mean and variance'));
    const c = gamma.data.length;
    return [addLayer(out, n, 'BatchNormalization', { axis: -1, epsilon: n.attr.epsilon?.f ?? 1e-3, center: true, scale: true }, [x], x.rank, [['gamma', gamma.data, [c]], ['beta', beta.data, [c]], ['moving_mean', mean.data, [c]], ['moving_variance', variance.data, [c]]])];
  }
  if (op === 'BiasAdd' || op === 'Add' || op === 'AddV2' || op === 'Sub' || op === 'Mul') {
    needArgs(n, args, 2);
    if (op === 'BiasAdd') channelsLast(n);
    const [a, b] = args;
    if (a.kind === 'layer' && b.kind === 'layer') return [addLayer(out, n, op === 'Sub' ? 'Subtract' : op === 'Mul' ? 'Multiply' : 'Add', {}, [a, b], Math.max(a.rank, b.rank))];
    const [x, c] = a.kind === 'layer' ? [a, b] : [b, a];
    if (x.kind !== 'layer') fail(n, 'both operands are constants');
    if (op === 'Sub' || op === 'Mul') fail(n, `${op === 'Sub' ? 'subtracts' : 'multiplies by'} a constant: not supported`);
    return [addBias(n, x, constArg(n, c, 'its operand'), out)];
  }
  if (op === 'ConcatV2') {
    const axis = constArg(n, args[args.length - 1], 'its axis').data[0];
    const parts = args.slice(0, -1);
    if (parts.every((p) => p.kind === 'const')) {
      const dims = parts.flatMap((p) => dimsOf(p as Extract<Val, { kind: 'const' }>));
      if (parts.some((p) => p.shape.length !== 1)) fail(n, 'concatenates constants of rank other than 1');
      return [{ kind: 'const', shape: [dims.length], data: new Float32Array(dims.length), dims }];
    }
    const xs = parts.map((p, i) => layerArg(n, p, `its input ${i}`));
    if (axis === 0 || axis === -xs[0].rank) fail(n, 'concatenates on the batch axis');
    return [addLayer(out, n, 'Concatenate', { axis }, xs, xs[0].rank)];
  }
  if (op === 'Pad') {
    needArgs(n, args, 2);
    const x = layerArg(n, args[0]);
    const p = constArg(n, args[1], 'its paddings').data;
    if (x.rank !== 4 || p.length !== 8 || p[0] || p[1] || p[6] || p[7]) fail(n, `pads [${[...p]}]: only the two spatial axes of an image, with zeros`);
    return [addLayer(out, n, 'ZeroPadding2D', { padding: [[p[2], p[3]], [p[4], p[5]]], data_format: 'channels_last' }, [x], 4)];
  }
  return fail(n, 'this op is not supported (supported: convolutions and depthwise ones, fused or not, MatMul, BiasAdd, Add, Sub, Mul of two values, the activations, Softmax, MaxPool, AvgPool, Mean over an image, FusedBatchNorm, ConcatV2, Pad, Reshape and the shape ops of a Flatten)');
}
