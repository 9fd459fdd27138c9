// SimpleRNN, LSTM and GRU under the exact protocols (lib/api/layers_recurrent.ts), against
// TensorFlow.js's own layers on fresh random sequences; Keras's GRU with reset_after (which tfjs
// cannot build) against the equations written out here; the plain float64 twin; refusals.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';

import test from 'ava';

import * as tfe from '../lib';
import { saveTfjsModel } from './helpers/tfjs_save';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tf: any = createRequire(__filename)('@tensorflow/tfjs');

const STEPS = 5, FEATURES = 3, BATCH = 4;

/** Each case: a tfjs model over [STEPS, FEATURES], and what it exercises. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const CASES: [string, () => any][] = [
  // tfjs's defaults: tanh, recurrent hard_sigmoid; the last state only.
  ['LSTM (tfjs defaults) -> Dense', () => tf.sequential({ layers: [tf.layers.lstm({ units: 6, inputShape: [STEPS, FEATURES], biasInitializer: 'randomNormal' }), tf.layers.dense({ units: 3 })] })],
  // Sigmoid gates, every state, processed backwards.
  ['LSTM (sigmoid, return_sequences, go_backwards) -> Flatten -> Dense', () =>
    tf.sequential({ layers: [tf.layers.lstm({ units: 4, recurrentActivation: 'sigmoid', returnSequences: true, goBackwards: true, inputShape: [STEPS, FEATURES], biasInitializer: 'randomNormal' }), tf.layers.flatten(), tf.layers.dense({ units: 2 })] })],
  ['GRU (tfjs: reset_after false) -> Dense(relu) -> Dense', () =>
    tf.sequential({ layers: [tf.layers.gru({ units: 5, inputShape: [STEPS, FEATURES], biasInitializer: 'randomNormal' }), tf.layers.dense({ units: 4, activation: 'relu' }), tf.layers.dense({ units: 2 })] })],
  // Bidirectional: both halves' weights, the backward outputs back in time order, each merge.
  ['Bidirectional(LSTM, return_sequences, concat) -> Flatten -> Dense', () =>
    tf.sequential({ layers: [tf.layers.bidirectional({ layer: tf.layers.lstm({ units: 3, returnSequences: true, biasInitializer: 'randomNormal' }), inputShape: [STEPS, FEATURES] }), tf.layers.flatten(), tf.layers.dense({ units: 2 })] })],
  ['Bidirectional(GRU, sum) and Bidirectional(SimpleRNN, return_sequences, ave)', () =>
    tf.sequential({ layers: [tf.layers.bidirectional({ layer: tf.layers.simpleRNN({ units: 3, returnSequences: true }), mergeMode: 'ave', inputShape: [STEPS, FEATURES] }), tf.layers.bidirectional({ layer: tf.layers.gru({ units: 2 }), mergeMode: 'sum' })] })],
  // The wrapped layer itself going backwards: its copy runs forwards, and only that copy's outputs are reversed.
  ['Bidirectional(SimpleRNN go_backwards, return_sequences) -> Flatten', () =>
    tf.sequential({ layers: [tf.layers.bidirectional({ layer: tf.layers.simpleRNN({ units: 2, returnSequences: true, goBackwards: true, biasInitializer: 'randomNormal' }), inputShape: [STEPS, FEATURES] }), tf.layers.flatten()] })],
  ['Bidirectional(SimpleRNN, mul)', () => tf.sequential({ layers: [tf.layers.bidirectional({ layer: tf.layers.simpleRNN({ units: 3, biasInitializer: 'randomNormal' }), mergeMode: 'mul', inputShape: [STEPS, FEATURES] })] })],
  ['SimpleRNN (return_sequences) -> SimpleRNN (relu, no bias)', () =>
    tf.sequential({ layers: [tf.layers.simpleRNN({ units: 4, returnSequences: true, inputShape: [STEPS, FEATURES], biasInitializer: 'randomNormal' }), tf.layers.simpleRNN({ units: 3, activation: 'relu', useBias: false })] })],
];

const input = () => Float32Array.from({ length: BATCH * STEPS * FEATURES }, () => 4 * Math.random() - 2);

for (const protocol of ['securenn', 'fss'] as const)
  for (const [name, build] of CASES)
    test(`${protocol}: ${name} matches tfjs`, async (t) => {
      const m = build();
      const file = await saveTfjsModel(tf, m, 'tfe-rnn-');
      const x = input();
      const want: number[] = m.predict(tf.tensor(x, [BATCH, STEPS, FEATURES])).arraySync().flat(2);
      const c = new tfe.Cluster({ protocol });
      try {
        const lm = tfe.loadLayersModel(file, { cluster: c });
        const inp = tfe.definePrivateInput('prediction-client', () => ({ data: x, shape: [BATCH, STEPS, FEATURES] }), c);
        const out = await tfe.defineOutput('prediction-client', lm.predict(inp));
        t.is(out.data.length, want.length);
        const err = Math.max(...Array.from(out.data, (g, i) => Math.abs(g - want[i])));
        // Each tanh and sigmoid is within 6.4e-4 and 3.2e-4 of the true function, hard_sigmoid
        // exact up to the rounding of 0.2 x; five steps compound that through the state (measured
        // 2e-5 to 2.3e-4). Swapping two LSTM gates gives 0.04 to 0.13.
        t.true(err < 5e-3, `max |private - tfjs| = ${err}`);
        // The plain float64 twin (verify's reference) has the true functions.
        const plain = tfe.loadPlainModel(file).predict({ data: Float64Array.from(x), shape: [BATCH, STEPS, FEATURES] });
        const perr = Math.max(...Array.from(plain.data, (g, i) => Math.abs(g - want[i])));
        t.true(perr < 1e-4, `max |plain - tfjs| = ${perr}`);
      } finally {
        await c.close();
      }
    });

/** Keras's GRU with reset_after (its default since TF 2), which tfjs cannot build: written by hand. */
function kerasGruModel(units: number): { file: string; k: Float32Array; r: Float32Array; b: Float32Array } {
  const rnd = (n: number) => Float32Array.from({ length: n }, () => Math.random() - 0.5);
  const k = rnd(FEATURES * 3 * units), r = rnd(units * 3 * units), b = rnd(2 * 3 * units);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-gru-'));
  const layer = { class_name: 'GRU', config: { name: 'gru', units, activation: 'tanh', recurrent_activation: 'sigmoid', use_bias: true, reset_after: true, return_sequences: false, return_state: false, go_backwards: false, stateful: false, unroll: false, dropout: 0, recurrent_dropout: 0, batch_input_shape: [null, STEPS, FEATURES] } };
  const topology = { class_name: 'Sequential', config: { name: 'seq', layers: [layer] }, keras_version: '2.15.0', backend: 'tensorflow' };
  const weights = [
    { name: 'gru/kernel', shape: [FEATURES, 3 * units], dtype: 'float32' },
    { name: 'gru/recurrent_kernel', shape: [units, 3 * units], dtype: 'float32' },
    { name: 'gru/bias', shape: [2, 3 * units], dtype: 'float32' },
  ];
  fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.concat([k, r, b].map((a) => Buffer.from(a.buffer))));
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({ format: 'layers-model', modelTopology: topology, weightsManifest: [{ paths: ['weights.bin'], weights }] }));
  return { file: path.join(dir, 'model.json'), k, r, b };
}

/** Keras's GRUCell with reset_after, from its documented equations (not the library's code). */
function kerasGru(x: Float32Array, u: number, k: Float32Array, r: Float32Array, b: Float32Array): number[] {
  const sig = (v: number) => 1 / (1 + Math.exp(-v));
  const out: number[] = [];
  for (let n = 0; n < BATCH; n++) {
    let h = new Array(u).fill(0);
    for (let t = 0; t < STEPS; t++) {
      const xt = Array.from(x.subarray((n * STEPS + t) * FEATURES, (n * STEPS + t + 1) * FEATURES));
      const mx = (j: number) => b[j] + xt.reduce((a, v, i) => a + v * k[i * 3 * u + j], 0);
      const mh = (j: number) => b[3 * u + j] + h.reduce((a, v, i) => a + v * r[i * 3 * u + j], 0);
      const z = h.map((_, j) => sig(mx(j) + mh(j)));
      const rr = h.map((_, j) => sig(mx(u + j) + mh(u + j)));
      const hh = h.map((_, j) => Math.tanh(mx(2 * u + j) + rr[j] * mh(2 * u + j)));
      h = h.map((hv, j) => z[j] * hv + (1 - z[j]) * hh[j]);
    }
    out.push(...h);
  }
  return out;
}

test("Keras's GRU with reset_after (bias [2, 3u]) matches its equations, private and plain", async (t) => {
  const u = 4;
  const { file, k, r, b } = kerasGruModel(u);
  const x = input();
  const want = kerasGru(x, u, k, r, b);
  const plain = tfe.loadPlainModel(file).predict({ data: Float64Array.from(x), shape: [BATCH, STEPS, FEATURES] });
  t.true(Math.max(...Array.from(plain.data, (g, i) => Math.abs(g - want[i]))) < 1e-5);
  const c = new tfe.Cluster({ protocol: 'securenn' });
  try {
    const lm = tfe.loadLayersModel(file, { cluster: c });
    const inp = tfe.definePrivateInput('prediction-client', () => ({ data: x, shape: [BATCH, STEPS, FEATURES] }), c);
    const out = await tfe.defineOutput('prediction-client', lm.predict(inp));
    const err = Math.max(...Array.from(out.data, (g, i) => Math.abs(g - want[i])));
    t.true(err < 5e-3, `max |private - equations| = ${err}`);
  } finally {
    await c.close();
  }
});

/** A copy of a saved model (its weights too) with its first layer's config edited. */
function editedCopy(model: string, edit: (cfg: Record<string, unknown>) => void): string {
  const json = JSON.parse(fs.readFileSync(model, 'utf8'));
  edit(json.modelTopology.config.layers[0].config);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-rnn-')), 'model.json');
  fs.copyFileSync(path.join(path.dirname(model), 'weights.bin'), path.join(path.dirname(file), 'weights.bin'));
  fs.writeFileSync(file, JSON.stringify(json));
  return file;
}

test('recurrent layers: Pond and unsupported settings are refused at load, naming the layer and setting', async (t) => {
  const lstm = await saveTfjsModel(tf, tf.sequential({ layers: [tf.layers.lstm({ units: 2, inputShape: [STEPS, FEATURES] })] }), 'tfe-rnn-');
  const pond = new tfe.Cluster({ protocol: 'pond' });
  try {
    t.throws(() => tfe.loadLayersModel(lstm, { cluster: pond }), { message: /compares values \(.*LSTM.*\).*use an exact protocol/ });
  } finally {
    await pond.close();
  }
  const edited = (edit: (cfg: Record<string, unknown>) => void) => editedCopy(lstm, edit);
  for (const [setting, value] of [['stateful', true], ['return_state', true], ['time_major', true]] as const)
    t.throws(() => tfe.loadPlainModel(edited((c) => (c[setting] = value))), { message: new RegExp(`\\(LSTM\\): ${setting} = true is not supported${setting === 'return_state' ? ' in a Sequential model' : ''}`) });
  t.throws(() => tfe.loadPlainModel(edited((c) => (c.recurrent_activation = 'squareplus'))), { message: /\(LSTM\): activation 'squareplus' is not supported/ });
  const bidi = await saveTfjsModel(tf, tf.sequential({ layers: [tf.layers.bidirectional({ layer: tf.layers.lstm({ units: 2 }), inputShape: [STEPS, FEATURES] })] }), 'tfe-rnn-');
  const bidiEdited = (edit: (cfg: Record<string, unknown>) => void) => editedCopy(bidi, edit);
  t.throws(() => tfe.loadPlainModel(bidiEdited((c) => (c.merge_mode = null))), { message: /\(Bidirectional\): merge_mode = null is not supported/ });
  t.throws(() => tfe.loadPlainModel(bidiEdited((c) => (c.layer = { class_name: 'Dense', config: { name: 'd', units: 2 } }))), { message: /\(Bidirectional\): wraps "Dense"; only SimpleRNN, LSTM and GRU are supported inside Bidirectional/ });
  t.throws(() => tfe.loadPlainModel(bidiEdited((c) => (c.backward_layer = { class_name: 'LSTM', config: { name: 'backward_x', units: 3, go_backwards: true } }))), { message: /a backward_layer other than the layer itself run backwards is not supported/ });
  // Keras 3 writes the backward layer out: the layer reversed (its keys in any order) is accepted.
  const accepted = bidiEdited((c) => {
    const inner = (c.layer as { config: Record<string, unknown> }).config;
    const reversed = Object.fromEntries(Object.entries({ ...inner, go_backwards: true }).reverse());
    c.backward_layer = { class_name: 'LSTM', config: { ...reversed, name: `backward_${String(inner.name)}` } };
  });
  t.notThrows(() => tfe.loadPlainModel(accepted));
});

test("Keras's recurrent weight names (layer/cell/weight, TF 2.2+) load as tfjs loads them", async (t) => {
  const m = tf.sequential({ layers: [tf.layers.lstm({ units: 3, inputShape: [STEPS, FEATURES], biasInitializer: 'randomNormal' })] });
  const file = await saveTfjsModel(tf, m, 'tfe-rnn-');
  const json = JSON.parse(fs.readFileSync(file, 'utf8'));
  const layer = json.modelTopology.config.layers[0].config.name;
  // What tensorflowjs_converter writes for a Keras LSTM: lstm/lstm_cell/kernel.
  for (const w of json.weightsManifest[0].weights) w.name = w.name.replace(`${layer}/`, `${layer}/lstm_cell/`);
  fs.writeFileSync(file, JSON.stringify(json));
  const x = input();
  const want: number[] = m.predict(tf.tensor(x, [BATCH, STEPS, FEATURES])).arraySync().flat();
  const got = tfe.loadPlainModel(file).predict({ data: Float64Array.from(x), shape: [BATCH, STEPS, FEATURES] });
  t.true(Math.max(...Array.from(got.data, (g, i) => Math.abs(g - want[i]))) < 1e-4);
  // tfjs itself loads the renamed file the same way (its loader drops the cell part).
  const bin = fs.readFileSync(path.join(path.dirname(file), 'weights.bin'));
  const weightData = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength);
  const again = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData }));
  t.deepEqual(again.predict(tf.tensor(x, [BATCH, STEPS, FEATURES])).arraySync().flat(), want);
});

test('TimeDistributed(Dense, Conv2D) after an LSTM and on image sequences matches tfjs, private and plain', async (t) => {
  const L = tf.layers;
  const models: [number[], () => unknown][] = [
    [[STEPS, FEATURES], () => tf.sequential({ layers: [L.lstm({ units: 4, returnSequences: true, inputShape: [STEPS, FEATURES] }), L.timeDistributed({ layer: L.dense({ units: 3, activation: 'relu' }) }), L.flatten(), L.dense({ units: 2 })] })],
    // A short video: each frame through the same convolution.
    [[3, 6, 6, 2], () => tf.sequential({ layers: [L.timeDistributed({ layer: L.conv2d({ filters: 3, kernelSize: 3, activation: 'relu' }), inputShape: [3, 6, 6, 2] }), L.flatten(), L.dense({ units: 2 })] })],
  ];
  for (const [shape, build] of models) {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const m: any = build();
    const file = await saveTfjsModel(tf, m, 'tfe-td-');
    const n = 3, x = Float32Array.from({ length: n * shape.reduce((a, b) => a * b, 1) }, () => 2 * Math.random() - 1);
    const want: number[] = m.predict(tf.tensor(x, [n, ...shape])).arraySync().flat();
    const plain = tfe.loadPlainModel(file).predict({ data: Float64Array.from(x), shape: [n, ...shape] });
    t.true(Math.max(...Array.from(plain.data, (g, i) => Math.abs(g - want[i]))) < 1e-4);
    const c = new tfe.Cluster({ protocol: 'securenn' });
    try {
      const lm = tfe.loadLayersModel(file, { cluster: c });
      const inp = tfe.definePrivateInput('prediction-client', () => ({ data: x, shape: [n, ...shape] }), c);
      const out = await tfe.defineOutput('prediction-client', lm.predict(inp));
      const err = Math.max(...Array.from(out.data, (g, i) => Math.abs(g - want[i])));
      t.true(err < 5e-3, `max |private - tfjs| = ${err}`);
    } finally {
      await c.close();
    }
  }
  const bad = await saveTfjsModel(tf, tf.sequential({ layers: [L.timeDistributed({ layer: L.lstm({ units: 2 }), inputShape: [2, STEPS, FEATURES] })] }), 'tfe-td-');
  t.throws(() => tfe.loadPlainModel(bad), { message: /\(TimeDistributed\): wraps a LSTM, which is not applied step by step/ });
});
