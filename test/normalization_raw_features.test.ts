// BatchNormalization, Keras's Normalization and Rescaling on raw, unscaled features (a
// structured-data model's first layer), from a review against TensorFlow.js's own predict: the
// normalisations' folded scale 1/sigma was shared at 16 fractional bits, so 1/20000 became
// 3/65536 (8% off) and the outputs were off by up to |x| 2^-17 (0.38 here); it now travels with
// the part its encoding rounds away (layers_spec.ts scaleLow). Rescaling's public scale 1/10000
// was 7/65536 (0.82 off); small constants now take more bits (ops_nonlinear.ts mulConstant). Under
// every protocol; the references are tf.predict and the test's own arithmetic.
import { createRequire } from 'node:module';

import test from 'ava';

import * as tfe from '../lib';
import { PROTOCOLS } from '../lib/protocol/protocols';
import { tfjsArtifacts } from './helpers/tfjs_save';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tf: any = createRequire(__filename)('@tensorflow/tfjs');
const L = tf.layers;

// Income, area, age: means and spreads of very different sizes.
const MEAN = [50000, 2000, 40], SD = [20000, 800, 12];
const KERNEL = [1, 0, 0, 1, 0.5, 0.5];
/** Rows of raw features around MEAN, to 3 sigma, with edge rows at +-4 sigma. */
function rows(n: number): Float64Array {
  const out: number[] = [];
  for (let r = 0; r < n; r++) for (let j = 0; j < 3; j++) out.push(MEAN[j] + SD[j] * (r === 0 ? 4 : r === 1 ? -4 : (Math.random() * 2 - 1) * 3));
  return Float64Array.from(out);
}

async function predictPrivately(protocol: (typeof PROTOCOLS)[number], artifacts: tfe.ModelArtifacts, x: Float64Array, n: number): Promise<Float64Array> {
  const c = new tfe.Cluster({ protocol });
  try {
    const m = tfe.loadLayersModel(artifacts, { cluster: c });
    return (await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => ({ data: x, shape: [n, 3] }))))).data;
  } finally {
    await c.close();
  }
}

test('BatchNormalization on raw features predicts as tfjs does, under every protocol', async (t) => {
  const m = tf.sequential({ layers: [L.batchNormalization({ inputShape: [3] }), L.dense({ units: 2 })] });
  m.layers[0].setWeights([tf.tensor([1, 1, 1]), tf.tensor([0, 0, 0]), tf.tensor(MEAN), tf.tensor(SD.map((s) => s * s))]);
  m.layers[1].setWeights([tf.tensor(KERNEL, [3, 2]), tf.tensor([0, 0])]);
  const artifacts = await tfjsArtifacts(tf, m);
  const n = 8, x = rows(n);
  const want: number[] = Array.from(m.predict(tf.tensor(Array.from(x), [n, 3])).dataSync());
  for (const protocol of PROTOCOLS) {
    const got = await predictPrivately(protocol, artifacts, x, n);
    const worst = Math.max(...want.map((w, i) => Math.abs(got[i] - w)));
    t.true(worst < 3e-3, `${protocol}: max |private - tfjs| ${worst}`);
  }
});

test("Keras's Normalization on raw features predicts as its formula says, under every protocol", async (t) => {
  const variance = SD.map((s) => s * s);
  const artifacts: tfe.ModelArtifacts = {
    modelTopology: {
      class_name: 'Sequential',
      keras_version: '2.15.0',
      config: {
        layers: [
          { class_name: 'InputLayer', config: { batch_input_shape: [null, 3], dtype: 'float32', name: 'in' } },
          { class_name: 'Normalization', config: { name: 'normalization', trainable: true, dtype: 'float32', axis: [-1], mean: null, variance: null, invert: false } },
          { class_name: 'Dense', config: { name: 'dense', trainable: true, dtype: 'float32', units: 2, activation: 'linear', use_bias: true } },
        ],
      },
    },
    weightSpecs: [
      { name: 'normalization/mean', shape: [3], dtype: 'float32' },
      { name: 'normalization/variance', shape: [3], dtype: 'float32' },
      { name: 'normalization/count', shape: [], dtype: 'float32' },
      { name: 'dense/kernel', shape: [3, 2], dtype: 'float32' },
      { name: 'dense/bias', shape: [2], dtype: 'float32' },
    ],
    weightData: Float32Array.from([...MEAN, ...variance, 1000, ...KERNEL, 0, 0]).buffer,
  };
  const n = 8, x = rows(n);
  // (x - mean) / sqrt(variance), then the Dense layer: the test's own arithmetic.
  const want: number[] = [];
  for (let r = 0; r < n; r++) {
    const z = [0, 1, 2].map((j) => (x[r * 3 + j] - MEAN[j]) / Math.sqrt(Math.fround(variance[j])));
    want.push(z[0] + 0.5 * z[2], z[1] + 0.5 * z[2]);
  }
  for (const protocol of PROTOCOLS) {
    const got = await predictPrivately(protocol, artifacts, x, n);
    const worst = Math.max(...want.map((w, i) => Math.abs(got[i] - w)));
    t.true(worst < 3e-3, `${protocol}: max |private - formula| ${worst}`);
  }
});

test('Rescaling by a small scale, with and without an offset, predicts as tfjs does, under every protocol', async (t) => {
  for (const [scale, offset, x] of [
    [1 / 10000, 0, [12000, -8000, 25000, 3000, 30000, 30000, -30000, 30000]],
    [1 / 3000, -1, [3000, 6000, 1500, 9000, 100, 200, 300, 400]],
  ] as const) {
    const m = tf.sequential({ layers: [L.rescaling({ inputShape: [4], scale, offset }), L.dense({ units: 2, kernelInitializer: 'ones' })] });
    const artifacts = await tfjsArtifacts(tf, m);
    const want: number[] = Array.from(m.predict(tf.tensor(Array.from(x), [2, 4])).dataSync());
    for (const protocol of PROTOCOLS) {
      const c = new tfe.Cluster({ protocol });
      try {
        const model = tfe.loadLayersModel(artifacts, { cluster: c });
        const got = (await tfe.defineOutput('prediction-client', model.predict(model.defineInput('prediction-client', () => ({ data: Float64Array.from(x), shape: [2, 4] }))))).data;
        // The constant keeps 10 significant bits (ops_nonlinear.ts CONSTANT_BITS): within 2^-10 of each output, and the rounding.
        const worst = Math.max(...want.map((w, i) => Math.abs(got[i] - w) - Math.abs(w) * 2 ** -10));
        t.true(worst < 2e-3, `scale ${scale}, ${protocol}: max |private - tfjs| - |tfjs| 2^-10 = ${worst}`);
      } finally {
        await c.close();
      }
    }
  }
});
