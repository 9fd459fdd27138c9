// GraphModels as tensorflowjs_converter writes them (format 'graph-model': a GraphDef's op nodes,
// attributes in TensorFlow's JSON, every constant a manifest weight, int32 ones included), built
// here node by node for the tests: no Python converter is installable here. TensorFlow.js's own
// GraphModel executor runs the same files as the reference.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { createRequire } from 'node:module';
import * as path from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tf: any = createRequire(__filename)('@tensorflow/tfjs');

export interface GNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, unknown>;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
export const s = (v: string) => ({ s: b64(v) });
export const ilist = (v: number[]) => ({ list: { i: v.map(String) } });
export const slist = (v: string[]) => ({ list: { s: v.map(b64) } });
export const f = (v: number) => ({ f: v });
export const b = (v: boolean) => ({ b: v });
export const i = (v: number) => ({ i: String(v) });
export const T = { T: { type: 'DT_FLOAT' } };

/** A graph under construction: nodes, and the constants that become its weights. */
export class GraphBuilder {
  nodes: GNode[] = [];
  consts: { name: string; shape: number[]; dtype: 'float32' | 'int32' | 'bool'; data: number[] }[] = [];

  node(name: string, op: string, input: string[] = [], attr: Record<string, unknown> = {}): string {
    this.nodes.push({ name, op, input, attr });
    return name;
  }

  /** A constant as the converter stores it: a Const node whose value is a manifest weight. */
  constant(name: string, shape: number[], data: number[], dtype: 'float32' | 'int32' | 'bool' = 'float32'): string {
    this.consts.push({ name, shape, dtype, data });
    const tf = { float32: 'DT_FLOAT', int32: 'DT_INT32', bool: 'DT_BOOL' }[dtype];
    return this.node(name, 'Const', [], { value: { tensor: { dtype: tf, tensorShape: { dim: shape.map((d) => ({ size: String(d) })) } } }, dtype: { type: tf } });
  }

  /** Uniform weights in [-scale, scale). */
  random(name: string, shape: number[], scale: number): string {
    const n = shape.reduce((a, d) => a * d, 1);
    return this.constant(name, shape, Array.from({ length: n }, () => Math.fround((Math.random() * 2 - 1) * scale)));
  }

  input(name: string, shape: number[], dtype: 'DT_FLOAT' | 'DT_INT32' = 'DT_FLOAT'): string {
    return this.node(name, 'Placeholder', [], { dtype: { type: dtype }, shape: { shape: { dim: shape.map((d) => ({ size: String(d) })) } } });
  }

  /** Keras's Flatten as TensorFlow traces it: reshape to [shape(x)[0], -1]. */
  flatten(name: string, x: string): string {
    const shape = this.node(`${name}/Shape`, 'Shape', [x], { T: { type: 'DT_FLOAT' } });
    const [b0, e0, s0] = [[0], [1], [1]].map((v, k) => this.constant(`${name}/strided_slice/stack${k ? `_${k}` : ''}`, [1], v, 'int32'));
    const batch = this.node(`${name}/strided_slice`, 'StridedSlice', [shape, b0, e0, s0], { Index: { type: 'DT_INT32' }, T: { type: 'DT_INT32' }, shrink_axis_mask: i(1), begin_mask: i(0), end_mask: i(0), ellipsis_mask: i(0), new_axis_mask: i(0) });
    const minus1 = this.constant(`${name}/Reshape/shape/1`, [], [-1], 'int32');
    const target = this.node(`${name}/Reshape/shape`, 'Pack', [batch, minus1], { N: i(2), T: { type: 'DT_INT32' }, axis: i(0) });
    return this.node(`${name}/Reshape`, 'Reshape', [x, target], { T: { type: 'DT_FLOAT' }, Tshape: { type: 'DT_INT32' } });
  }

  /** The model's files: model.json and one weight file; `outputs` named as a signature. */
  save(outputs: Record<string, string>, inputs: Record<string, string>): { file: string; artifacts: { modelTopology: unknown; weightSpecs: unknown[]; weightData: ArrayBuffer; format: string; signature: unknown } } {
    const buf = Buffer.alloc(this.consts.reduce((a, c) => a + (c.dtype === 'bool' ? 1 : 4) * c.data.length, 0));
    let at = 0;
    for (const c of this.consts) for (const v of c.data) at = c.dtype === 'bool' ? buf.writeUInt8(v ? 1 : 0, at) : c.dtype === 'int32' ? buf.writeInt32LE(v, at) : buf.writeFloatLE(v, at);
    const weightSpecs = this.consts.map((c) => ({ name: c.name, shape: c.shape, dtype: c.dtype }));
    const sig = (m: Record<string, string>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, { name: `${v}:0`, dtype: 'DT_FLOAT' }]));
    const signature = { inputs: sig(inputs), outputs: sig(outputs) };
    const modelTopology = { node: this.nodes, library: {}, versions: { producer: 1395 } };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-graph-model-'));
    fs.writeFileSync(path.join(dir, 'group1-shard1of1.bin'), buf);
    const file = path.join(dir, 'model.json');
    fs.writeFileSync(file, JSON.stringify({ format: 'graph-model', generatedBy: '2.15.0', convertedBy: 'TensorFlow.js Converter v4.17.0', signature, modelTopology, weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: weightSpecs }] }));
    const weightData = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
    return { file, artifacts: { modelTopology, weightSpecs, weightData, format: 'graph-model', signature } };
  }
}

export const conv = (strides = [1, 1, 1, 1], padding = 'SAME') => ({ ...T, strides: ilist(strides), padding: s(padding), data_format: s('NHWC'), dilations: ilist([1, 1, 1, 1]), explicit_paddings: { list: {} } });
export const fusedConv = (ops: string[], padding = 'SAME') => ({ ...conv([1, 1, 1, 1], padding), fused_ops: slist(ops), num_args: i(1), epsilon: f(0), use_cudnn_on_gpu: b(true) });

/** A CNN as the converter writes a Keras Sequential's SavedModel: fused ops, an unfused bias, a batch norm, a residual sum, Flatten's shape ops. */
export function cnn(): { g: GraphBuilder; out: string } {
  const g = new GraphBuilder();
  const x = g.input('input_1', [-1, 8, 8, 3]);
  const c1 = g.node('StatefulPartitionedCall/sequential/conv2d/Relu', '_FusedConv2D', [x, g.random('unknown', [3, 3, 3, 8], 0.4), g.random('unknown_0', [8], 0.1)], fusedConv(['BiasAdd', 'Relu']));
  const p = g.node('StatefulPartitionedCall/sequential/max_pooling2d/MaxPool', 'MaxPool', [c1], { ...T, ksize: ilist([1, 2, 2, 1]), strides: ilist([1, 2, 2, 1]), padding: s('VALID'), data_format: s('NHWC') });
  const dw = g.node('StatefulPartitionedCall/sequential/depthwise/Relu6', 'FusedDepthwiseConv2dNative', [p, g.random('unknown_1', [3, 3, 8, 1], 0.4), g.random('unknown_2', [8], 0.1)], { ...conv(), fused_ops: slist(['BiasAdd', 'Relu6']), num_args: i(1) });
  const c2 = g.node('StatefulPartitionedCall/sequential/conv2d_1/Conv2D', 'Conv2D', [dw, g.random('unknown_3', [3, 3, 8, 6], 0.3)], conv([1, 1, 1, 1], 'VALID'));
  const c2b = g.node('StatefulPartitionedCall/sequential/conv2d_1/BiasAdd', 'BiasAdd', [c2, g.random('unknown_4', [6], 0.1)], { ...T, data_format: s('NHWC') });
  const bn = g.node('StatefulPartitionedCall/sequential/batch_normalization/FusedBatchNormV3', 'FusedBatchNormV3', [c2b, g.random('unknown_5', [6], 1), g.random('unknown_6', [6], 0.2), g.random('unknown_7', [6], 0.2), g.constant('unknown_8', [6], [0.5, 0.8, 1.1, 1.4, 0.9, 0.6])], { ...T, epsilon: f(0.001), data_format: s('NHWC'), is_training: b(false) });
  const r = g.node('StatefulPartitionedCall/sequential/re_lu/Relu', 'Relu', [bn], T);
  const sum = g.node('StatefulPartitionedCall/sequential/add/add', 'AddV2', [r, bn], T);
  const flat = g.flatten('StatefulPartitionedCall/sequential/flatten', sum);
  const d = g.node('StatefulPartitionedCall/sequential/dense/BiasAdd', '_FusedMatMul', [flat, g.random('unknown_9', [24, 5], 0.3), g.random('unknown_10', [5], 0.1)], { ...T, fused_ops: slist(['BiasAdd']), num_args: i(1), transpose_a: b(false), transpose_b: b(false), epsilon: f(0) });
  const sm = g.node('StatefulPartitionedCall/sequential/dense/Softmax', 'Softmax', [d], T);
  return { g, out: g.node('Identity', 'Identity', [sm], T) };
}

/** Global average pooling, zero padding, a concatenation, an average pool, leaky relu and sigmoid, and a MatMul whose weights are stored transposed. */
export function pooled(): { g: GraphBuilder; out: string } {
  const g = new GraphBuilder();
  const x = g.input('image', [-1, 6, 6, 2]);
  const pad = g.node('model/zero_padding2d/Pad', 'Pad', [x, g.constant('model/zero_padding2d/Pad/paddings', [4, 2], [0, 0, 1, 1, 1, 1, 0, 0], 'int32')], T);
  const c = g.node('model/conv/LeakyRelu', '_FusedConv2D', [pad, g.random('k', [3, 3, 2, 4], 0.4), g.random('kb', [4], 0.1)], { ...fusedConv(['BiasAdd', 'LeakyRelu'], 'VALID'), leakyrelu_alpha: f(0.1) });
  const a = g.node('model/avg/AvgPool', 'AvgPool', [c], { ...T, ksize: ilist([1, 2, 2, 1]), strides: ilist([1, 2, 2, 1]), padding: s('VALID'), data_format: s('NHWC') });
  const sg = g.node('model/sig/Sigmoid', 'Sigmoid', [a], T);
  const cat = g.node('model/concat/concat', 'ConcatV2', [a, sg, g.constant('model/concat/concat/axis', [], [-1], 'int32')], { ...T, N: i(2), Tidx: { type: 'DT_INT32' } });
  const gap = g.node('model/gap/Mean', 'Mean', [cat, g.constant('model/gap/Mean/reduction_indices', [2], [1, 2], 'int32')], { ...T, keep_dims: b(false), Tidx: { type: 'DT_INT32' } });
  const m = g.node('model/dense/MatMul', 'MatMul', [gap, g.random('w', [3, 8], 0.5)], { ...T, transpose_a: b(false), transpose_b: b(true) });
  return { g, out: g.node('Identity', 'Identity', [m], T) };
}

/** TensorFlow.js's GraphModel executor on `x` (as int32 for token ids): the reference. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function reference(artifacts: any, x: Float64Array, shape: number[], dtype: 'float32' | 'int32' = 'float32'): Promise<Float64Array> {
  const model = await tf.loadGraphModel(tf.io.fromMemory(artifacts));
  const y = model.execute(dtype === 'int32' ? tf.tensor(Int32Array.from(x), shape, 'int32') : tf.tensor(Float32Array.from(x), shape));
  return Float64Array.from(await y.data());
}

/** A Keras 3 Sequential MLP as converter 4.22 writes its SavedModel: matmuls fused with bias and relu, a sigmoid output. */
export function mlp(): { g: GraphBuilder; out: string } {
  const g = new GraphBuilder();
  const fusedMatMul = (ops: string[]) => ({ ...T, transpose_a: b(false), transpose_b: b(false), fused_ops: slist(ops), num_args: i(1), leakyrelu_alpha: f(0.2), epsilon: f(0) });
  let h = g.input('dense_input', [-1, 16]);
  for (const [k, [m, n]] of [[16, 12], [12, 8]].entries())
    h = g.node(`StatefulPartitionedCall/sequential_1/dense_${k}_1/Relu`, '_FusedMatMul', [h, g.random(`StatefulPartitionedCall/sequential_1/dense_${k}_1/Cast/ReadVariableOp`, [m, n], 0.5), g.random(`StatefulPartitionedCall/sequential_1/dense_${k}_1/BiasAdd/ReadVariableOp`, [n], 0.1)], fusedMatMul(['BiasAdd', 'Relu']));
  const z = g.node('StatefulPartitionedCall/sequential_1/dense_2_1/Add', '_FusedMatMul', [h, g.random('StatefulPartitionedCall/sequential_1/dense_2_1/Cast/ReadVariableOp', [8, 1], 0.5), g.random('StatefulPartitionedCall/sequential_1/dense_2_1/Add/ReadVariableOp', [1], 0.1)], fusedMatMul(['BiasAdd']));
  const sg = g.node('StatefulPartitionedCall/sequential_1/dense_2_1/Sigmoid', 'Sigmoid', [z], T);
  return { g, out: g.node('Identity', 'Identity', [sg], T) };
}

/** Preprocessing and constants between layers: a scale, a per-channel mean and deviation, a mean kept 4-D and squeezed, constants added and subtracted from. */
export function preprocessed(): { g: GraphBuilder; out: string } {
  const g = new GraphBuilder();
  const x = g.input('pixels', [-1, 4, 4, 2]);
  const scaled = g.node('model/rescaling/mul', 'Mul', [x, g.constant('model/rescaling/Cast', [], [0.7])], T);
  const centred = g.node('model/normalization/sub', 'Sub', [scaled, g.constant('model/normalization/mean', [1, 1, 1, 2], [0.1, -0.2])], T);
  const normed = g.node('model/normalization/truediv', 'RealDiv', [centred, g.constant('model/normalization/std', [2], [0.5, 2])], T);
  const c = g.node('model/conv/Relu', '_FusedConv2D', [normed, g.random('k', [3, 3, 2, 3], 0.4), g.random('kb', [3], 0.1)], fusedConv(['BiasAdd', 'Relu'], 'VALID'));
  const m = g.node('model/gap/Mean', 'Mean', [c, g.constant('model/gap/Mean/reduction_indices', [2], [1, 2], 'int32')], { ...T, keep_dims: b(true) });
  const sq = g.node('model/gap/Squeeze', 'Squeeze', [m], { ...T, squeeze_dims: ilist([1, 2]) });
  const shifted = g.node('model/shift/add', 'AddV2', [sq, g.random('shift', [3], 0.5)], T);
  const flipped = g.node('model/flip/sub', 'Sub', [g.random('offset', [3], 0.5), shifted], T);
  return { g, out: g.node('Identity', 'Identity', [flipped], T) };
}

/** A squeeze-and-excitation gate (a broadcast product), ExpandDims, Maximum, AddN, Transpose, and Keras 3's Dense on a sequence (BatchMatMulV2). */
export function gated(): { g: GraphBuilder; out: string } {
  const g = new GraphBuilder();
  const x = g.input('x', [-1, 4, 4, 3]);
  const c = g.node('m/conv/Relu', '_FusedConv2D', [x, g.random('k', [1, 1, 3, 3], 0.6), g.random('kb', [3], 0.1)], fusedConv(['BiasAdd', 'Relu']));
  const pooled = g.node('m/se/Mean', 'Mean', [c, g.constant('m/se/axes', [2], [1, 2], 'int32')], { ...T, keep_dims: b(false) });
  let e = pooled;
  for (const k of [0, 1]) e = g.node(`m/se/ExpandDims_${k}`, 'ExpandDims', [e, g.constant(`m/se/ExpandDims_${k}/dim`, [], [1], 'int32')], { ...T, Tdim: { type: 'DT_INT32' } });
  const z = g.node('m/se/conv/BiasAdd', '_FusedConv2D', [e, g.random('sk', [1, 1, 3, 3], 0.6), g.random('sb', [3], 0.1)], fusedConv(['BiasAdd']));
  const gate = g.node('m/se/Sigmoid', 'Sigmoid', [z], T);
  const gatedOut = g.node('m/se/mul', 'Mul', [c, gate], T);
  const most = g.node('m/max', 'Maximum', [gatedOut, g.node('m/neg/mul', 'Mul', [c, g.constant('m/neg/c', [], [-0.5])], T)], T);
  const summed = g.node('m/addn', 'AddN', [most, c, gatedOut], { ...T, N: i(3) });
  const chw = g.node('m/transpose', 'Transpose', [summed, g.constant('m/transpose/perm', [4], [0, 3, 1, 2], 'int32')], { ...T, Tperm: { type: 'DT_INT32' } });
  const rows = g.node('m/rows', 'Reshape', [chw, g.constant('m/rows/shape', [3], [-1, 3, 16], 'int32')], { ...T, Tshape: { type: 'DT_INT32' } });
  const d = g.node('m/dense/MatMul', 'BatchMatMulV2', [rows, g.random('m/dense/kernel', [16, 5], 0.3)], { ...T, adj_x: b(false), adj_y: b(false) });
  return { g, out: g.node('Identity', 'Identity', [d], T) };
}

/** Resizes as tf.image.resize writes them (half-pixel centers): bilinear to a constant size, nearest to a size computed from the input's. */
export function resized(): { g: GraphBuilder; out: string } {
  const g = new GraphBuilder();
  const x = g.input('img', [-1, 4, 4, 2]);
  const up = g.node('m/bilinear', 'ResizeBilinear', [x, g.constant('m/bilinear/size', [2], [6, 6], 'int32')], { ...T, align_corners: b(false), half_pixel_centers: b(true) });
  const shape = g.node('m/near/Shape', 'Shape', [up], T);
  const hw = g.node('m/near/strided_slice', 'StridedSlice', [shape, ...[[1], [3], [1]].map((v, k) => g.constant(`m/near/ss${k}`, [1], v, 'int32'))], { Index: { type: 'DT_INT32' }, T: { type: 'DT_INT32' }, shrink_axis_mask: i(0), begin_mask: i(0), end_mask: i(0), ellipsis_mask: i(0), new_axis_mask: i(0) });
  const size = g.node('m/near/mul', 'Mul', [hw, g.constant('m/near/factors', [2], [2, 2], 'int32')], { T: { type: 'DT_INT32' } });
  const near = g.node('m/nearest', 'ResizeNearestNeighbor', [up, size], { ...T, align_corners: b(false), half_pixel_centers: b(true) });
  const c = g.node('m/conv/BiasAdd', '_FusedConv2D', [near, g.random('k', [3, 3, 2, 2], 0.4), g.random('kb', [2], 0.1)], { ...fusedConv(['BiasAdd'], 'VALID'), strides: ilist([1, 2, 2, 1]) });
  return { g, out: g.node('Identity', 'Identity', [c], T) };
}

/** Transposed convolutions as Keras's Conv2DTranspose traces them: the output size packed from the batch's, a bias after. */
export function transposed(): { g: GraphBuilder; out: string } {
  const g = new GraphBuilder();
  const x = g.input('z', [-1, 3, 3, 4]);
  const up = (name: string, input: string, filter: number[], size: number[], padding: string, strides: number[]) => {
    const shape = g.node(`${name}/Shape`, 'Shape', [input], T);
    const batch = g.node(`${name}/strided_slice`, 'StridedSlice', [shape, ...[[0], [1], [1]].map((v, k) => g.constant(`${name}/ss${k}`, [1], v, 'int32'))], { Index: { type: 'DT_INT32' }, T: { type: 'DT_INT32' }, shrink_axis_mask: i(1), begin_mask: i(0), end_mask: i(0), ellipsis_mask: i(0), new_axis_mask: i(0) });
    const sizes = size.map((d, k) => g.constant(`${name}/stack/${k}`, [], [d], 'int32'));
    const outSize = g.node(`${name}/stack`, 'Pack', [batch, ...sizes], { N: i(4), T: { type: 'DT_INT32' }, axis: i(0) });
    const y = g.node(`${name}/conv2d_transpose`, 'Conv2DBackpropInput', [outSize, g.random(`${name}/kernel`, filter, 0.4), input], { ...T, strides: ilist(strides), padding: s(padding), data_format: s('NHWC'), dilations: ilist([1, 1, 1, 1]), explicit_paddings: { list: {} }, use_cudnn_on_gpu: b(true) });
    return g.node(`${name}/BiasAdd`, 'BiasAdd', [y, g.random(`${name}/bias`, [filter[2]], 0.1)], { ...T, data_format: s('NHWC') });
  };
  const a = up('m/up1', x, [3, 3, 5, 4], [6, 6, 5], 'SAME', [1, 2, 2, 1]);
  // VALID, kernel 3, stride 2, from 6: Keras's default is 13; 14 needs an output_padding of 1.
  const bb = up('m/up2', g.node('m/relu', 'Relu', [a], T), [3, 3, 2, 5], [14, 13, 2], 'VALID', [1, 2, 2, 1]);
  return { g, out: g.node('Identity', 'Identity', [bb], T) };
}

export const VOCAB = 12;

/** ids [-1, 5] -> Keras 3's wrap -> a lookup in a [VOCAB, 4] table -> `pool` over the steps -> a product; `wrapAt`: the wrap's compared constant (0 as Keras writes it). */
export function textModel(pool: 'Mean' | 'Max', wrapAt = 0) {
  const g = new GraphBuilder();
  const ids = g.input('ids', [-1, 5], 'DT_INT32');
  const INT = { T: { type: 'DT_INT32' } };
  const less = g.node('emb/Less', 'Less', [ids, g.constant('emb/Less/y', [], [wrapAt], 'int32')], INT);
  const add = g.node('emb/add', 'AddV2', [ids, g.constant('emb/strided_slice', [], [VOCAB], 'int32')], INT);
  const wrapped = g.node('emb/SelectV2', 'SelectV2', [less, add, ids], INT);
  const rows = g.node('emb/GatherV2', 'GatherV2', [g.random('emb/table', [VOCAB, 4], 1), wrapped, g.constant('emb/GatherV2/axis', [], [0], 'int32')], { Tparams: { type: 'DT_FLOAT' }, Tindices: { type: 'DT_INT32' }, Taxis: { type: 'DT_INT32' }, batch_dims: i(0) });
  const pooled = g.node(`pool/${pool}`, pool, [rows, g.constant('pool/axis', [1], [1], 'int32')], { ...T, keep_dims: b(false), Tidx: { type: 'DT_INT32' } });
  const y = g.node('dense/MatMul', 'MatMul', [pooled, g.random('dense/w', [4, 3], 0.8)], { ...T, transpose_a: b(false), transpose_b: b(false) });
  return g.save({ y: g.node('Identity', 'Identity', [y], T) }, { ids: 'ids' });
}
