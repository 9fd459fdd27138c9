// From a review of ordinary models against TensorFlow.js's own predict: an in-process predict
// checks its input's shape, as tf.predict and the service do (a conv net with a global pool
// answered an input of another size); the float64 plaintext model refuses a LayerNormalization
// over another axis than the last, as the private model does (it normalised the last axis and read
// gamma out of range: NaN).
import { createRequire } from 'node:module';

import test from 'ava';

import * as tfe from '../lib';
import { tfjsArtifacts } from './helpers/tfjs_save';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tf: any = createRequire(__filename)('@tensorflow/tfjs');
const L = tf.layers;

const artifactsOf = (m: unknown) => tfjsArtifacts(tf, m);

test('an in-process predict refuses an input of another shape than the model takes; the right one runs', async (t) => {
  const m = tf.sequential({ layers: [L.conv2d({ inputShape: [4, 4, 2], filters: 3, kernelSize: 3, activation: 'relu' }), L.globalAveragePooling2d({}), L.dense({ units: 2 })] });
  const c = new tfe.Cluster({ protocol: 'fss' });
  try {
    const model = tfe.loadLayersModel(await artifactsOf(m), { cluster: c });
    for (const shape of [[1, 6, 6, 2], [1, 4, 4, 1], [1, 32]]) {
      const x = model.defineInput('prediction-client', () => ({ data: new Float64Array(shape.reduce((a, b) => a * b, 1)), shape }));
      t.throws(() => model.predict(x), { message: new RegExp(`predict: the model takes \\[batch, 4,4,2\\], got a private input of shape \\[${shape}\\]$`) });
    }
    const data = Float64Array.from({ length: 64 }, () => Math.random() * 2 - 1);
    const got = (await tfe.defineOutput('prediction-client', model.predict(model.defineInput('prediction-client', () => ({ data, shape: [2, 4, 4, 2] }))))).data;
    const want: number[] = Array.from(m.predict(tf.tensor(Array.from(data), [2, 4, 4, 2])).dataSync());
    t.true(want.every((w, i) => Math.abs(got[i] - w) < 1e-3), `${[...got]} vs ${want}`);
  } finally {
    await c.close();
  }
});

test('the plaintext model refuses a LayerNormalization over another axis than the last; over the last it matches tfjs', async (t) => {
  const x = Float64Array.from({ length: 12 }, () => Math.random() * 4 - 2);
  const bad = tf.sequential({ layers: [L.layerNormalization({ inputShape: [3, 4], axis: 1, name: 'ln' }), L.flatten()] });
  const badArtifacts = await artifactsOf(bad);
  t.throws(() => tfe.loadPlainModel(badArtifacts).forward({ data: x, shape: [1, 3, 4] }), { message: /layer 'ln'.*axis = 1 is not the last axis of its rank-3 input/ });
  const good = tf.sequential({ layers: [L.layerNormalization({ inputShape: [3, 4], axis: -1 }), L.flatten()] });
  const got = tfe.loadPlainModel(await artifactsOf(good)).forward({ data: x, shape: [1, 3, 4] }).data;
  const want: number[] = Array.from(good.predict(tf.tensor(Array.from(x), [1, 3, 4])).dataSync());
  t.true(want.every((w, i) => Math.abs(got[i] - w) < 1e-4), `${[...got]} vs ${want}`);
});
