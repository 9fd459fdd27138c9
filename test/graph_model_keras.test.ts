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
// Also the recurrent layers with unroll=True of unrolled_gen.py (graph_model_unrolled.ts), and
// outputs ending with Exp or LogSoftmax (final_gen.py: the client applies them), and TensorFlow 1's
// resizes with aligned corners or the legacy rule (resize_gen.py), and 3-D convolutions and pools on
// volumes (volume_gen.py).
import test from 'ava';

import * as tfe from '../lib';
import { graphArtifacts, readGraphFixtures, withFinalActivation } from './helpers/graph_fixtures';

// (unrolled_gen.py: recurrent layers with unroll=True; final_gen.py: exponential and log_softmax
// outputs; resize_gen.py: tf.compat.v1.image.resize_* with align_corners, or neither it nor
// half-pixel centres.)
const FIXTURES = {
  ...readGraphFixtures('graph_models.json'),
  ...readGraphFixtures('unrolled_graph_models.json'),
  ...readGraphFixtures('final_graph_models.json'),
  ...readGraphFixtures('resize_graph_models.json'),
  ...readGraphFixtures('volume_graph_models.json'),
};
const artifacts = (f: { model: Parameters<typeof graphArtifacts>[0] }) => graphArtifacts(f.model);

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
      const got = withFinalActivation(y.data, m.finalActivation, f.y.length / f.shape[0]);
      const err = Math.max(...f.y.map((v, i) => Math.abs(got[i] - v)));
      t.true(err < 5e-3, `private: max |ours - Keras| = ${err}`);
    } finally {
      await c.close();
    }
  });
}
