// Keras's Conv1DTranspose (tfjs has none): a Conv2DTranspose over a height-1 image in its
// sub-pixel form, as Keras computes it (its output length from padding, strides and
// output_padding). Against tfjs's conv2dTranspose op given Keras's output shape, privately
// (SecureNN, FSS) and in the float64 plaintext.
import { createRequire } from 'node:module';

import test from 'ava';

import * as tfe from '../lib';
import { rnd } from './helpers/model_files';
import { expectRowsMatch } from './helpers/tfjs_compare';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tf: any = createRequire(__filename)('@tensorflow/tfjs');

const T = 7, C = 3, F = 4;

/** Keras's conv_utils.deconv_output_length. */
function outLength(k: number, s: number, padding: 'same' | 'valid', op: number | null): number {
  if (op === null) return padding === 'valid' ? T * s + Math.max(k - s, 0) : T * s;
  return (T - 1) * s + k - 2 * (padding === 'same' ? Math.floor(k / 2) : 0) + op;
}

const CASES: { k: number; s: number; padding: 'same' | 'valid'; op: number | null; protocol?: 'fss' }[] = [
  { k: 3, s: 2, padding: 'valid', op: null },
  { k: 3, s: 2, padding: 'same', op: null, protocol: 'fss' },
  { k: 4, s: 2, padding: 'same', op: 1 },
  { k: 3, s: 3, padding: 'valid', op: 2 },
  { k: 2, s: 1, padding: 'same', op: null },
];

for (const cs of CASES)
  test(`Conv1DTranspose kernel ${cs.k}, strides ${cs.s}, padding ${cs.padding}, output_padding ${cs.op}${cs.protocol ? ', FSS' : ''}: as Keras computes it`, async (t) => {
    const L = outLength(cs.k, cs.s, cs.padding, cs.op);
    const kernel = rnd(cs.k * F * C, 0.6), bias = rnd(F, 0.2), wd = rnd(L * F * 2, 0.3), bd = rnd(2, 0.1);
    const modelTopology = {
      class_name: 'Sequential',
      keras_version: '3.10.0',
      config: {
        name: 's',
        layers: [
          { class_name: 'InputLayer', config: { name: 'in', batch_shape: [null, T, C] } },
          { class_name: 'Conv1DTranspose', config: { name: 'up', filters: F, kernel_size: [cs.k], strides: [cs.s], padding: cs.padding, output_padding: cs.op === null ? null : [cs.op], data_format: 'channels_last', dilation_rate: [1], activation: 'tanh', use_bias: true } },
          { class_name: 'Flatten', config: { name: 'flat' } },
          { class_name: 'Dense', config: { name: 'd', units: 2 } },
        ],
      },
    };
    const a = { modelTopology, weightSpecs: [{ name: 'up/kernel', shape: [cs.k, F, C] }, { name: 'up/bias', shape: [F] }, { name: 'd/kernel', shape: [L * F, 2] }, { name: 'd/bias', shape: [2] }].map((w) => ({ ...w, dtype: 'float32' })), weightData: new Float32Array([...kernel, ...bias, ...wd, ...bd]).buffer } as unknown as tfe.ModelArtifacts;
    const x = Float64Array.from({ length: 3 * T * C }, () => Math.random() * 2 - 1);
    const want: number[][] = tf.tidy(() => {
      const y = tf.conv2dTranspose(tf.tensor4d(Array.from(x), [3, 1, T, C]), tf.tensor4d(kernel, [1, cs.k, F, C]), [3, 1, L, F], [1, cs.s], cs.padding);
      return tf.matMul(tf.tanh(y.add(tf.tensor1d(bias))).reshape([3, L * F]), tf.tensor2d(wd, [L * F, 2])).add(tf.tensor1d(bd)).arraySync();
    });
    expectRowsMatch(t, tfe.loadPlainModel(a).forward({ data: x, shape: [3, T, C] }).data, want, undefined, 1e-4);
    const c = new tfe.Cluster(cs.protocol ? { protocol: cs.protocol } : {});
    try {
      const m = tfe.loadLayersModel(a, { cluster: c });
      expectRowsMatch(t, (await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => ({ data: x, shape: [3, T, C] }))))).data, want, undefined, 1e-2);
    } finally {
      await c.close();
    }
  });
