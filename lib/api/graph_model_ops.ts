// The layers a GraphModel's ops become (graph_model_nodes.ts dispatches each node): the value
// types, the attributes' readers, and the ops with weights (convolutions, matmuls, their fused
// bias and activation), each layer with its output shape. Refusals name the node and op: an op
// translated wrongly would answer wrongly, silently.

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

/** A size in a folded shape: known, the batch's ('B'), the batch's times a known k ('B*k': TensorFlow's tensordot merges axes into it), or another unknown ('U'). */
export type Dim = number | 'B' | 'U' | `B*${number}`;

export type Val =
  /** A constant: weights (data), or a small int vector that may hold symbolic sizes (dims). */
  | { kind: 'const'; shape: number[]; data: Float32Array; dims?: Dim[] }
  /**
   * A tensor a layer computes: its layer's name, its shape (the batch's size -1), the layer and the
   * node that made it. `merged`: TensorFlow sees it with every axis but the last merged into the
   * batch's (tensordot's [batch x ..., C]); the layers keep the axes, which ops over the last axis
   * alone (a product by a matrix, a bias, an activation) do not tell apart, until a reshape back.
   * `ids`: an int input's token ids, which only an embedding lookup may read (graph_model_ids.ts).
   * `output`: which of the layer's outputs (a recurrent layer's states after its output: 1, 2).
   */
  | { kind: 'layer'; id: string; shape: number[]; entry: LayerEntry; node: string; merged?: true; ids?: true; output?: number };

export type Layer = Extract<Val, { kind: 'layer' }>;

interface LayerEntry {
  class_name: string;
  name: string;
  config: Record<string, unknown>;
  inbound_nodes: unknown[];
}

export type Weights = Map<string, { data: Float32Array; shape: number[] }>;

/** What the walk builds: layers in order, their weights, the inputs, and each node's read count. */
export interface Translated {
  layers: LayerEntry[];
  weights: Weights;
  names: Set<string>;
  inputs: { node: string; layer: string }[];
  consumers: Map<string, number>;
}

const where = (n: GraphNode) => `GraphModel node '${n.name}' (${n.op})`;

export function fail(n: GraphNode, why: string): never {
  throw new Error(`${where(n)}: ${why}`);
}

export const intOf = (v: string | number | undefined, d = 0): number => (v === undefined ? d : Number(v));
export const ints = (n: GraphNode, k: string): number[] => (n.attr[k]?.list?.i ?? []).map((v) => Number(v));
export const str = (n: GraphNode, k: string): string | undefined => (n.attr[k]?.s === undefined ? undefined : Buffer.from(n.attr[k].s!, 'base64').toString('utf8'));
export const strs = (n: GraphNode, k: string): string[] => (n.attr[k]?.list?.s ?? []).map((s) => Buffer.from(s, 'base64').toString('utf8'));

export function needArgs(n: GraphNode, args: Val[], count: number): void {
  if (args.length !== count) fail(n, `takes ${count} input(s), the graph gives it ${args.length}`);
}

export function layerArg(n: GraphNode, v: Val, what = 'its input', mergedOk = false): Layer {
  if (v.kind !== 'layer') fail(n, `${what} is a constant: only ops on values computed from the model's input translate`);
  if (v.merged && !mergedOk) fail(n, `${what} has its axes merged into the batch's (TensorFlow's tensordot): only a product by a matrix, a bias or an activation may come before the reshape back`);
  return v;
}

/** y, marked merged as x is (see Val). */
export const mergedAs = <T extends Val>(x: Layer, y: T): T => (x.merged && y.kind === 'layer' ? { ...y, merged: true } : y);

export function constArg(n: GraphNode, v: Val, what: string): Extract<Val, { kind: 'const' }> {
  if (v.kind !== 'const') fail(n, `${what} is computed from the input, not a constant (weights computed at run time are not supported)`);
  return v;
}

/** A constant's values as sizes (symbolic ones kept). */
export function dimsOf(v: Extract<Val, { kind: 'const' }>): Dim[] {
  return v.dims ?? [...v.data];
}

/** Only NHWC: the layers are channels_last. */
export function channelsLast(n: GraphNode): void {
  const f = str(n, 'data_format');
  if (f !== undefined && f !== 'NHWC' && f !== 'NWC') fail(n, `data_format ${f} is not supported: only NHWC (channels last)`);
}

/** SAME or VALID (explicit paddings are a Pad before the op in Keras terms: refused). */
export function paddingOf(n: GraphNode): 'same' | 'valid' {
  const p = str(n, 'padding');
  if (p === 'SAME') return 'same';
  if (p === 'VALID') return 'valid';
  return fail(n, `padding ${String(p)} is not supported: SAME or VALID`);
}

/** [1, h, w, 1] -> [h, w], refusing a stride or window over the batch or channels. */
export function spatial(n: GraphNode, k: string, d = 1): [number, number] {
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
export function addLayer(out: Translated, n: GraphNode, class_name: string, config: Record<string, unknown>, inputs: Layer[], shape: number[], weights: [string, Float32Array, number[]][] = []): Layer {
  if (shape.slice(1).some((d) => !(d >= 1))) fail(n, `its output would have shape [${shape.slice(1)}] beyond the batch axis: a size below 1`);
  const name = keep(out, `${n.name}${class_name === 'InputLayer' ? '' : `_${class_name}`}`);
  const entry: LayerEntry = { class_name, name, config: { name, ...config }, inbound_nodes: inputs.length === 0 ? [] : [inputs.map((x) => [x.id, 0, x.output ?? 0, {}])] };
  out.layers.push(entry);
  for (const [w, data, shape] of weights) out.weights.set(`${name}/${w}`, { data, shape });
  return { kind: 'layer', id: name, shape, entry, node: n.name };
}

/** Writes a translated layer's call arguments (a padding mask's note, use_causal_mask), as Keras writes them with its first input. */
export function setCallArgs(layer: Layer, kwargs: Record<string, unknown>): void {
  (layer.entry.inbound_nodes as [string, number, number, Record<string, unknown>][][])[0][0][3] = kwargs;
}

export const ACTIVATIONS: Record<string, (n: GraphNode) => [string, Record<string, unknown>]> = {
  Relu: () => ['Activation', { activation: 'relu' }],
  Relu6: () => ['ReLU', { max_value: 6 }],
  Elu: () => ['Activation', { activation: 'elu' }],
  Selu: () => ['Activation', { activation: 'selu' }],
  Sigmoid: () => ['Activation', { activation: 'sigmoid' }],
  Tanh: () => ['Activation', { activation: 'tanh' }],
  Softplus: () => ['Activation', { activation: 'softplus' }],
  Softsign: () => ['Activation', { activation: 'softsign' }],
  // On the output only: the client applies them to the logits (final_activation.ts).
  Exp: () => ['Activation', { activation: 'exponential' }],
  LogSoftmax: () => ['Activation', { activation: 'log_softmax' }],
  // A fused op names its slope leakyrelu_alpha; TensorFlow's default is 0.2.
  LeakyRelu: (n) => ['LeakyReLU', { alpha: n.attr.alpha?.f ?? n.attr.leakyrelu_alpha?.f ?? 0.2 }],
};

/** A fused op's ['BiasAdd', activation?]: the activation's layer after the op, if any. */
function fused(n: GraphNode, args: Val[], out: Translated): { bias?: Float32Array; then: (v: Layer) => Val } {
  const ops = strs(n, 'fused_ops');
  if (ops[0] !== 'BiasAdd' || ops.length > 2) fail(n, `fused ops [${ops.join(', ')}] are not supported: BiasAdd, then at most one activation`);
  if (intOf(n.attr.num_args?.i, 1) !== 1 || args.length !== 3) fail(n, `takes its bias as one argument (num_args 1), got ${args.length - 2}`);
  const bias = constArg(n, args[2], 'its bias').data;
  const act = ops[1];
  if (act !== undefined && !ACTIVATIONS[act]) fail(n, `fused activation ${act} is not supported (${Object.keys(ACTIVATIONS).join(', ')})`);
  return { bias, then: (v) => (act === undefined ? v : activation(out, n, act, v)) };
}

export function activation(out: Translated, n: GraphNode, op: string, x: Layer): Val {
  const [cls, config] = ACTIVATIONS[op](n);
  return mergedAs(x, addLayer(out, n, cls, config, [x], x.shape));
}

/** A window of k (dilation d) at stride s over n values: the outputs, as TensorFlow pads. */
const windowOut = (size: number, k: number, s: number, d: number, padding: 'same' | 'valid') => (padding === 'same' ? Math.ceil(size / s) : Math.floor((size - ((k - 1) * d + 1)) / s) + 1);

/** An image op's output shape: [batch, h', w', channels]. */
export function imageOut(n: GraphNode, x: Layer, k: [number, number], strides: [number, number], dil: [number, number], padding: 'same' | 'valid', channels: number): number[] {
  if (x.shape.length !== 4) fail(n, `its input has rank ${x.shape.length}, not an image's 4`);
  return [-1, windowOut(x.shape[1], k[0], strides[0], dil[0], padding), windowOut(x.shape[2], k[1], strides[1], dil[1], padding), channels];
}

/** Conv2D / DepthwiseConv2D (fused or not): the filter a constant, NHWC. */
export function conv(n: GraphNode, args: Val[], out: Translated, depthwise: boolean, fusedOps: boolean): Val {
  if (!fusedOps) needArgs(n, args, 2);
  channelsLast(n);
  const x = layerArg(n, args[0]);
  const f = constArg(n, args[1], 'its filter');
  if (f.shape.length !== 4) fail(n, `its filter has shape [${f.shape}], not [kh, kw, in, out]`);
  const [kh, kw, , o] = f.shape;
  const dil = spatial(n, 'dilations'), strides = spatial(n, 'strides');
  const { bias, then } = fusedOps ? fused(n, args, out) : { bias: undefined, then: (v: Layer) => v as Val };
  const padding = paddingOf(n);
  const common = { kernel_size: [kh, kw], strides, padding, data_format: 'channels_last', dilation_rate: dil, activation: 'linear', use_bias: bias !== undefined };
  const weights: [string, Float32Array, number[]][] = [[depthwise ? 'depthwise_kernel' : 'kernel', f.data, f.shape]];
  const outChannels = depthwise ? f.shape[2] * o : o;
  if (bias) {
    if (bias.length !== outChannels) fail(n, `its bias has ${bias.length} values for ${outChannels} output channels`);
    weights.push(['bias', bias, [outChannels]]);
  }
  if (x.shape[3] !== f.shape[2]) fail(n, `its filter takes ${f.shape[2]} input channels, its input has ${x.shape[3]}`);
  const shape = imageOut(n, x, [kh, kw], strides, dil, padding, outChannels);
  const y = depthwise ? addLayer(out, n, 'DepthwiseConv2D', { ...common, depth_multiplier: o }, [x], shape, weights) : addLayer(out, n, 'Conv2D', { ...common, filters: o }, [x], shape, weights);
  return then(y);
}

/** MatMul / _FusedMatMul: x [batch, in] times a constant [in, out] (transpose_b: [out, in]). */
export function matmul(n: GraphNode, args: Val[], out: Translated, fusedOps: boolean): Val {
  if (!fusedOps) needArgs(n, args, 2);
  if (n.attr.transpose_a?.b) fail(n, 'transpose_a is not supported');
  const x = layerArg(n, args[0], 'its input', true);
  const k = constArg(n, args[1], 'its right operand');
  if (k.shape.length !== 2) fail(n, `its right operand has shape [${k.shape}], not a matrix`);
  let [rows, cols] = k.shape, data = k.data;
  if (n.attr.transpose_b?.b) {
    data = new Float32Array(rows * cols);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) data[j * rows + i] = k.data[i * cols + j];
    [rows, cols] = [cols, rows];
  }
  const { bias, then } = fusedOps ? fused(n, args, out) : { bias: undefined, then: (v: Layer) => v as Val };
  const weights: [string, Float32Array, number[]][] = [['kernel', data, [rows, cols]]];
  if (bias) {
    if (bias.length !== cols) fail(n, `its bias has ${bias.length} values for ${cols} outputs`);
    weights.push(['bias', bias, [cols]]);
  }
  if (x.shape[x.shape.length - 1] !== rows) fail(n, `multiplies a last axis of ${x.shape[x.shape.length - 1]} by a [${rows}, ${cols}] matrix`);
  return then(mergedAs(x, addLayer(out, n, 'Dense', { units: cols, activation: 'linear', use_bias: bias !== undefined }, [x], [...x.shape.slice(0, -1), cols], weights)));
}

/**
 * Conv2DBackpropInput (a transposed convolution): Keras's Conv2DTranspose, whose kernel is laid out
 * as TensorFlow's filter [kh, kw, out, in]; the output size the graph names gives output_padding
 * where Keras's default length is not it (conv_kernels.ts transposeAxis checks either).
 */
export function transposedConv(n: GraphNode, args: Val[], out: Translated): Val {
  needArgs(n, args, 3);
  channelsLast(n);
  const size = dimsOf(constArg(n, args[0], 'its output size'));
  const f = constArg(n, args[1], 'its filter');
  const x = layerArg(n, args[2]);
  if (f.shape.length !== 4 || x.shape.length !== 4 || x.shape[3] !== f.shape[3]) fail(n, `its filter [${f.shape}] does not take its input [${x.shape.slice(1)}]`);
  if (spatial(n, 'dilations').some((d) => d !== 1)) fail(n, 'dilations are not supported in a transposed convolution');
  const [kh, kw, o] = f.shape, strides = spatial(n, 'strides'), padding = paddingOf(n);
  if (size.length !== 4 || size.slice(1).some((d) => typeof d !== 'number') || size[3] !== o) fail(n, `its output size [${size}] is not [batch, h, w, ${o}] with h and w known here`);
  // Keras's default length on both axes: no output_padding; else the padding each axis needs.
  const axes = [0, 1].map((a) => {
    const [len, k, st, want] = [x.shape[a + 1], [kh, kw][a], strides[a], size[a + 1] as number];
    const keras = padding === 'same' ? len * st : len * st + Math.max(k - st, 0);
    return { want, keras, st, k, len, pad: want - ((len - 1) * st + k - 2 * (padding === 'same' ? Math.floor(k / 2) : 0)) };
  });
  const defaults = axes.every((e) => e.want === e.keras);
  for (const [a, e] of axes.entries())
    if (!defaults && (e.pad < 0 || e.pad >= e.st)) fail(n, `its output size ${e.want} on axis ${a + 1} is not one a transposed convolution of kernel ${e.k}, stride ${e.st} makes from ${e.len}`);
  const op = defaults ? null : axes.map((e) => e.pad);
  return addLayer(out, n, 'Conv2DTranspose', { filters: o, kernel_size: [kh, kw], strides, padding, output_padding: op, data_format: 'channels_last', dilation_rate: [1, 1], activation: 'linear', use_bias: false }, [x], [-1, size[1] as number, size[2] as number, o], [['kernel', f.data, f.shape]]);
}

