// What a review of model loading found: models that loaded and then computed something else than
// their own output, silently, and supported models that were refused. Each case is a small model
// built with TensorFlow.js (or a config as Keras writes it), checked against tfjs's own predict
// (private and plaintext), or refused naming what is wrong.
import { createRequire } from 'node:module';

import test from 'ava';

import * as tfe from '../lib';
import { block, D, T } from './helpers/attention_models';
import { parseTopology } from '../lib/api/layers_spec';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tf: any = createRequire(__filename)('@tensorflow/tfjs');
const L = tf.layers;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function artifactsOf(model: any): Promise<any> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let a: any;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  await model.save(tf.io.withSaveHandler(async (x: any) => ((a = x), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })));
  return a;
}

const random = (n: number) => Float64Array.from({ length: n }, () => Math.random() * 2 - 1);

/** tfjs's output, the plaintext model's and the private one's (SecureNN), on fresh random x. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function outputs(model: any, shape: number[]): Promise<{ want: Float32Array; plain: Float64Array; priv: Float64Array }> {
  const a = await artifactsOf(model);
  const x = random(shape.reduce((p, d) => p * d, 1));
  const want = model.predict(tf.tensor(Float32Array.from(x), shape)).dataSync() as Float32Array;
  const plain = tfe.loadPlainModel(a).predict({ data: x, shape }).data as Float64Array;
  const c = new tfe.Cluster({ protocol: 'securenn' });
  try {
    const m = tfe.loadLayersModel(a, { cluster: c });
    const out = await tfe.defineOutput('prediction-client', m.predict(tfe.definePrivateInput('prediction-client', () => ({ data: x, shape }), c)));
    return { want, plain, priv: out.data as Float64Array };
  } finally {
    await c.close();
  }
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let d = a.length === b.length ? 0 : Infinity;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
};

test('a merge of inputs of different ranks broadcasts as Keras and tfjs do (the lower rank gets axes after the batch): a squeeze-excitation block', async (t) => {
  const i = tf.input({ shape: [4, 4, 3] });
  const conv = L.conv2d({ filters: 3, kernelSize: 1 }).apply(i);
  const se = L.dense({ units: 3, activation: 'relu' }).apply(L.globalAveragePooling2d({}).apply(conv));
  const m = tf.model({ inputs: i, outputs: L.multiply().apply([conv, se]) });
  // Batch 4 equals the width: broadcasting from the last axis ran, and was wrong by up to 0.33.
  for (const batch of [1, 2, 4]) {
    const { want, plain, priv } = await outputs(m, [batch, 4, 4, 3]);
    t.true(maxDiff(want, plain) < 1e-5, `batch ${batch}: plain ${maxDiff(want, plain)}`);
    t.true(maxDiff(want, priv) < 1e-3, `batch ${batch}: private ${maxDiff(want, priv)}`);
  }
  // Equal ranks broadcast as they are: [n, 3, 4] + [n, 3, 1].
  const j = tf.input({ shape: [3, 4] });
  const col = L.dense({ units: 1 }).apply(j);
  const { want, plain, priv } = await outputs(tf.model({ inputs: j, outputs: L.add().apply([j, col]) }), [2, 3, 4]);
  t.true(maxDiff(want, plain) < 1e-5 && maxDiff(want, priv) < 1e-3, `${maxDiff(want, plain)} ${maxDiff(want, priv)}`);
});

// Refused once (it used to start from zeros), read now: recurrent_states.test.ts.
test("a recurrent layer's initial_state is used, not dropped (it used to start from zeros)", async (t) => {
  const i = tf.input({ shape: [4, 3] });
  const h0 = L.dense({ units: 2, activation: 'tanh' }).apply(L.flatten().apply(i));
  const model = tf.model({ inputs: i, outputs: L.simpleRNN({ units: 2 }).apply(i, { initialState: [h0] }) });
  const a = await artifactsOf(model);
  const data = Float32Array.from({ length: 3 * 12 }, () => Math.random() * 2 - 1);
  const want = model.predict(tf.tensor(data, [3, 4, 3])).dataSync() as Float32Array;
  const plain = tfe.loadPlainModel(a).forward({ data, shape: [3, 4, 3] }).data;
  t.true(Array.from(want).every((v, k) => Math.abs(v - plain[k]) < 1e-6), `${[...plain]} vs ${[...want]}`);
});

test('Keras 3 operations, constants among a call\'s inputs, a merge of one input and training=True are refused', async (t) => {
  const m = tf.sequential({ layers: [L.dense({ inputShape: [2], units: 2 })] });
  const base = await artifactsOf(m);
  const functional = (layers: unknown[]) => ({
    ...base,
    modelTopology: { keras_version: '3.5.0', class_name: 'Functional', config: { name: 'f', layers, input_layers: [['in', 0, 0]], output_layers: [['x', 0, 0]] } },
  });
  const input = { class_name: 'InputLayer', config: { name: 'in', batch_shape: [null, 2] }, inbound_nodes: [] };
  const tensor = (name: string) => ({ class_name: '__keras_tensor__', config: { shape: [null, 2], dtype: 'float32', keras_history: [name, 0, 0] } });
  const dense = { ...base.modelTopology.config.layers[0], config: { ...base.modelTopology.config.layers[0].config, batch_input_shape: undefined }, inbound_nodes: [{ args: [tensor('in')], kwargs: {} }] };
  const name = dense.config.name as string;
  // x * 0.5 as Keras 3 saves it: an operation named like the Multiply layer, the constant among
  // its args. It runs as x * 0.5 (keras_operations.ts), not as a Multiply layer of one input; an
  // operation it does not know is refused by name, and one that reaches the graph unrewritten too.
  const op = { module: 'keras.src.ops.numpy', class_name: 'Multiply', config: { name: 'x' }, inbound_nodes: [{ args: [tensor(name), 0.5], kwargs: {} }] };
  const plain = tfe.loadPlainModel(functional([input, dense, op]));
  const dense0 = tfe.loadPlainModel(base).forward({ data: Float64Array.from([1, -2]), shape: [1, 2] });
  t.deepEqual(Array.from(plain.forward({ data: Float64Array.from([1, -2]), shape: [1, 2] }).data), Array.from(dense0.data, (v) => v * 0.5));
  t.throws(() => tfe.loadPlainModel(functional([input, dense, { ...op, class_name: 'Log' }])), { message: /operation 'x' \(keras\.ops Log\): is not supported/ });
  t.throws(() => parseTopology(functional([input, dense, op]).modelTopology, () => [2, 2]), { message: /'x' is a Keras operation \(keras\.src\.ops\.numpy\.Multiply\), not a layer: a topology must have its operations rewritten/ });
  const constant = { module: 'keras.layers', class_name: 'Multiply', config: { name: 'x' }, inbound_nodes: [{ args: [[tensor(name), tensor('in')], 2], kwargs: {} }] };
  t.throws(() => tfe.loadPlainModel(functional([input, dense, constant])), { message: /called with the constant 2 among its inputs/ });
  const single = { module: 'keras.layers', class_name: 'Add', config: { name: 'x' }, inbound_nodes: [{ args: [[tensor(name)]], kwargs: {} }] };
  t.throws(() => tfe.loadPlainModel(functional([input, dense, single])), { message: /Add\) is called with 1 input tensors, but takes 2 or more inputs/ });
  const training = { module: 'keras.layers', class_name: 'Dropout', config: { name: 'x', rate: 0.5 }, inbound_nodes: [{ args: [tensor(name)], kwargs: { training: true } }] };
  // tf-keras keeps training=True in predict: refused. Keras 3's predict passes training=False to
  // every layer (and records training=True from a call signature's default): the flag is moot.
  const asKeras2 = (a: ReturnType<typeof functional>) => ({ ...a, modelTopology: { ...a.modelTopology, keras_version: '2.15.0' } });
  t.throws(() => tfe.loadPlainModel(asKeras2(functional([input, dense, training]))), { message: /called with training=True/ });
  t.notThrows(() => tfe.loadPlainModel(functional([input, dense, training])));
  // The same Dropout without the flag loads.
  t.notThrows(() => tfe.loadPlainModel(functional([input, dense, { ...training, inbound_nodes: [{ args: [tensor(name)], kwargs: {} }] }])));
});

test("weights whose shapes disagree with the layer's settings are refused naming both", async (t) => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const patched = async (model: any, patch: (a: any) => void) => {
    const a = await artifactsOf(model);
    patch(a);
    return a;
  };
  const conv = tf.sequential({ layers: [L.conv2d({ inputShape: [6, 6, 1], filters: 2, kernelSize: 5 })] });
  // A kernel of 5x5 under kernel_size 3 ran as a 5x5 convolution.
  const a = await patched(conv, (x) => (x.modelTopology.config.layers[0].config.kernel_size = [3, 3]));
  t.throws(() => tfe.loadPlainModel(a), { message: /weight 'kernel' has shape \[5,5,1,2\], expected \[3,3,_,2\]/ });
  t.throws(() => tfe.loadLayersModel(a, { cluster: new tfe.Cluster() }), { message: /weight 'kernel' has shape \[5,5,1,2\], expected \[3,3,_,2\]/ });
  const dense = tf.sequential({ layers: [L.dense({ inputShape: [2], units: 3 })] });
  const b = await patched(dense, (x) => (x.modelTopology.config.layers[0].config.units = 2));
  t.throws(() => tfe.loadPlainModel(b), { message: /weight 'kernel' has shape \[2,3\], expected \[_,2\] \(units = 2\)/ });
});

test('a manifest naming a weight twice is refused (quantized weights load: quantized_weights.test.ts)', async (t) => {
  const a = await artifactsOf(tf.sequential({ layers: [L.dense({ inputShape: [2], units: 2 })] }));
  const twice = { ...a, weightSpecs: [a.weightSpecs[0], a.weightSpecs[0], a.weightSpecs[1]], weightData: new Uint8Array(4 * (4 + 4 + 2)).buffer };
  t.throws(() => tfe.loadPlainModel(twice), { message: /names weight '.*kernel' twice/ });
});

test("a kernel the owner would expand past its bound is refused naming the layer, before it is allocated", async (t) => {
  const a = await artifactsOf(tf.sequential({ layers: [L.conv2d({ inputShape: [8, 8, 4], filters: 4, kernelSize: 3, padding: 'same' })] }));
  a.modelTopology.config.layers[0].config.dilation_rate = [3000, 3000];
  const t0 = Date.now();
  t.throws(() => tfe.loadPlainModel(a), { message: /layer '.*' \(Conv2D\): its expanded kernel 'dilated_kernel' would hold 576192016 values/ });
  t.true(Date.now() - t0 < 2000, 'refused before building 576 M values');
});

test("Reshape's -1, which tfjs saves as null, loads (it was refused)", async (t) => {
  const m = tf.sequential({ layers: [L.dense({ inputShape: [4], units: 6 }), L.reshape({ targetShape: [-1, 3] }), L.dense({ units: 2 })] });
  const a = await artifactsOf(m);
  t.is(a.modelTopology.config.layers[1].config.target_shape[0], null, 'tfjs saves -1 as null');
  const { want, plain, priv } = await outputs(m, [2, 4]);
  t.true(maxDiff(want, plain) < 1e-5 && maxDiff(want, priv) < 1e-3);
  const bad = await artifactsOf(m);
  bad.modelTopology.config.layers[1].config.target_shape = [null, null];
  t.throws(() => tfe.loadPlainModel(bad), { message: /target_shape = \[null,null\] is not supported/ });
});

test('a GRU config without reset_after is refused (Keras defaults it to true, old tfjs computed false)', async (t) => {
  const a = await artifactsOf(tf.sequential({ layers: [L.gru({ inputShape: [3, 2], units: 2 })] }));
  delete a.modelTopology.config.layers[0].config.reset_after;
  t.throws(() => tfe.loadPlainModel(a), { message: /reset_after is not saved/ });
});

test("tf-keras's MultiHeadAttention with its built shapes, called with null masks (as Keras 3 saves them), loads and computes Keras's equations", async (t) => {
  const { a, ref } = block({ query_shape: [null, T, D], key_shape: null, value_shape: [null, T, D] }, { value: ['in', 0, 0], query_mask: null, value_mask: null });
  const x = Array.from({ length: T }, () => Array.from(random(D)));
  const got = tfe.loadPlainModel(a).predict({ data: Float64Array.from(x.flat()), shape: [1, T, D] }).data;
  t.true(maxDiff(got, ref(x)) < 1e-9, `${maxDiff(got, ref(x))}`);
  t.throws(() => tfe.loadPlainModel(block({}, { value: ['in', 0, 0], query_mask: true }).a), { message: /is called with query_mask = true, which is not supported/ });
});

test("a DepthwiseConv2D whose kernel is named 'kernel' (Keras 3) loads and computes the layer", async (t) => {
  const m = tf.sequential({ layers: [L.depthwiseConv2d({ inputShape: [5, 5, 2], kernelSize: 3, depthMultiplier: 2, padding: 'same' })] });
  const a = await artifactsOf(m);
  for (const w of a.weightSpecs) w.name = w.name.replace(/depthwise_kernel$/, 'kernel');
  const x = random(5 * 5 * 2);
  const want = m.predict(tf.tensor(Float32Array.from(x), [1, 5, 5, 2])).dataSync();
  t.true(maxDiff(want, tfe.loadPlainModel(a).predict({ data: x, shape: [1, 5, 5, 2] }).data) < 1e-5);
});
