// ThresholdedReLU (tfjs's and Keras 2's: x where x > theta, else 0), against tfjs's own predict on
// values at, just above and just below theta (one fixed-point unit apart), random values, and
// after a convolution and before a max pool; exact protocols only.
import { createRequire } from 'node:module';

import test from 'ava';

import * as tfe from '../lib';
import { tfjsArtifacts } from './helpers/tfjs_save';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tf: any = createRequire(__filename)('@tensorflow/tfjs');

const U = 2 ** -16;

test('ThresholdedReLU: 0 at theta, x one unit above it, as tfjs, privately (SecureNN, FSS) and in plaintext; Pond refuses it', async (t) => {
  const L = tf.layers;
  for (const theta of [0.5, 1, 0, 0.3]) {
    const m = tf.sequential({ layers: [L.thresholdedReLU({ theta, inputShape: [12] })] });
    const a = (await tfjsArtifacts(tf, m)) as tfe.ModelArtifacts;
    // Values on the fixed-point grid (what the input's encoding gives: 0.3 itself is not on it, and
    // is encoded a little above 0.3): theta's nearest and a unit either side, 0, negatives, large values.
    const near = (v: number) => Math.round(v / U) * U;
    const x = Float64Array.from([near(theta), near(theta) + U, near(theta) - U, near(theta) + 2 * U, 0, -U, -3, 7.25, 1e3, -1e3, near(theta + 0.25), near(theta - 0.25)]);
    // (tfjs computes x * [x > theta]: -0 below theta for a negative x.)
    const want: number[] = Array.from(m.predict(tf.tensor2d([Array.from(x)])).dataSync(), (v: number) => (v === 0 ? 0 : v));
    const plain = tfe.loadPlainModel(a).predict({ data: x, shape: [1, 12] });
    t.deepEqual(Array.from(plain.data, (v) => Math.fround(v)), want, `theta ${theta}: plaintext`);
    for (const protocol of ['securenn', 'fss'] as const) {
      const c = new tfe.Cluster({ protocol });
      try {
        const out = await tfe.defineOutput('prediction-client', tfe.loadLayersModel(a, { cluster: c }).predict(tfe.definePrivateInput('prediction-client', () => ({ data: x, shape: [1, 12] }), c)));
        out.data.forEach((v, i) => t.true(Math.abs(v - want[i]) <= 2 * U, `theta ${theta}, ${protocol}: x = ${x[i]}: ${v} vs tfjs ${want[i]}`));
      } finally {
        await c.close();
      }
    }
  }
  const pond = new tfe.Cluster({ protocol: 'pond' });
  try {
    const a = (await tfjsArtifacts(tf, tf.sequential({ layers: [L.thresholdedReLU({ inputShape: [3] })] }))) as tfe.ModelArtifacts;
    t.throws(() => tfe.loadLayersModel(a, { cluster: pond }), { message: /ThresholdedReLU.*(exact protocol|securenn)/ });
  } finally {
    await pond.close();
  }
});

test('ThresholdedReLU after a convolution and before a max pool (which it may follow: non-decreasing) predicts as tfjs', async (t) => {
  const L = tf.layers;
  const m = tf.sequential({ layers: [L.conv2d({ filters: 4, kernelSize: 3, inputShape: [8, 8, 2], biasInitializer: 'randomNormal' }), L.thresholdedReLU({ theta: 0.2 }), L.maxPooling2d({ poolSize: 2 }), L.flatten(), L.dense({ units: 3 })] });
  const a = (await tfjsArtifacts(tf, m)) as tfe.ModelArtifacts;
  const x = Float64Array.from({ length: 2 * 8 * 8 * 2 }, () => 4 * Math.random() - 2);
  const want: number[] = Array.from(m.predict(tf.tensor(Array.from(x), [2, 8, 8, 2])).dataSync());
  const c = new tfe.Cluster({ protocol: 'fss' });
  try {
    const out = await tfe.defineOutput('prediction-client', tfe.loadLayersModel(a, { cluster: c }).predict(tfe.definePrivateInput('prediction-client', () => ({ data: x, shape: [2, 8, 8, 2] }), c)));
    const err = Math.max(...want.map((v, i) => Math.abs(out.data[i] - v)));
    t.true(err < 2e-3, `max |private - tfjs| = ${err}`);
  } finally {
    await c.close();
  }
});
