// Loading TensorFlow.js LayersModel files (written here by hand in the documented format, so no
// TensorFlow.js is needed) and predicting privately, against a float64 forward pass.

import test from 'ava';

import * as tfe from '../lib';
import { rnd, writeModel } from './helpers/model_files';
import { type ModelTopology, parseTopology } from '../lib/api/layers_spec';


test('a Dense/ReLU/softmax model predicts privately like its float64 forward pass (Pond and SecureNN)', async (t) => {
  const w1 = rnd(20 * 8, 0.4), b1 = rnd(8, 0.1), w2 = rnd(8 * 3, 0.4), b2 = rnd(3, 0.1);
  const file = writeModel(
    [
      { class_name: 'Dense', config: { name: 'dense', units: 8, activation: 'relu', use_bias: true, batch_input_shape: [null, 20] } },
      { class_name: 'Dropout', config: { name: 'dropout', rate: 0.5 } },
      { class_name: 'Dense', config: { name: 'dense_1', units: 3, activation: 'softmax', use_bias: true } },
    ],
    [
      { name: 'dense/kernel', shape: [20, 8], data: w1 },
      { name: 'dense/bias', shape: [8], data: b1 },
      { name: 'dense_1/kernel', shape: [8, 3], data: w2 },
      { name: 'dense_1/bias', shape: [3], data: b2 },
    ],
  );
  const x = Float64Array.from({ length: 2 * 20 }, () => Math.random());
  for (const protocol of ['pond', 'securenn'] as const) {
    const c = new tfe.Cluster({ protocol });
    const model = tfe.loadLayersModel(file, { cluster: c, uncalibrated: protocol === 'pond' || undefined });
    t.deepEqual(model.inputShape, [20]);
    const xp = tfe.definePrivateInput('prediction-client', () => ({ data: x, shape: [2, 20] }), c);
    const out = await tfe.defineOutput('prediction-client', model.predict(xp));
    const act = (v: number) => (protocol === 'securenn' ? Math.max(v, 0) : tfe.evalPolynomial(tfe.reluPolynomial(4), v));
    for (let r = 0; r < 2; r++) {
      const h = Array.from({ length: 8 }, (_, j) => act(b1[j] + Array.from({ length: 20 }, (_, k) => x[r * 20 + k] * w1[k * 8 + j]).reduce((a, b) => a + b)));
      for (let j = 0; j < 3; j++) {
        const logit = b2[j] + h.reduce((a, v, k) => a + v * w2[k * 3 + j], 0);
        t.true(Math.abs(out.data[r * 3 + j] - logit) < 2e-3, `${protocol} [${r},${j}] ${out.data[r * 3 + j]} vs ${logit}`);
      }
    }
    await c.close();
  }
});

test('a Conv2D/MaxPooling2D/Flatten/Dense model under SecureNN', async (t) => {
  const k = rnd(3 * 3 * 1 * 4, 0.5), kb = rnd(4, 0.1), d = rnd(3 * 3 * 4 * 2, 0.3), db = rnd(2, 0.1);
  const file = writeModel(
    [
      { class_name: 'Conv2D', config: { name: 'conv2d', filters: 4, kernel_size: [3, 3], strides: [1, 1], padding: 'valid', activation: 'relu', data_format: 'channels_last', batch_input_shape: [null, 8, 8, 1] } },
      { class_name: 'MaxPooling2D', config: { name: 'max_pooling2d', pool_size: [2, 2], strides: [2, 2], padding: 'valid' } },
      { class_name: 'Flatten', config: { name: 'flatten' } },
      { class_name: 'Dense', config: { name: 'dense', units: 2, activation: 'linear' } },
    ],
    [
      { name: 'conv2d/kernel', shape: [3, 3, 1, 4], data: k },
      { name: 'conv2d/bias', shape: [4], data: kb },
      { name: 'dense/kernel', shape: [36, 2], data: d },
      { name: 'dense/bias', shape: [2], data: db },
    ],
  );
  const c = new tfe.Cluster({ protocol: 'securenn' });
  const model = tfe.loadLayersModel(file, { cluster: c });
  const img = Float64Array.from({ length: 64 }, () => Math.random());
  const out = await tfe.defineOutput('prediction-client', model.predict(tfe.definePrivateInput('prediction-client', () => ({ data: img, shape: [1, 8, 8, 1] }), c)));
  // float64 reference
  const conv = (y: number, x: number, o: number) => {
    let s = kb[o];
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) s += img[(y + i) * 8 + x + j] * k[(i * 3 + j) * 4 + o];
    return Math.max(s, 0);
  };
  const pooled: number[] = [];
  for (let y = 0; y < 3; y++) for (let x = 0; x < 3; x++) for (let o = 0; o < 4; o++)
    pooled.push(Math.max(conv(2 * y, 2 * x, o), conv(2 * y + 1, 2 * x, o), conv(2 * y, 2 * x + 1, o), conv(2 * y + 1, 2 * x + 1, o)));
  for (let j = 0; j < 2; j++) {
    const want = db[j] + pooled.reduce((a, v, i) => a + v * d[i * 2 + j], 0);
    t.true(Math.abs(out.data[j] - want) < 2e-3, `${out.data[j]} vs ${want}`);
  }
  await c.close();
});

test('unsupported layers are refused at load time, naming the layer and its class', (t) => {
  const file = writeModel(
    [
      { class_name: 'Dense', config: { name: 'dense', units: 2, batch_input_shape: [null, 2] } },
      { class_name: 'MelSpectrogram', config: { name: 'mel_7', fft_length: 64 } },
    ],
    [{ name: 'dense/kernel', shape: [2, 2], data: rnd(4, 1) }, { name: 'dense/bias', shape: [2], data: rnd(2, 1) }],
  );
  const c = new tfe.Cluster();
  t.throws(() => tfe.loadLayersModel(file, { cluster: c }), { message: "loadLayersModel: layer 'mel_7' of class MelSpectrogram is not supported" });
  t.throws(() => tfe.loadLayersModel('/nonexistent/model.json', { cluster: c }), { message: /cannot read \/nonexistent\/model.json/ });
  void c.close();
});

test("a GraphModel's GraphDef read by the layer reader untranslated (the servers' path) is refused, naming the readers that translate it", (t) => {
  // The shape tensorflowjs_converter writes for a SavedModel: a GraphDef's op nodes.
  const topology = { node: [{ name: 'x', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' } } }, { name: 'Identity', op: 'Identity', input: ['x'] }], library: {}, versions: { producer: 1395 } };
  t.throws(() => parseTopology(topology as unknown as ModelTopology, () => undefined), { message: /GraphModel's GraphDef \(TensorFlow ops\), read here untranslated: the library's model readers \(loadLayersModel, loadPlainModel, deploy, tfe deploy\) translate/ });
});
