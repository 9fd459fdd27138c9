// Keras 3 with tensorflowjs_converter (TensorFlow 2.16+) names a flat model's weights under the
// model's own name (sequential/dense/kernel; tfjs#8321, where TensorFlow.js itself fails to load
// such a file). They are read as the layers' own names, as a nested model's already were; a prefix
// that is not the model's name, or a short name the manifest has too, is left as it is. Keras 3's
// name scopes (keras.applications' NASNet) come off too, in a Keras 3 model only.
import test from 'ava';

import * as tfe from '../lib';
import { rnd, writeModel } from './helpers/model_files';

const W1 = rnd(12, 0.5), B1 = rnd(3, 0.1), W2 = rnd(6, 0.5), B2 = rnd(2, 0.1);

/**
 * dense (4 -> 3, relu) then dense_1 (3 -> 2), its weights named with `prefix` ('seq/': the model's
 * own name), dense_1's with `prefix1` (`prefix` when not given). `keras3`: as Keras 3 writes the
 * topology (an InputLayer's batch_shape).
 */
function model(prefix: string, extra: { name: string; shape: number[]; data: Float32Array }[] = [], keras3 = false, prefix1 = prefix): string {
  const layers = [
    ...(keras3 ? [{ class_name: 'InputLayer', config: { name: 'input_layer', batch_shape: [null, 4] } }] : []),
    { class_name: 'Dense', config: { name: 'dense', units: 3, activation: 'relu', use_bias: true, ...(keras3 ? {} : { batch_input_shape: [null, 4] }) } },
    { class_name: 'Dense', config: { name: 'dense_1', units: 2, activation: 'linear', use_bias: true } },
  ];
  return writeModel(layers, [
    { name: `${prefix}dense/kernel`, shape: [4, 3], data: W1 },
    { name: `${prefix}dense/bias`, shape: [3], data: B1 },
    { name: `${prefix1}dense_1/kernel`, shape: [3, 2], data: W2 },
    { name: `${prefix1}dense_1/bias`, shape: [2], data: B2 },
    ...extra,
  ]);
}

/** The model's float64 forward pass on one row. */
function forward(x: number[]): number[] {
  const h = [0, 1, 2].map((j) => Math.max(0, B1[j] + x.reduce((a, v, i) => a + v * W1[i * 3 + j], 0)));
  return [0, 1].map((j) => B2[j] + h.reduce((a, v, i) => a + v * W2[i * 2 + j], 0));
}

test("a flat model's weights named under the model's own name load and predict as the model", async (t) => {
  const c = new tfe.Cluster({ protocol: 'securenn' });
  try {
    for (const prefix of ['', 'seq/']) {
      const m = tfe.loadLayersModel(model(prefix), { cluster: c });
      const x = [0.5, -0.25, 1, -1, 0.75, 0.1, -0.6, 0.3];
      const got = (await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => ({ data: x, shape: [2, 4] }))))).data;
      const want = [...forward(x.slice(0, 4)), ...forward(x.slice(4))];
      t.true(want.every((w, i) => Math.abs(w - got[i]) < 1e-3), `'${prefix}': ${[...got]} vs ${want}`);
    }
  } finally {
    await c.close();
  }
});

test("Keras 3's name scopes before a layer's name (keras.applications' NASNet) are read as the layer's own names", async (t) => {
  const c = new tfe.Cluster({ protocol: 'securenn' });
  try {
    // Nested scopes too, and the model's own name before them.
    for (const [p0, p1] of [['block_a/', 'block_b/inner/'], ['seq/block_a/', 'seq/block_b/']]) {
      const m = tfe.loadLayersModel(model(p0, [], true, p1), { cluster: c });
      const x = [0.5, -0.25, 1, -1];
      const got = (await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => ({ data: x, shape: [1, 4] }))))).data;
      t.true(forward(x).every((w, i) => Math.abs(w - got[i]) < 1e-3), `'${p0}', '${p1}': ${[...got]} vs ${forward(x)}`);
    }
  } finally {
    await c.close();
  }
});

test("a prefix that is not the model's name is not taken off: the weight is missing, and the name the manifest has is said", (t) => {
  t.throws(() => tfe.loadLayersModel(model('other/')), { message: /: weight 'dense\/kernel' is missing from the weights manifest \(it has 'other\/dense\/kernel', under a prefix that is not this model's name\)$/ });
  // Nor, in a Keras 3 model, a prefix that is a layer's name: the weight is that layer's
  // (TimeDistributed's time_distributed/dense/kernel), not the layer after it.
  t.throws(() => tfe.loadLayersModel(model('', [], true, 'dense/')), { message: /weight 'dense_1\/kernel' is missing from the weights manifest \(it has 'dense\/dense_1\/kernel'/ });
});

test('a short name the manifest has too is read as it is; the prefixed one is not taken for it', async (t) => {
  // The manifest has both seq/dense/kernel (another tensor) and dense/kernel: the layer reads
  // dense/kernel, which the model was written with; an extra weight of 12 zeros under the prefix changes nothing.
  const file = model('', [{ name: 'seq/dense/kernel', shape: [4, 3], data: new Float32Array(12) }]);
  const c = new tfe.Cluster({ protocol: 'securenn' });
  try {
    const m = tfe.loadLayersModel(file, { cluster: c });
    const x = [0.5, -0.25, 1, -1];
    const got = (await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => ({ data: x, shape: [1, 4] }))))).data;
    t.true(forward(x).every((w, i) => Math.abs(w - got[i]) < 1e-3), `${[...got]} vs ${forward(x)}`);
  } finally {
    await c.close();
  }
});
