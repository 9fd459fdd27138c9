// Conv1D with padding 'causal' (Keras: (kernel - 1) x dilation zeros before the first step, so
// that output t reads steps up to t only; temporal convolution networks, WaveNet). TensorFlow.js
// declares the layer but does not run it, so such models come from Keras: here tfjs builds the
// layers with 'valid' padding (same weights) and the saved model.json is patched to 'causal'. The
// reference is tfjs-core's own pad and dilated conv1d, in float32, on the saved weights.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';

import test from 'ava';

import * as tfe from '../lib';
import { expectRowsMatch } from './helpers/tfjs_compare';
import { saveTfjsModel } from './helpers/tfjs_save';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tf: any = createRequire(__filename)('@tensorflow/tfjs');

const STEPS = 12, CH = 2;
// kernel, filters, dilation, stride, activation: dilated, then a kernel of 2, then strided.
const CONVS = [
  { k: 3, f: 3, d: 2, s: 1, relu: true },
  { k: 2, f: 4, d: 1, s: 1, relu: false },
  { k: 3, f: 2, d: 1, s: 2, relu: false },
];

async function causalModel(): Promise<string> {
  const model = tf.sequential({
    layers: CONVS.map((c, i) =>
      tf.layers.conv1d({
        ...(i === 0 ? { inputShape: [STEPS, CH] } : {}),
        filters: c.f,
        kernelSize: c.k,
        dilationRate: c.d,
        strides: c.s,
        activation: c.relu ? 'relu' : 'linear',
        biasInitializer: 'randomNormal',
      }),
    ),
  });
  const file = await saveTfjsModel(tf, model, 'tfe-causal-');
  const json = JSON.parse(fs.readFileSync(file, 'utf8'));
  for (const l of json.modelTopology.config.layers) l.config.padding = 'causal';
  fs.writeFileSync(file, JSON.stringify(json));
  return file;
}

/** tfjs-core: left-pad each convolution's input by (k - 1) d, then a VALID dilated conv1d. */
function reference(file: string, x: Float32Array, batch: number): number[][] {
  const json = JSON.parse(fs.readFileSync(file, 'utf8'));
  const bytes = fs.readFileSync(file.replace(/model\.json$/, 'weights.bin'));
  const all = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  let at = 0;
  const w = json.weightsManifest[0].weights.map((s: { shape: number[] }) => {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const t = tf.tensor(all.slice(at, at + n), s.shape);
    at += n;
    return t;
  });
  let y = tf.tensor(x, [batch, STEPS, CH]);
  CONVS.forEach((c, i) => {
    const padded = tf.pad(y, [[0, 0], [(c.k - 1) * c.d, 0], [0, 0]]);
    const z = tf.add(tf.conv1d(padded, w[2 * i], c.s, 'valid', 'NWC', c.d), w[2 * i + 1]);
    y = c.relu ? tf.relu(z) : z;
  });
  return y.reshape([batch, -1]).arraySync();
}

test("Conv1D with padding 'causal' (dilated, strided) computes Keras's causal convolution, privately and in the plaintext model", async (t) => {
  const file = await causalModel();
  const batch = 6;
  const x = Float32Array.from({ length: batch * STEPS * CH }, () => Math.random() * 4 - 2);
  const want = reference(file, x, batch);
  t.is(want[0].length, 6 * 2, 'output [6 steps, 2 filters]: causal keeps the length (12), the stride halves it');
  const plain = tfe.loadPlainModel(file).forward({ data: Float64Array.from(x), shape: [batch, STEPS, CH] });
  t.deepEqual(plain.shape, [batch, 6, 2]);
  for (let r = 0; r < batch; r++)
    for (let j = 0; j < 12; j++) t.true(Math.abs(plain.data[r * 12 + j] - want[r][j]) < 1e-4, `plain row ${r}, value ${j}`);
  const c = new tfe.Cluster(); // default options
  try {
    const m = tfe.loadLayersModel(file, { cluster: c });
    const input = tfe.definePrivateInput('prediction-client', () => ({ data: x, shape: [batch, STEPS, CH] }), c);
    const out = await tfe.defineOutput('prediction-client', m.predict(input));
    expectRowsMatch(t, out.data, want, m.finalActivation);
  } finally {
    await c.close();
  }
});

test("causal padding is Conv1D's only: a Conv2D or a pool saying 'causal' is refused, naming the setting", (t) => {
  for (const [cls, extra] of [
    ['Conv2D', { filters: 2, kernel_size: [3, 3] }],
    ['MaxPooling1D', { pool_size: 2 }],
  ] as const) {
    const layers = [{ class_name: cls, config: { name: 'l', padding: 'causal', batch_input_shape: cls === 'Conv2D' ? [null, 6, 6, 1] : [null, 8, 2], ...extra } }];
    const weightSpecs = cls === 'Conv2D' ? [{ name: 'l/kernel', shape: [3, 3, 1, 2], dtype: 'float32' as const }, { name: 'l/bias', shape: [2], dtype: 'float32' as const }] : [];
    const artifacts = { modelTopology: { class_name: 'Sequential', config: { name: 's', layers } }, weightSpecs, weightData: new Float32Array(cls === 'Conv2D' ? 20 : 0).buffer };
    t.throws(() => tfe.loadPlainModel(artifacts as unknown as tfe.ModelArtifacts), { message: new RegExp(`\\(${cls}\\): padding = "causal" is not supported`) }, cls);
  }
});
