// TensorFlow.js GraphModels (tensorflowjs_converter's output for a SavedModel or TF Hub model) load:
// translated into the layers they compute (lib/api/graph_model.ts). Each graph here is run by
// TensorFlow.js's own GraphModel executor as the reference, on fresh random inputs and weights;
// the plaintext model must match it to float32 rounding, the private one to fixed point's.
import * as fs from 'node:fs';

import test from 'ava';

import * as tfe from '../lib';
import { readLayersModel } from '../lib/api/model';
import { b, cnn, conv, fusedConv, gated, GraphBuilder, mlp, pooled, preprocessed, reference, resized, s, T, transposed } from './helpers/graph_models';

function softmaxRows(x: Float64Array, n: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length; r += n) {
    const row = x.subarray(r, r + n), top = Math.max(...row);
    const e = row.map((v) => Math.exp(v - top)), sum = e.reduce((a, v) => a + v, 0);
    e.forEach((v, k) => (y[r + k] = v / sum));
  }
  return y;
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, k) => Math.max(m, Math.abs(v - b[k])), 0);

for (const [name, make, shape] of [['a converted CNN', cnn, [2, 8, 8, 3]], ['pools, padding and a concatenation', pooled, [2, 6, 6, 2]], ['a Keras 3 MLP with a sigmoid output', mlp, [3, 16]], ['preprocessing and constants between layers', preprocessed, [2, 4, 4, 2]], ['a gate, a permutation and a Dense over a sequence', gated, [2, 4, 4, 3]], ['bilinear and nearest resizes', resized, [2, 4, 4, 2]], ['transposed convolutions, one with an output padding', transposed, [2, 3, 3, 4]]] as const) {
  test(`GraphModel, ${name}: plaintext equals TensorFlow.js's GraphModel, privately within fixed point's error`, async (t) => {
    const { g, out } = make();
    const { file, artifacts } = g.save({ output_0: out }, { [g.nodes.find((n) => n.op === 'Placeholder')!.name]: g.nodes.find((n) => n.op === 'Placeholder')!.name });
    const x = Float64Array.from({ length: shape.reduce((a, d) => a * d, 1) }, () => Math.random() * 2 - 1);
    const want = await reference(artifacts, x, [...shape]);
    const plain = tfe.loadPlainModel(file).predict({ data: x, shape: [...shape] });
    const got = 'data' in plain ? plain.data : (plain as { data: Float64Array }[])[0].data;
    t.true(maxDiff(got, want) < 1e-5, `plaintext ${[...got].slice(0, 6)} vs tfjs ${[...want].slice(0, 6)}`);
    for (const protocol of ['securenn', 'fss'] as const) {
      const c = new tfe.Cluster({ protocol });
      try {
        const m = tfe.loadLayersModel(file, { cluster: c });
        const y = await tfe.defineOutput('prediction-client', m.predict(tfe.definePrivateInput('prediction-client', () => ({ data: x, shape: [...shape] }), c)));
        t.is(y.data.length, want.length);
        // predict leaves a final softmax to the caller (it returns logits): applied here.
        t.is(m.finalActivation, make === cnn ? 'softmax' : make === mlp ? 'sigmoid' : undefined);
        const probs = m.finalActivation === 'softmax' ? softmaxRows(y.data, want.length / shape[0]) : m.finalActivation === 'sigmoid' ? y.data.map((v) => 1 / (1 + Math.exp(-v))) : y.data;
        t.true(maxDiff(probs, want) < 5e-3, `${protocol}: ${[...probs].slice(0, 6)} vs tfjs ${[...want].slice(0, 6)}`);
      } finally {
        await c.close();
      }
    }
  });
}

test('GraphModel artifacts in memory load as its files do', async (t) => {
  const { g, out } = pooled();
  const { artifacts } = g.save({ y: out }, { image: 'image' });
  const x = Float64Array.from({ length: 72 }, () => Math.random() * 2 - 1);
  const want = await reference(artifacts, x, [1, 6, 6, 2]);
  const got = tfe.loadPlainModel(artifacts as unknown as tfe.ModelArtifacts).predict({ data: x, shape: [1, 6, 6, 2] }) as { data: Float64Array };
  t.true(maxDiff(got.data, want) < 1e-5);
});

/** A small graph with one node replaced by `bad`, for the refusals. */
function withNode(bad: (g: GraphBuilder, x: string) => string): string {
  const g = new GraphBuilder();
  const x = g.input('x', [-1, 4, 4, 2]);
  const y = bad(g, x);
  return g.save({ y: g.node('Identity', 'Identity', [y], T) }, { x: 'x' }).file;
}

test('GraphModel ops that do not translate are refused, naming the node and op', (t) => {
  const cases: [string, (g: GraphBuilder, x: string) => string, RegExp][] = [
    ['an unknown op', (g, x) => g.node('m/sin', 'Sin', [x], T), /GraphModel node 'm\/sin' \(Sin\): this op is not supported/],
    ['channels first', (g, x) => g.node('m/c', 'Conv2D', [x, g.random('k', [1, 1, 2, 2], 1)], { ...conv(), data_format: s('NCHW') }), /node 'm\/c' \(Conv2D\): data_format NCHW is not supported/],
    ['a constant over some of the last axes', (g, x) => g.node('m/mul', 'Mul', [x, g.random('c', [4, 1, 2], 1)], T), /node 'm\/mul' \(Mul\): its constant of shape \[4,1,2\] is neither one value per channel of its input's last axis \(2\) nor one per value of its input's last axes \[4,4,2\]/],
    ['a division by a computed value', (g, x) => g.node('m/div', 'RealDiv', [x, g.node('m/r', 'Relu', [x], T)], T), /node 'm\/div' \(RealDiv\): divides by a computed value: not supported/],
    ['a permutation of the batch axis', (g, x) => g.node('m/t', 'Transpose', [x, g.constant('perm', [4], [1, 0, 2, 3], 'int32')], T), /node 'm\/t' \(Transpose\): permutes \[1,0,2,3\]: the batch axis must stay first/],
    ['values that do not broadcast', (g, x) => g.node('m/add', 'AddV2', [x, g.node('m/p', 'MaxPool', [x], { ...T, ksize: { list: { i: ['1', '2', '2', '1'] } }, strides: { list: { i: ['1', '2', '2', '1'] } }, padding: s('VALID'), data_format: s('NHWC') })], T), /node 'm\/add' \(AddV2\): combines values of shapes \[4,4,2\] and \[2,2,2\] per example: sizes that do not broadcast/],
    ['a resize with aligned corners and half-pixel centres (TensorFlow refuses it too)', (g, x) => g.node('m/r', 'ResizeBilinear', [x, g.constant('sz', [2], [8, 8], 'int32')], { ...T, align_corners: b(true), half_pixel_centers: b(true) }), /node 'm\/r' \(ResizeBilinear\): has both align_corners and half_pixel_centers/],
    ['a constant divided by a value', (g, x) => g.node('m/div', 'RealDiv', [g.random('c', [2], 1), x], T), /node 'm\/div' \(RealDiv\): RealDiv with a constant first is not supported/],
    ['a fused batch norm in a conv', (g, x) => g.node('m/c', '_FusedConv2D', [x, g.random('k', [1, 1, 2, 2], 1), g.random('kb', [2], 1)], fusedConv(['FusedBatchNorm', 'Relu'])), /fused ops \[FusedBatchNorm, Relu\] are not supported/],
    ['a mean over channels', (g, x) => g.node('m/mean', 'Mean', [x, g.constant('ax', [1], [3], 'int32')], { ...T, keep_dims: b(false) }), /a mean over axes \[3\] of a rank-4 value is not supported/],
  ];
  for (const [what, bad, message] of cases) t.throws(() => tfe.loadPlainModel(withNode(bad)), { message }, what);
});

test('a GraphModel input of unknown size beyond the batch is refused, naming it', (t) => {
  const g = new GraphBuilder();
  const x = g.input('x', [-1, -1, 3]);
  const file = g.save({ y: g.node('Identity', 'Identity', [g.node('r', 'Relu', [x], T)], T) }, { x: 'x' }).file;
  t.throws(() => tfe.loadPlainModel(file), { message: /node 'x' \(Placeholder\): the input's shape \[-1,-1,3\] has an unknown size beyond the batch axis/ });
  const noShape = JSON.parse(fs.readFileSync(file, 'utf8'));
  delete noShape.modelTopology.node[0].attr.shape;
  fs.writeFileSync(file, JSON.stringify(noShape));
  t.throws(() => tfe.loadPlainModel(file), { message: /node 'x' \(Placeholder\): the input needs a known rank/ });
});

test("a GraphModel's constants become private weights, never settings in the topology the servers read", (t) => {
  const { g, out } = preprocessed();
  const { file } = g.save({ y: out }, { pixels: 'pixels' });
  const { json, spec } = readLayersModel(file);
  const topology = JSON.stringify(json.modelTopology);
  // (Whole numbers aside: sizes and strides are in any topology.)
  const constants = g.consts.filter((c) => c.dtype === 'float32').flatMap((c) => c.data).filter((v) => !Number.isInteger(v));
  for (const v of constants) t.false(topology.includes(String(v)), `constant ${v} is in the topology`);
  // The scale, mean and deviation are weights the servers get as shares (BatchNormalization's, folded).
  t.true(spec.params.length >= 6, `${spec.params.length} private parameters`);
});

test('a constant added after an Identity that two ops read is a scale and shift of its own, not a bias merged into the product both see', async (t) => {
  const g = new GraphBuilder();
  const x = g.input('x', [-1, 3]);
  const m = g.node('m/MatMul', 'MatMul', [x, g.random('w', [3, 2], 0.5)], { ...T, transpose_a: b(false), transpose_b: b(false) });
  const id = g.node('m/Identity', 'Identity', [m], T);
  const biased = g.node('m/add', 'AddV2', [id, g.random('bias', [2], 0.5)], T);
  const both = g.node('m/sum', 'AddV2', [biased, id], T);
  const { file, artifacts } = g.save({ y: g.node('Identity', 'Identity', [both], T) }, { x: 'x' });
  const xs = Float64Array.from({ length: 6 }, () => Math.random() * 2 - 1);
  const want = await reference(artifacts, xs, [2, 3]);
  const got = tfe.loadPlainModel(file).predict({ data: xs, shape: [2, 3] }) as { data: Float64Array };
  t.true(maxDiff(got.data, want) < 1e-5, `${[...got.data]} vs tfjs ${[...want]}`);
});

test('Neg and Square of a computed value translate (a scale of -1, a product of the value by itself)', async (t) => {
  const g = new GraphBuilder();
  const x = g.input('x', [-1, 4]);
  const m = g.node('m/MatMul', 'MatMul', [x, g.random('w', [4, 3], 0.7)], { ...T, transpose_a: b(false), transpose_b: b(false) });
  const y = g.node('m/sum', 'AddV2', [g.node('m/neg', 'Neg', [m], T), g.node('m/sq', 'Square', [m], T)], T);
  const { file, artifacts } = g.save({ y: g.node('Identity', 'Identity', [y], T) }, { x: 'x' });
  const xs = Float64Array.from({ length: 8 }, () => Math.random() * 4 - 2);
  const want = await reference(artifacts, xs, [2, 4]);
  const got = tfe.loadPlainModel(file).predict({ data: xs, shape: [2, 4] }) as { data: Float64Array };
  t.true(maxDiff(got.data, want) < 1e-5, `${[...got.data]} vs tfjs ${[...want]}`);
});

test('a constant over the last axes (a learned positional embedding, a bias per head and width) is a private shift or scale of them', async (t) => {
  const g = new GraphBuilder();
  const x = g.input('x', [-1, 3, 4, 2]);
  const pos = g.node('m/add', 'AddV2', [x, g.random('pos', [1, 4, 2], 1)], T); // over the last two axes
  const all = g.node('m/mul', 'Mul', [g.random('scale', [3, 4, 2], 1), pos], T); // over every axis but the batch
  const { file, artifacts } = g.save({ y: g.node('Identity', 'Identity', [g.node('m/sub', 'Sub', [all, g.random('shift', [4, 2], 1)], T)], T) }, { x: 'x' });
  const xs = Float64Array.from({ length: 48 }, () => Math.random() * 2 - 1);
  const want = await reference(artifacts, xs, [2, 3, 4, 2]);
  const got = tfe.loadPlainModel(file).predict({ data: xs, shape: [2, 3, 4, 2] }) as { data: Float64Array };
  t.true(maxDiff(got.data, want) < 1e-5, `${[...got.data].slice(0, 6)} vs tfjs ${[...want].slice(0, 6)}`);
  // Private: the constants are weights (shares), not settings in the topology.
  const topology = JSON.stringify(readLayersModel(file).json.modelTopology);
  for (const v of g.consts.filter((c) => c.dtype === 'float32').flatMap((c) => c.data)) t.false(topology.includes(String(v)), `constant ${v} is in the topology`);
  const c = new tfe.Cluster();
  try {
    const m = tfe.loadLayersModel(file, { cluster: c });
    const y = await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => ({ data: xs, shape: [2, 3, 4, 2] }))));
    t.true(maxDiff(y.data, want) < 5e-3);
  } finally {
    await c.close();
  }
});

test("a StridedSlice of a sequence (a step's value, the last, every other feature) is the slice layer operations become", async (t) => {
  const g = new GraphBuilder();
  const x = g.input('x', [-1, 5, 6]);
  const ss = (name: string, b: number[], e: number[], st: number[], masks: Record<string, number>) =>
    g.node(name, 'StridedSlice', [x, g.constant(`${name}/b`, [b.length], b, 'int32'), g.constant(`${name}/e`, [e.length], e, 'int32'), g.constant(`${name}/s`, [st.length], st, 'int32')], {
      ...T, Index: { type: 'DT_INT32' }, ...Object.fromEntries(['begin_mask', 'end_mask', 'shrink_axis_mask', 'ellipsis_mask', 'new_axis_mask'].map((m) => [m, { i: String(masks[m] ?? 0) }])),
    });
  const first = ss('first', [0, 0], [0, 1], [1, 1], { begin_mask: 1, end_mask: 1, shrink_axis_mask: 2 }); // x[:, 0]
  const last = ss('last', [0, -1, 0], [0, 0, 0], [1, 1, 1], { begin_mask: 5, end_mask: 5, shrink_axis_mask: 2 }); // x[:, -1, :]
  const odd = ss('odd', [0, 1], [0, 6], [1, 2], { ellipsis_mask: 1 }); // x[..., 1:6:2]
  const odd2 = g.node('odd/flat', 'Reshape', [odd, g.constant('odd/shape', [2], [-1, 15], 'int32')], T);
  const cat = g.node('cat', 'ConcatV2', [first, last, odd2, g.constant('cat/axis', [], [-1], 'int32')], { ...T, N: { i: '3' } });
  const { file, artifacts } = g.save({ y: g.node('Identity', 'Identity', [cat], T) }, { x: 'x' });
  const xs = Float64Array.from({ length: 60 }, () => Math.random() * 2 - 1);
  const want = await reference(artifacts, xs, [2, 5, 6]);
  const got = tfe.loadPlainModel(file).predict({ data: xs, shape: [2, 5, 6] }) as { data: Float64Array };
  t.deepEqual([...got.data].map((v) => Math.fround(v)), [...want], 'slices move values: exactly');
  // The batch axis stays whole; a new axis is refused.
  const bad = (b0: number, masks: Record<string, number>) => {
    const h = new GraphBuilder();
    const y = h.input('x', [-1, 5, 6]);
    const s = h.node('s', 'StridedSlice', [y, h.constant('b', [2], [b0, 0], 'int32'), h.constant('e', [2], [0, 1], 'int32'), h.constant('st', [2], [1, 1], 'int32')], { ...T, ...Object.fromEntries(Object.entries(masks).map(([k, v]) => [k, { i: String(v) }])) });
    return h.save({ y: h.node('Identity', 'Identity', [s], T) }, { x: 'x' }).file;
  };
  t.throws(() => tfe.loadPlainModel(bad(1, { end_mask: 1 })), { message: /node 's' \(StridedSlice\): slices the batch axis: keep it whole/ });
  t.throws(() => tfe.loadPlainModel(bad(0, { begin_mask: 1, end_mask: 1, new_axis_mask: 2 })), { message: /node 's' \(StridedSlice\): adds an axis \(new_axis_mask\): not supported/ });
});

test('Maximum and Minimum of a value and a constant (a clip, a relu written as a maximum) translate, the bounds private', async (t) => {
  const g = new GraphBuilder();
  const x = g.input('x', [-1, 4]);
  const m = g.node('m/MatMul', 'MatMul', [x, g.random('w', [4, 3], 0.9)], { ...T, transpose_a: b(false), transpose_b: b(false) });
  const clip = g.node('clip/Minimum', 'Minimum', [g.node('clip/Maximum', 'Maximum', [m, g.constant('lo', [], [-0.35])], T), g.constant('hi', [3], [0.4, 0.25, 0.55])], T);
  const relu = g.node('relu', 'Maximum', [g.constant('zero', [], [0]), m], T);
  const cat = g.node('cat', 'ConcatV2', [clip, relu, g.constant('cat/axis', [], [-1], 'int32')], { ...T, N: { i: '2' } });
  const { file, artifacts } = g.save({ y: g.node('Identity', 'Identity', [cat], T) }, { x: 'x' });
  const xs = Float64Array.from({ length: 12 }, () => Math.random() * 4 - 2);
  const want = await reference(artifacts, xs, [3, 4]);
  const got = tfe.loadPlainModel(file).predict({ data: xs, shape: [3, 4] }) as { data: Float64Array };
  t.true(maxDiff(got.data, want) < 1e-5, `${[...got.data]} vs tfjs ${[...want]}`);
  const topology = JSON.stringify(readLayersModel(file).json.modelTopology);
  for (const v of [-0.35, 0.4, 0.25, 0.55]) t.false(topology.includes(String(Math.fround(v))), `bound ${v} is in the topology`);
  const c = new tfe.Cluster();
  try {
    const model = tfe.loadLayersModel(file, { cluster: c });
    const y = await tfe.defineOutput('prediction-client', model.predict(model.defineInput('prediction-client', () => ({ data: xs, shape: [3, 4] }))));
    t.true(maxDiff(y.data, want) < 5e-3);
  } finally {
    await c.close();
  }
});

test('GraphModel ops on volumes: channels first, a volume op on an image, and an output_padding are refused, naming the node', (t) => {
  const list = (v: number[]) => ({ list: { i: v.map(String) } });
  const conv3 = (extra: Record<string, unknown> = {}) => ({ ...T, strides: list([1, 1, 1, 1, 1]), dilations: list([1, 1, 1, 1, 1]), padding: s('SAME'), ...extra });
  const volume = (bad: (g: GraphBuilder, x: string) => string, dims = [-1, 4, 4, 4, 2]) => {
    const g = new GraphBuilder();
    const x = g.input('x', dims);
    return g.save({ y: g.node('Identity', 'Identity', [bad(g, x)], T) }, { x: 'x' }).file;
  };
  t.throws(() => tfe.loadPlainModel(volume((g, x) => g.node('v/c', 'Conv3D', [x, g.random('k', [1, 1, 1, 2, 3], 1)], conv3({ data_format: s('NCDHW') })))), { message: /node 'v\/c' \(Conv3D\): data_format NCDHW is not supported: only NDHWC/ });
  t.throws(() => tfe.loadPlainModel(volume((g, x) => g.node('v/c', 'Conv3D', [x, g.random('k', [1, 1, 1, 2, 3], 1)], conv3()), [-1, 4, 4, 2])), { message: /node 'v\/c' \(Conv3D\): its input has rank 4, not a volume's 5/ });
  // Keras makes [8, 8, 8] from [4, 4, 4] at strides 2 (SAME); [9, 8, 8] needs an output_padding.
  const up = (size: number[]) => volume((g, x) => g.node('v/t', 'Conv3DBackpropInputV2', [g.constant('sz', [5], [1, ...size, 3], 'int32'), g.random('k', [3, 3, 3, 3, 2], 1), x], conv3({ strides: list([1, 2, 2, 2, 1]) })));
  t.notThrows(() => tfe.loadPlainModel(up([8, 8, 8])));
  t.throws(() => tfe.loadPlainModel(up([9, 8, 8])), { message: /node 'v\/t' \(Conv3DBackpropInputV2\): its output size \[9,8,8,3\] is not the one Keras's Conv3DTranspose makes .* an output_padding is not supported/ });
});
