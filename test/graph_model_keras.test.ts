// GraphModels made from real Keras 3 models as tensorflowjs_converter makes them (frozen, then
// TensorFlow's grappler with the converter's passes: test/fixtures/graph_models/gen.py), against
// Keras's own predict: a CNN (Rescaling, a folded batch norm, relu6, depthwise and separable
// convolutions, a residual sum, Flatten, Dropout), a U-Net-like net (leaky relu, average pooling,
// zero padding, bilinear upsampling, a transposed convolution, a concatenation, global pooling, a
// sigmoid output), Dense layers on a sequence (TensorFlow's tensordot), and normalisations that
// reach the graph as primitive ops (LayerNormalization with and without a shift, RMSNormalization,
// tf.nn.moments with tf.nn.batch_normalization), and a transformer's feed-forward block (the exact
// gelu as Erfc, the tanh approximation, a residual sum, a LayerNormalization), and a text model
// (token ids into an Embedding, a Conv1D, global max and average pooling over the steps), and a
// transformer encoder block (a learned positional embedding, self-attention as Einsums,
// LayerNormalizations, a gelu feed-forward), and slices of a sequence (x[:, 0], x[:, -1, :],
// x[..., 1:7:2], x[:, 1:4]), and a decoder block (causal self-attention: bool constants, a band).
import * as fs from 'node:fs';
import * as path from 'node:path';

import test from 'ava';

import * as tfe from '../lib';

interface Fixture {
  model: { modelTopology: unknown; weightSpecs: unknown[]; weightData: string; format: string; signature: unknown };
  x: number[];
  shape: number[];
  y: number[];
  ops: string[];
}
const FIXTURES: Record<string, Fixture> = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'test', 'fixtures', 'graph_models', 'graph_models.json'), 'utf8'));

const artifacts = (f: Fixture): tfe.ModelArtifacts => {
  const bytes = Buffer.from(f.model.weightData, 'base64');
  return { ...f.model, weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) } as unknown as tfe.ModelArtifacts;
};

const final = (y: Float64Array, f: 'softmax' | 'sigmoid' | undefined, n: number): Float64Array => {
  if (f === 'sigmoid') return y.map((v) => 1 / (1 + Math.exp(-v)));
  if (f !== 'softmax') return y;
  const out = new Float64Array(y.length);
  for (let r = 0; r < y.length; r += n) {
    const row = y.subarray(r, r + n), top = Math.max(...row), e = row.map((v) => Math.exp(v - top)), s = e.reduce((a, v) => a + v, 0);
    e.forEach((v, k) => (out[r + k] = v / s));
  }
  return out;
};

for (const [name, f] of Object.entries(FIXTURES)) {
  test(`Keras 3 ${name} as a GraphModel (${f.ops.filter((o) => o !== 'Const').join(', ')}): Keras's answers, in plaintext and privately`, async (t) => {
    const x = Float64Array.from(f.x);
    const plain = tfe.loadPlainModel(artifacts(f)).predict({ data: x, shape: f.shape }) as { data: Float64Array };
    const errPlain = Math.max(...f.y.map((v, i) => Math.abs(plain.data[i] - v)));
    t.true(errPlain < 1e-4, `plaintext: max |ours - Keras| = ${errPlain}`);
    const c = new tfe.Cluster({ protocol: 'securenn' });
    try {
      const m = tfe.loadLayersModel(artifacts(f), { cluster: c });
      // (defineInput: a text model's ids are shared one-hot)
      const y = await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => ({ data: x, shape: f.shape }))));
      const got = final(y.data, m.finalActivation, f.y.length / f.shape[0]);
      const err = Math.max(...f.y.map((v, i) => Math.abs(got[i] - v)));
      t.true(err < 5e-3, `private: max |ours - Keras| = ${err}`);
    } finally {
      await c.close();
    }
  });
}
