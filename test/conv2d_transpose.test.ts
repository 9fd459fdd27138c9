// Conv2DTranspose with Keras's output_padding (tfjs's layer has no such setting: Keras writes it),
// privately and in the plaintext model, against tfjs-core's conv2dTranspose given the output
// shape Keras computes (TensorFlow's semantics: the gradient of a convolution). tfjs builds the
// layer without output_padding (same weights) and the saved model.json is patched. Also what is
// refused: dilation (tfjs ignores it, Keras applies it), output_padding at or above the stride, and
// an output_padding whose output TensorFlow would refuse.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';

import test from 'ava';

import * as tfe from '../lib';
import { expectRowsMatch } from './helpers/tfjs_compare';
import { estimateQueryBytes } from '../lib/serve/limits';
import { saveTfjsModel } from './helpers/tfjs_save';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tf: any = createRequire(__filename)('@tensorflow/tfjs');

interface Case { k: [number, number]; s: [number, number]; padding: 'same' | 'valid'; op: [number, number]; out: [number, number] }
const IN: [number, number, number] = [4, 5, 2];
const CASES: Case[] = [
  // (len - 1) s + k - 2 floor(k / 2) + op (SAME), (len - 1) s + k + op (VALID): Keras's lengths.
  { k: [3, 3], s: [2, 2], padding: 'same', op: [1, 1], out: [8, 10] },
  { k: [4, 2], s: [2, 3], padding: 'same', op: [1, 2], out: [7, 14] },
  { k: [3, 2], s: [3, 2], padding: 'valid', op: [2, 1], out: [14, 11] },
];

async function patched(c: Case, patch: Record<string, unknown>): Promise<string> {
  const model = tf.sequential({ layers: [tf.layers.conv2dTranspose({ inputShape: IN, filters: 3, kernelSize: c.k, strides: c.s, padding: c.padding, biasInitializer: 'randomNormal' })] });
  const file = await saveTfjsModel(tf, model, 'tfe-deconv-');
  const json = JSON.parse(fs.readFileSync(file, 'utf8'));
  Object.assign(json.modelTopology.config.layers[0].config, patch);
  fs.writeFileSync(file, JSON.stringify(json));
  return file;
}

function weightsOf(file: string): Float32Array[] {
  const json = JSON.parse(fs.readFileSync(file, 'utf8'));
  const bytes = fs.readFileSync(file.replace(/model\.json$/, 'weights.bin'));
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  let at = 0;
  return json.weightsManifest[0].weights.map((s: { shape: number[] }) => {
    const n = s.shape.reduce((a, b) => a * b, 1);
    return all.slice(at, (at += n));
  });
}

for (const c of CASES)
  test(`Conv2DTranspose kernel [${c.k}] strides [${c.s}] ${c.padding} with output_padding [${c.op}] gives [${c.out}] outputs as TensorFlow computes them`, async (t) => {
    const file = await patched(c, { output_padding: c.op });
    const [kernel, bias] = weightsOf(file);
    const batch = 4;
    const x = Float32Array.from({ length: batch * IN[0] * IN[1] * IN[2] }, () => Math.random() * 4 - 2);
    const ref = tf.add(tf.conv2dTranspose(tf.tensor(x, [batch, ...IN]), tf.tensor(kernel, [...c.k, 3, IN[2]]), [batch, ...c.out, 3], c.s, c.padding), tf.tensor(bias));
    const want: number[][] = ref.reshape([batch, -1]).arraySync();
    const plain = tfe.loadPlainModel(file).forward({ data: Float64Array.from(x), shape: [batch, ...IN] });
    t.deepEqual(plain.shape, [batch, ...c.out, 3]);
    const per = c.out[0] * c.out[1] * 3;
    for (let r = 0; r < batch; r++) t.true(want[r].every((v, j) => Math.abs(plain.data[r * per + j] - v) < 1e-4), `plain row ${r}`);
    const cluster = new tfe.Cluster();
    try {
      const m = tfe.loadLayersModel(file, { cluster });
      const input = tfe.definePrivateInput('prediction-client', () => ({ data: x, shape: [batch, ...IN] }), cluster);
      const out = await tfe.defineOutput('prediction-client', m.predict(input));
      expectRowsMatch(t, out.data, want, m.finalActivation);
    } finally {
      await cluster.close();
    }
  });

test('Conv2DTranspose refuses dilation, output_padding at or above the stride, and an output TensorFlow would refuse', async (t) => {
  const base = CASES[0];
  const cases: [Case, Record<string, unknown>, RegExp][] = [
    [base, { dilation_rate: [2, 2] }, /\(Conv2DTranspose\): dilation_rate \[2,2\]: TensorFlow\.js ignores it and Keras applies it/],
    [base, { output_padding: [2, 1] }, /\(Conv2DTranspose\): output_padding \[2,1\] must be non-negative integers below the strides \[2,2\]/],
    // kernel 4, stride 2, SAME, output_padding 0: 2 (len - 1) outputs, whose SAME convolution has len - 1.
    [{ ...base, k: [4, 4] }, { output_padding: [0, 0] }, /\(Conv2DTranspose\): output_padding 0 gives 6 outputs, whose SAME convolution \(kernel 4, stride 2\) has 3 not 4/],
  ];
  for (const [c, patch, message] of cases) {
    const file = await patched(c, patch);
    const cluster = new tfe.Cluster();
    try {
      const err = await t.throwsAsync(async () => {
        const m = tfe.loadLayersModel(file, { cluster });
        const input = tfe.definePrivateInput('prediction-client', () => ({ data: new Float32Array(2 * 40), shape: [2, ...IN] }), cluster);
        await tfe.defineOutput('prediction-client', m.predict(input));
      });
      t.regex(err?.message ?? '', message);
    } finally {
      await cluster.close();
    }
  }
});

test("the service's memory estimate follows a Conv2DTranspose's output: strides 4 grow it 16-fold", (t) => {
  const topology = (strides: number) => ({
    class_name: 'Sequential',
    config: { layers: [{ class_name: 'Conv2DTranspose', config: { name: 'u', filters: 8, kernel_size: [3, 3], strides: [strides, strides], padding: 'same', batch_input_shape: [null, 16, 16, 4] } }, { class_name: 'Flatten', config: { name: 'f' } }] },
  });
  const est = (strides: number) => estimateQueryBytes({ topology: topology(strides) as never, protocol: 'securenn', inputShape: [16, 16, 4] }, 1);
  // The layer's output alone, 64 x 64 x 8 values, as 8-byte shares: the estimate counts more than that.
  t.true(est(4) - est(1) >= 8 * 8 * (64 * 64 - 16 * 16), `${est(4)} vs ${est(1)}`);
});
