// Tensor operations between layers (`inputs / 4`, `x + c`, `a * b`, `tf.nn.relu(x)`,
// `ops.mean(x, axis=1)`), as tf-keras saves them (TFOpLambda layers, their constants among the
// call's keyword arguments) and as Keras 3 does (operation nodes, module keras.src.ops.*): hand-
// written topologies in each dialect, run privately (SecureNN, FSS, the service) and by the
// plaintext model, against a reference written here with TensorFlow.js's ops (not its layers,
// which cannot load either form: tfjs#7271).
import { createRequire } from 'node:module';

import test from 'ava';

import * as tfe from '../lib';
import { rnd } from './helpers/model_files';
import { startCluster, type TestCluster } from './helpers/service';
import { expectRowsMatch } from './helpers/tfjs_compare';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tf: any = createRequire(__filename)('@tensorflow/tfjs');

type Weights = [string, number[], Float32Array][];
function artifacts(modelTopology: object, weights: Weights): tfe.ModelArtifacts {
  const data = new Float32Array(weights.flatMap(([, , v]) => [...v]));
  return { modelTopology, weightSpecs: weights.map(([name, shape]) => ({ name, shape, dtype: 'float32' })), weightData: data.buffer } as unknown as tfe.ModelArtifacts;
}

// ---- tf-keras (Keras 2): TFOpLambda layers ----
const IN = 6, H = 16, OUT = 3;
const wh = rnd(IN * H, 1), bh = rnd(H, 0.5), wg = rnd(IN * H, 1), bg = rnd(H, 0.5), shift = rnd(H, 0.5), wo = rnd(H * OUT, 0.5), bo = rnd(OUT, 0.2);
const K2_WEIGHTS: Weights = [['h/kernel', [IN, H], wh], ['h/bias', [H], bh], ['g/kernel', [IN, H], wg], ['g/bias', [H], bg], ['o/kernel', [H, OUT], wo], ['o/bias', [OUT], bo]];
const op = (name: string, fn: string, node: unknown[]) => ({ class_name: 'TFOpLambda', config: { name, trainable: true, dtype: 'float32', function: fn }, name, inbound_nodes: [node] });
const dense = (name: string, units: number, from: string) => ({ class_name: 'Dense', config: { name, units, activation: 'linear', use_bias: true }, name, inbound_nodes: [[[from, 0, 0, {}]]] });

/**
 * x / 4 -> Dense h -> tf.nn.relu -> + one constant per channel ([1, 16]) -> times Dense g(x / 4)
 * -> 1 - that (a constant first operand) -> max(., -0.5) -> min(., 2) -> Dense o -> tf.nn.softmax.
 */
function keras2Model(): object {
  return {
    class_name: 'Functional',
    keras_version: '2.15.0',
    config: {
      name: 'ops2',
      layers: [
        { class_name: 'InputLayer', config: { name: 'in', batch_input_shape: [null, IN], dtype: 'float32' }, name: 'in', inbound_nodes: [] },
        op('tf.math.truediv', 'math.truediv', ['in', 0, 0, { y: 4.0, name: null }]),
        dense('h', H, 'tf.math.truediv'),
        op('tf.nn.relu', 'nn.relu', ['h', 0, 0, { name: null }]),
        op('tf.__operators__.add', '__operators__.add', ['tf.nn.relu', 0, 0, { y: [[...shift]], name: null }]),
        dense('g', H, 'tf.math.truediv'),
        op('tf.math.multiply', 'math.multiply', ['tf.__operators__.add', 0, 0, { y: ['g', 0, 0], name: null }]),
        op('tf.math.subtract', 'math.subtract', ['_CONSTANT_VALUE', -1, 1.0, { y: ['tf.math.multiply', 0, 0], name: null }]),
        op('tf.math.maximum', 'math.maximum', ['tf.math.subtract', 0, 0, { y: -0.5, name: null }]),
        op('tf.math.minimum', 'math.minimum', ['tf.math.maximum', 0, 0, { y: 2.0, name: null }]),
        dense('o', OUT, 'tf.math.minimum'),
        op('tf.nn.softmax', 'nn.softmax', ['o', 0, 0, { name: null }]),
      ],
      input_layers: [['in', 0, 0]],
      output_layers: [['tf.nn.softmax', 0, 0]],
    },
  };
}

/** The same computation with tfjs's ops, row by row: the reference. */
function keras2Reference(x: Float64Array, batch: number): number[][] {
  return tf.tidy(() => {
    const t = tf.tensor2d(Array.from(x), [batch, IN]).div(4);
    const lin = (w: Float32Array, b: Float32Array, n: number, v: unknown) => tf.matMul(v, tf.tensor2d(w, [w.length / n, n])).add(tf.tensor1d(b));
    const a = tf.relu(lin(wh, bh, H, t)).add(tf.tensor1d(shift));
    const y = tf.scalar(1).sub(a.mul(lin(wg, bg, H, t))).maximum(-0.5).minimum(2);
    return tf.softmax(lin(wo, bo, OUT, y)).arraySync();
  });
}

const rand = (n: number, s = 6) => Float64Array.from({ length: n }, () => (Math.random() * 2 - 1) * s);

async function privateRows(a: tfe.ModelArtifacts, x: Float64Array, shape: number[], protocol?: 'fss'): Promise<{ out: Float64Array; model: tfe.PrivateModel }> {
  const c = new tfe.Cluster(protocol ? { protocol } : {});
  try {
    const model = tfe.loadLayersModel(a, { cluster: c });
    const out = (await tfe.defineOutput('prediction-client', model.predict(model.defineInput('prediction-client', () => ({ data: x, shape }))))).data;
    return { out, model };
  } finally {
    await c.close();
  }
}

test('tf-keras TFOpLambda operations load and run as the model computes them: SecureNN, FSS and plaintext', async (t) => {
  const a = artifacts(keras2Model(), K2_WEIGHTS);
  const before = JSON.stringify(a.modelTopology);
  const x = rand(12 * IN);
  // Edge values: zeros, and inputs that put max/min on their bounds.
  x.fill(0, 0, IN);
  const want = keras2Reference(x, 12);
  for (const protocol of [undefined, 'fss'] as const) {
    const { out, model } = await privateRows(a, x, [12, IN], protocol);
    t.is(model.finalActivation, 'softmax', 'tf.nn.softmax at the end is the final activation, left to the client');
    expectRowsMatch(t, out, want, 'softmax', 1e-2);
  }
  const plain = tfe.loadPlainModel(a).forward({ data: x, shape: [12, IN] });
  expectRowsMatch(t, plain.data, want, 'softmax', 1e-4);
  t.is(JSON.stringify(a.modelTopology), before, "the caller's topology is not edited");
  // Each operation is a named layer, the max and min chains around one relu each.
  t.deepEqual(
    tfe.loadPlainModel(a).spec.layers.filter((l) => l.includes('tf.')),
    ['Rescaling:tf.math.truediv', 'Activation:tf.nn.relu', 'Rescaling:tf.__operators__.add', 'Multiply:tf.math.multiply', 'Rescaling:tf.math.subtract', 'Rescaling:tf.math.maximum/1', 'ReLU:tf.math.maximum/2', 'Rescaling:tf.math.maximum', 'Rescaling:tf.math.minimum/1', 'ReLU:tf.math.minimum/2', 'Rescaling:tf.math.minimum', 'Softmax:tf.nn.softmax'],
  );
});

// ---- Keras 3: operation nodes ----
const T = 5, F = 4, D = 8;
const wd = rnd(F * D, 1), bd = rnd(D, 0.5), perChannel = Float32Array.from(rnd(D, 1), (v) => (v >= 0 ? v + 0.5 : v - 0.5)), wo3 = rnd(2 * D * OUT, 0.5), bo3 = rnd(OUT, 0.2);
const K3_WEIGHTS: Weights = [['d/kernel', [F, D], wd], ['d/bias', [D], bd], ['o/kernel', [2 * D, OUT], wo3], ['o/bias', [OUT], bo3]];
const kt = (name: string) => ({ class_name: '__keras_tensor__', config: { shape: [null], dtype: 'float32', keras_history: [name, 0, 0] } });
const op3 = (module: string, cls: string, name: string, args: unknown[], config: object = {}) => ({ module: `keras.src.ops.${module}`, class_name: cls, config: { name, ...config }, registered_name: cls, name, inbound_nodes: [{ args, kwargs: {} }] });
const layer3 = (cls: string, name: string, config: object, args: unknown[]) => ({ module: 'keras.layers', class_name: cls, config: { name, ...config }, registered_name: null, name, inbound_nodes: [{ args, kwargs: {} }] });

/**
 * [5, 4] -> Dense d (8) -> * 0.5 -> gelu (exact) -> / one constant per channel (a NumPy array)
 * -> mean over the steps -> m; m reshaped to [2, 4] and back to [8], negated -> concatenate
 * [m, -m] -> relu -> Dense o.
 */
function keras3Model(): object {
  return {
    class_name: 'Functional',
    keras_version: '3.10.0',
    config: {
      name: 'ops3',
      layers: [
        { module: 'keras.layers', class_name: 'InputLayer', config: { name: 'in', batch_shape: [null, T, F], dtype: 'float32' }, registered_name: null, name: 'in', inbound_nodes: [] },
        layer3('Dense', 'd', { units: D, activation: 'linear', use_bias: true }, [kt('in')]),
        op3('numpy', 'Multiply', 'multiply', [kt('d'), 0.5]),
        op3('nn', 'Gelu', 'gelu', [kt('multiply')], { approximate: false }),
        op3('numpy', 'TrueDivide', 'true_divide', [kt('gelu'), { class_name: '__numpy__', config: { value: [...perChannel], dtype: 'float32' } }]),
        op3('numpy', 'Mean', 'mean', [kt('true_divide')], { axis: 1, keepdims: false }),
        op3('numpy', 'Reshape', 'reshape', [kt('mean')], { newshape: [-1, 2, 4] }),
        op3('numpy', 'Reshape', 'reshape_1', [kt('reshape')], { newshape: [-1, 8] }),
        op3('numpy', 'Negative', 'negative', [kt('reshape_1')]),
        op3('numpy', 'Concatenate', 'concatenate', [[kt('mean'), kt('negative')]], { axis: -1 }),
        op3('nn', 'Relu', 'relu', [kt('concatenate')]),
        layer3('Dense', 'o', { units: OUT, activation: 'linear', use_bias: true }, [kt('relu')]),
      ],
      input_layers: [['in', 0, 0]],
      output_layers: [['o', 0, 0]],
    },
  };
}

function keras3Reference(x: Float64Array, batch: number): number[][] {
  return tf.tidy(() => {
    const d = tf.matMul(tf.tensor3d(Array.from(x), [batch, T, F]).reshape([batch * T, F]), tf.tensor2d(wd, [F, D])).add(tf.tensor1d(bd)).mul(0.5);
    // Exact gelu, x * Phi(x), with erf from tfjs.
    const g = d.mul(tf.erf(d.div(Math.SQRT2)).add(1)).mul(0.5).div(tf.tensor1d(perChannel));
    const m = g.reshape([batch, T, D]).mean(1);
    const joined = tf.relu(tf.concat([m, m.neg()], -1));
    return tf.matMul(joined, tf.tensor2d(wo3, [2 * D, OUT])).add(tf.tensor1d(bo3)).arraySync();
  });
}

/**
 * The topology as tensorflowjs_converter writes a .keras file: every `module` and
 * `registered_name` key deleted; and as Keras before 3.11 saves an operation: its config without
 * its name (the entry has it).
 */
function converted(topo: object): object {
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (!v || typeof v !== 'object') return v;
    const o = Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'module' && k !== 'registered_name').map(([k, e]) => [k, strip(e)]));
    return o;
  };
  const out = strip(topo) as { config: { layers: { config: Record<string, unknown>; inbound_nodes: unknown }[] } };
  const ops = (topo as { config: { layers: { module?: string }[] } }).config.layers.map((l) => String(l.module).includes('.ops.'));
  out.config.layers.forEach((l, i) => {
    if (ops[i]) delete l.config.name;
  });
  return out;
}

test('Keras 3 operation nodes (a constant argument, a NumPy array, mean, reshape, concatenate) load and run: SecureNN and plaintext; also as tensorflowjs_converter writes them (no module keys)', async (t) => {
  const x = rand(6 * T * F, 2);
  const want = keras3Reference(x, 6);
  for (const topo of [keras3Model(), converted(keras3Model())]) {
    const a = artifacts(topo, K3_WEIGHTS);
    const { out } = await privateRows(a, x, [6, T, F]);
    expectRowsMatch(t, out, want, undefined, 1e-2);
    expectRowsMatch(t, tfe.loadPlainModel(a).forward({ data: x, shape: [6, T, F] }).data, want, undefined, 1e-4);
  }
  // Without its module, an operation named as a merge layer is told apart by its call: two
  // arguments (x * 0.5) against a layer's one list ([a, b]), which stays the layer.
  const spec = tfe.loadPlainModel(artifacts(converted(keras3Model()), K3_WEIGHTS)).spec.layers;
  t.true(spec.includes('Rescaling:multiply') && spec.includes('Rescaling:true_divide'), spec.join());
  // An operation this library does not know, its module deleted, is still named as an operation;
  // so is keras.ops.dot, named as the Dot layer but called with two arguments.
  const unknownOp = (layer: object) => {
    const topo = converted(keras3Model()) as { config: { layers: object[] } };
    topo.config.layers.splice(2, 1, layer);
    return () => tfe.loadPlainModel(artifacts(topo, K3_WEIGHTS));
  };
  t.throws(unknownOp({ class_name: 'Take', config: { name: 'multiply', axis: 1 }, name: 'multiply', inbound_nodes: [{ args: [kt('d'), [0, 2]], kwargs: {} }] }), { message: /operation 'multiply' \(keras\.ops Take\): is not supported; of operations on tensors, x \+ y/ });
  t.throws(unknownOp({ class_name: 'Dot', config: { name: 'multiply' }, name: 'multiply', inbound_nodes: [{ args: [kt('d'), kt('d')], kwargs: {} }] }), { message: /operation 'multiply' \(keras\.ops Dot\): is not supported/ });
  const merge = converted(keras3Model()) as { config: { layers: Record<string, unknown>[] } };
  merge.config.layers.splice(2, 1, { class_name: 'Multiply', config: { name: 'multiply', trainable: true, dtype: 'float32' }, name: 'multiply', inbound_nodes: [{ args: [[kt('d'), kt('d')]], kwargs: {} }] });
  const squared = tfe.loadPlainModel(artifacts(merge, K3_WEIGHTS));
  t.true(squared.spec.layers.includes('Multiply:multiply'), 'a Multiply layer of [d, d] stays a layer');
});

// ---- Slicing: SlicingOpLambda (tf-keras) and GetItem (Keras 3) ----
const wsl = rnd(F * D, 1), bsl = rnd(D, 0.5), wosl = rnd((2 * D + T * 3) * OUT, 0.4), bosl = rnd(OUT, 0.2);
const SLICE_WEIGHTS: Weights = [['d/kernel', [F, D], wsl], ['d/bias', [D], bsl], ['o/kernel', [2 * D + T * 3, OUT], wosl], ['o/bias', [OUT], bosl]];
const ALL = { start: null, stop: null, step: null };
const getitem = (name: string, from: string, spec: unknown) => ({ class_name: 'SlicingOpLambda', config: { name, trainable: true, dtype: 'float32', function: '__operators__.getitem' }, name, inbound_nodes: [[from, 0, 0, { slice_spec: spec }]] });

/** [5, 4] -> Dense d (8 per step) -> d[:, -1, :], d[:, 0] and d[..., 1:4] flattened -> concat -> Dense o. */
function sliceModel(keras3: boolean): object {
  const k3slice = (start: number | null, stop: number | null) => ({ class_name: '__slice__', config: { start, stop, step: null } });
  const keys = keras3
    ? [[k3slice(null, null), -1, k3slice(null, null)], [k3slice(null, null), 0], [{ class_name: '__ellipsis__', config: {} }, k3slice(1, 4)]]
    : [[ALL, -1, ALL], [ALL, 0], [{ class_name: '__ellipsis__' }, { start: 1, stop: 4, step: null }]];
  const names = ['last', 'first', 'part'];
  const layers = keras3
    ? [
        { module: 'keras.layers', class_name: 'InputLayer', config: { name: 'in', batch_shape: [null, T, F] }, name: 'in', inbound_nodes: [] },
        layer3('Dense', 'd', { units: D }, [kt('in')]),
        ...names.map((n, i) => op3('numpy', 'GetItem', n, [kt('d'), keys[i]])),
        op3('numpy', 'Reshape', 'flat', [kt('part')], { newshape: [-1, T * 3] }),
        op3('numpy', 'Concatenate', 'joined', [[kt('last'), kt('first'), kt('flat')]], { axis: 1 }),
        layer3('Dense', 'o', { units: OUT }, [kt('joined')]),
      ]
    : [
        { class_name: 'InputLayer', config: { name: 'in', batch_input_shape: [null, T, F] }, name: 'in', inbound_nodes: [] },
        dense('d', D, 'in'),
        ...names.map((n, i) => getitem(n, 'd', keys[i])),
        op('flat', 'reshape', ['part', 0, 0, { shape: [-1, T * 3], name: null }]),
        op('joined', 'concat', [['last', 0, 0, { axis: 1, name: null }], ['first', 0, 0, { axis: 1, name: null }], ['flat', 0, 0, { axis: 1, name: null }]]),
        dense('o', OUT, 'joined'),
      ];
  return { class_name: 'Functional', keras_version: keras3 ? '3.10.0' : '2.15.0', config: { name: 'slices', layers, input_layers: [['in', 0, 0]], output_layers: [['o', 0, 0]] } };
}

function sliceReference(x: Float64Array, batch: number): number[][] {
  return tf.tidy(() => {
    const d = tf.matMul(tf.tensor2d(Array.from(x), [batch * T, F]), tf.tensor2d(wsl, [F, D])).add(tf.tensor1d(bsl)).reshape([batch, T, D]);
    const last = d.slice([0, T - 1, 0], [batch, 1, D]).reshape([batch, D]);
    const first = d.slice([0, 0, 0], [batch, 1, D]).reshape([batch, D]);
    const part = d.slice([0, 0, 1], [batch, T, 3]).reshape([batch, T * 3]);
    return tf.matMul(tf.concat([last, first, part], 1), tf.tensor2d(wosl, [2 * D + T * 3, OUT])).add(tf.tensor1d(bosl)).arraySync();
  });
}

test('slicing (x[:, -1, :], x[:, 0], x[..., 1:4]) as tf-keras and Keras 3 save it: private and plaintext', async (t) => {
  const x = rand(5 * T * F, 2);
  const want = sliceReference(x, 5);
  for (const keras3 of [false, true]) {
    const a = artifacts(sliceModel(keras3), SLICE_WEIGHTS);
    expectRowsMatch(t, (await privateRows(a, x, [5, T, F])).out, want, undefined, 1e-2);
    expectRowsMatch(t, tfe.loadPlainModel(a).forward({ data: x, shape: [5, T, F] }).data, want, undefined, 1e-4);
  }
});

// ---- Attention written with operations: matmul, softmax, transpose, max, expand_dims, squeeze ----
const wq = rnd(F * D, 0.8), wk = rnd(F * D, 0.8), wv = rnd(F * D, 1), woat = rnd(T * OUT, 0.5), boat = rnd(OUT, 0.2);
const ATT_WEIGHTS: Weights = [['q/kernel', [F, D], wq], ['k/kernel', [F, D], wk], ['v/kernel', [F, D], wv], ['o/kernel', [T, OUT], woat], ['o/bias', [OUT], boat]];

/**
 * [5, 4] -> q, k, v (Dense 8, no bias) -> softmax(q k^T / sqrt(8)) v -> transposed to [8, 5] ->
 * the maximum over its axis 1 -> [5] -> expand_dims(-1) -> squeeze(-1) -> Dense o.
 */
function attentionModel(keras3: boolean): object {
  const noBias = { units: D, use_bias: false };
  const scale = 1 / Math.sqrt(D);
  const layers = keras3
    ? [
        { module: 'keras.layers', class_name: 'InputLayer', config: { name: 'in', batch_shape: [null, T, F] }, name: 'in', inbound_nodes: [] },
        ...['q', 'k', 'v'].map((n) => layer3('Dense', n, noBias, [kt('in')])),
        op3('numpy', 'Transpose', 'kt', [kt('k')], { axes: [0, 2, 1] }),
        op3('numpy', 'Matmul', 'scores', [kt('q'), kt('kt')]),
        op3('numpy', 'Multiply', 'scaled', [scale, kt('scores')]),
        op3('nn', 'Softmax', 'weights', [kt('scaled')], { axis: -1 }),
        op3('numpy', 'Matmul', 'context', [kt('weights'), kt('v')]),
        op3('numpy', 'Transpose', 'by_feature', [kt('context')], { axes: [0, 2, 1] }),
        op3('numpy', 'Max', 'peak', [kt('by_feature')], { axis: 1, keepdims: false, initial: null }),
        op3('numpy', 'ExpandDims', 'column', [kt('peak')], { axis: -1 }),
        op3('numpy', 'Squeeze', 'row', [kt('column')], { axis: -1 }),
        layer3('Dense', 'o', { units: OUT }, [kt('row')]),
      ]
    : [
        { class_name: 'InputLayer', config: { name: 'in', batch_input_shape: [null, T, F] }, name: 'in', inbound_nodes: [] },
        ...['q', 'k', 'v'].map((n) => ({ ...dense(n, D, 'in'), config: { name: n, ...noBias } })),
        op('scores', 'linalg.matmul', ['q', 0, 0, { b: ['k', 0, 0], transpose_b: true, name: null }]),
        op('scaled', 'math.multiply', ['scores', 0, 0, { y: scale, name: null }]),
        op('weights', 'nn.softmax', ['scaled', 0, 0, { axis: -1, name: null }]),
        op('context', 'linalg.matmul', ['weights', 0, 0, { b: ['v', 0, 0], name: null }]),
        op('by_feature', 'compat.v1.transpose', ['context', 0, 0, { perm: [0, 2, 1], name: null }]),
        op('peak', 'math.reduce_max', ['by_feature', 0, 0, { axis: 1, name: null }]),
        op('column', 'expand_dims', ['peak', 0, 0, { axis: -1, name: null }]),
        op('row', 'compat.v1.squeeze', ['column', 0, 0, { axis: [-1], name: null }]),
        dense('o', OUT, 'row'),
      ];
  return { class_name: 'Functional', keras_version: keras3 ? '3.10.0' : '2.15.0', config: { name: 'att', layers, input_layers: [['in', 0, 0]], output_layers: [['o', 0, 0]] } };
}

function attentionReference(x: Float64Array, batch: number): number[][] {
  return tf.tidy(() => {
    const xs = tf.tensor3d(Array.from(x), [batch, T, F]);
    const proj = (w: Float32Array) => tf.matMul(xs.reshape([batch * T, F]), tf.tensor2d(w, [F, D])).reshape([batch, T, D]);
    const weights = tf.softmax(tf.matMul(proj(wq), proj(wk), false, true).mul(1 / Math.sqrt(D)));
    const peak = tf.matMul(weights, proj(wv)).transpose([0, 2, 1]).max(1);
    return tf.matMul(peak, tf.tensor2d(woat, [T, OUT])).add(tf.tensor1d(boat)).arraySync();
  });
}

test('attention written with operations (matmul, softmax, transpose, max, expand_dims, squeeze): both dialects, SecureNN and plaintext', async (t) => {
  const x = rand(4 * T * F, 1.5);
  const want = attentionReference(x, 4);
  for (const keras3 of [false, true]) {
    const a = artifacts(attentionModel(keras3), ATT_WEIGHTS);
    expectRowsMatch(t, (await privateRows(a, x, [4, T, F])).out, want, undefined, 2e-2);
    expectRowsMatch(t, tfe.loadPlainModel(a).forward({ data: x, shape: [4, T, F] }).data, want, undefined, 1e-4);
  }
});

// ---- Attention pooling: softmax over the steps (axis 1), a weighted sum over them ----
const wsc = rnd(F, 1), bsc = rnd(1, 0.2), wop = rnd(F * OUT, 0.6), bop = rnd(OUT, 0.2);
const POOL_WEIGHTS: Weights = [['score/kernel', [F, 1], wsc], ['score/bias', [1], bsc], ['o/kernel', [F, OUT], wop], ['o/bias', [OUT], bop]];

/** [5, 4] -> score = Dense(1) per step -> softmax over the steps -> sum of weights * x over the steps, minus the mean of each step's features' mean -> Dense o. */
function poolingModel(): object {
  return {
    class_name: 'Functional',
    keras_version: '2.15.0',
    config: {
      name: 'pool',
      layers: [
        { class_name: 'InputLayer', config: { name: 'in', batch_input_shape: [null, T, F] }, name: 'in', inbound_nodes: [] },
        dense('score', 1, 'in'),
        op('tf.nn.softmax', 'nn.softmax', ['score', 0, 0, { axis: 1 }]),
        op('tf.math.multiply', 'math.multiply', ['tf.nn.softmax', 0, 0, { y: ['in', 0, 0], name: null }]),
        op('tf.math.reduce_sum', 'math.reduce_sum', ['tf.math.multiply', 0, 0, { axis: 1 }]),
        op('tf.math.reduce_mean', 'math.reduce_mean', ['in', 0, 0, { axis: [-2, -1], keepdims: true }]),
        op('tf.math.subtract', 'math.subtract', ['tf.math.reduce_sum', 0, 0, { y: ['tf.reshape', 0, 0], name: null }]),
        op('tf.reshape', 'reshape', ['tf.math.reduce_mean', 0, 0, { shape: [-1, 1] }]),
        dense('o', OUT, 'tf.math.subtract'),
      ],
      input_layers: [['in', 0, 0]],
      output_layers: [['o', 0, 0]],
    },
  };
}

test('attention pooling written with operations (softmax over the steps, reduce_sum, reduce_mean over two axes): SecureNN, FSS and plaintext', async (t) => {
  const x = rand(5 * T * F, 1.5);
  const want: number[][] = tf.tidy(() => {
    const xs = tf.tensor3d(Array.from(x), [5, T, F]);
    const score = tf.matMul(xs.reshape([5 * T, F]), tf.tensor2d(wsc, [F, 1])).add(tf.tensor1d(bsc)).reshape([5, T, 1]);
    const pooled = tf.softmax(score.transpose([0, 2, 1])).transpose([0, 2, 1]).mul(xs).sum(1);
    return tf.matMul(pooled.sub(xs.mean([1, 2]).reshape([5, 1])), tf.tensor2d(wop, [F, OUT])).add(tf.tensor1d(bop)).arraySync();
  });
  const a = artifacts(poolingModel(), POOL_WEIGHTS);
  expectRowsMatch(t, tfe.loadPlainModel(a).forward({ data: x, shape: [5, T, F] }).data, want, undefined, 1e-4);
  for (const protocol of [undefined, 'fss'] as const) expectRowsMatch(t, (await privateRows(a, x, [5, T, F], protocol)).out, want, undefined, 1e-2);
});

// ---- Refusals: each names the operation ----
function withOp(layer: object, extra: object[] = []): tfe.ModelArtifacts {
  const topo = keras2Model() as { config: { layers: object[]; output_layers: unknown } };
  topo.config.layers = [...topo.config.layers.slice(0, 3), ...extra, layer];
  topo.config.output_layers = [[(layer as { name: string }).name, 0, 0]];
  return artifacts(topo, K2_WEIGHTS.slice(0, 2));
}

test('operations that cannot run privately, or would compute something else, are refused by name', (t) => {
  // Loading refuses what the topology shows; running once refuses what only shapes show.
  const refused = (a: tfe.ModelArtifacts, message: RegExp) => t.throws(() => tfe.loadPlainModel(a).forward({ data: new Float64Array(IN), shape: [1, IN] }), { message });
  refused(withOp(op('tf.math.truediv_1', 'math.truediv', ['h', 0, 0, { y: ['tf.math.truediv', 0, 0], name: null }])), /operation 'tf\.math\.truediv_1' \(tf\.math\.truediv\): divides by a tensor/);
  refused(withOp(op('tf.math.truediv_1', 'math.truediv', ['_CONSTANT_VALUE', -1, 1.0, { y: ['h', 0, 0], name: null }])), /divides a constant by a tensor/);
  refused(withOp(op('tf.math.truediv_1', 'math.truediv', ['h', 0, 0, { y: 0, name: null }])), /divides by 0/);
  refused(withOp(op('tf.math.log', 'math.log', ['h', 0, 0, { name: null }])), /operation 'tf\.math\.log' \(tf\.math\.log\): is not supported; of operations on tensors, x \+ y/);
  // e^x runs on the output only (the client's); here a layer reads it.
  refused(withOp(op('tf.math.negative', 'math.negative', ['tf.math.exp', 0, 0, { name: null }]), [op('tf.math.exp', 'math.exp', ['h', 0, 0, { name: null }])]), /'tf\.math\.exp'.*activation 'exponential' is supported on the output layer only/);
  // Slices the rewrite cannot keep exact or the batch whole under.
  refused(withOp(getitem('s', 'h', 0)), /layer 's' \(TfeGetItem\): indexes the batch axis/);
  refused(withOp(getitem('s', 'h', [ALL, { start: 0, stop: 8, step: 0 }])), /operation 's' \(tf\.__operators__\.getitem\): slices with step 0/);
  refused(withOp(getitem('s', 'h', [{ start: null, stop: null, step: -1 }, ALL])), /layer 's' \(TfeGetItem\): slices the batch axis/);
  refused(withOp(getitem('s', 'h', [ALL, { start: 2, stop: 5, step: -1 }])), /selects nothing on axis 1 of size 16 \(2:5:-1\)/);
  refused(withOp(getitem('s', 'h', [ALL, null])), /adds an axis/);
  refused(withOp(getitem('s', 'h', [ALL, 16])), /index 16 is out of range for axis 1 of size 16/);
  refused(withOp(getitem('s', 'h', [ALL, { start: 3, stop: 2, step: null }])), /selects nothing on axis 1/);
  refused(withOp(getitem('s', 'h', [ALL, 0, 0])), /indexes 3 axes of a rank-2 input/);
  refused(withOp(op('e', 'expand_dims', ['h', 0, 0, { axis: 0, name: null }])), /adds an axis before the batch/);
  refused(withOp(op('e', 'compat.v1.squeeze', ['h', 0, 0, { axis: [1], name: null }])), /removes axis 1 of size 16/);
  refused(withOp(op('e', 'compat.v1.transpose', ['h', 0, 0, { perm: [1, 0], name: null }])), /only a permutation keeping the batch first/);
  // matmul of [batch, 16] tensors would contract over the batch.
  refused(withOp(op('e', 'linalg.matmul', ['h', 0, 0, { b: ['h', 0, 0], transpose_b: true, name: null }])), /takes rank-3 inputs, got \[1,16\] and \[1,16\]/);
  refused(withOp(op('e', 'linalg.matmul', ['h', 0, 0, { b: [[1, 2]], name: null }])), /takes two tensors/);
  // A constant that is neither one number nor one per channel.
  refused(withOp(op('tf.math.multiply_1', 'math.multiply', ['h', 0, 0, { y: [[1, 2], [3, 4]], name: null }])), /its constant of shape \[2,2\] \(\[1, 2, 3, 4\]\) is not supported/);
  // A per-channel constant of rank 3 on a [batch, 16] tensor would add an axis.
  refused(withOp(op('tf.math.multiply_1', 'math.multiply', ['h', 0, 0, { y: [[[...shift]]], name: null }])), /made of the operation tf\.math\.multiply\): its constant has 3 axes and its input \[1,16\] 2/);
  refused(withOp(op('tf.math.reduce_mean', 'math.reduce_mean', ['h', 0, 0, { name: null }])), /names no axis, so it reduces the batch too/);
  refused(withOp(op('tf.math.reduce_sum', 'math.reduce_sum', ['h', 0, 0, { axis: [0, 1] }])), /reduces over the batch axis/);
  refused(withOp(op('tf.reshape', 'reshape', ['h', 0, 0, { shape: [4, 4], name: null }])), /only a shape keeping the batch first/);
  refused(withOp(op('tf.nn.silu', 'nn.silu', ['h', 0, 0, { beta: 2, name: null }])), /beta = 2 is not supported/);
  refused(withOp(op('tf.cast', 'cast', ['h', 0, 0, { dtype: 'int32', name: null }])), /dtype = "int32" is not supported/);
  refused(withOp(op('tf.math.pow', 'math.pow', ['h', 0, 0, { y: 3, name: null }])), /raises to the power 3; only 2/);
  // x ** 2 is x times itself.
  const sq = tfe.loadPlainModel(withOp(op('tf.math.pow', 'math.pow', ['h', 0, 0, { y: 2, name: null }])));
  const h = tfe.loadPlainModel(withOp(op('tf.identity', 'identity', ['h', 0, 0, {}])));
  const probe = { data: rand(2 * IN), shape: [2, IN] };
  t.deepEqual(Array.from(sq.forward(probe).data), Array.from(h.forward(probe).data, (v) => v * v));
  refused(withOp({ class_name: 'TFOpLambda', config: { name: 'odd' }, name: 'odd', inbound_nodes: [['h', 0, 0, {}]] }), /operation 'odd' \(tf\.\?\): names no function/);
  refused(withOp({ class_name: 'Dot', config: { name: 'dd' }, name: 'dd', inbound_nodes: [[['h', 0, 0, {}], ['h', 0, 0, {}]]] }), /layer 'dd' \(Dot\): has no axes setting/);
  // An argument a layer does not read would be ignored: refused (tf-keras and Keras 3 forms).
  refused(withOp({ ...dense('r', 4, 'h'), inbound_nodes: [[['h', 0, 0, { use_causal_mask: true }]]] }), /layer 'r' \(Dense\) is called with use_causal_mask = true, which this layer does not take/);
  // Two tensors of different ranks: NumPy broadcasts against the batch axis, a merge layer would not.
  // [batch, 4, 4] times [batch, 4]: a merge layer would give each row's [4] to its 4 x 4 (axes of 1 after the batch).
  const r4 = { class_name: 'Dense', config: { name: 'r', units: 4 }, name: 'r', inbound_nodes: [[['h', 0, 0, {}]]] };
  const reshape3 = op('tf.reshape', 'reshape', ['h', 0, 0, { shape: [-1, 4, 4], name: null }]);
  const a = withOp(op('tf.math.multiply_1', 'math.multiply', ['tf.reshape', 0, 0, { y: ['r', 0, 0], name: null }]), [r4, reshape3]);
  (a.weightSpecs as object[]).push({ name: 'r/kernel', shape: [H, 4], dtype: 'float32' }, { name: 'r/bias', shape: [4], dtype: 'float32' });
  a.weightData = new Float32Array([...new Float32Array(a.weightData as ArrayBuffer), ...rnd(H * 4, 1), ...rnd(4, 1)]).buffer;
  refused(a, /tensors of different ranks are broadcast against the batch axis/);
  t.throws(() => tfe.loadLayersModel(a, { cluster: new tfe.Cluster() }), { message: /tensors of different ranks/ }, 'refused where the model is loaded');
});

let service: TestCluster | undefined;
test.after.always(async () => service?.stop());

test.serial('a model with operations deploys and predicts through the service (the owner rewrites it; the servers see layers)', async (t) => {
  service = await startCluster();
  await service.ready();
  const owner = await service.connect({ asOwner: true });
  await owner.deploy(artifacts(keras2Model(), K2_WEIGHTS), { name: 'ops2' });
  await owner.deploy(artifacts(keras3Model(), K3_WEIGHTS), { name: 'ops3', protocol: 'fss' });
  await owner.close();
  const client = await service.connect();
  const x = rand(3 * IN);
  const p = await client.predict('ops2', { data: x, shape: [3, IN] });
  expectRowsMatch(t, p.data, keras2Reference(x, 3), 'softmax', 1e-2);
  const x3 = rand(2 * T * F, 2);
  const q = await client.predict('ops3', { data: x3, shape: [2, T, F] });
  expectRowsMatch(t, q.data, keras3Reference(x3, 2), undefined, 1e-2);
  await client.close();
});
