// Embedding(mask_zero=True): the recurrent layers after it skip the padding (token id 0), carrying
// their state over it, as TensorFlow.js computes it (lib/api/layers_mask.ts). The mask is built
// from the shared one-hot (1 - its column for id 0): the servers never see which positions are
// padding. Against tfjs's own model.predict on pre-, post- and interleaved padding and an
// all-padding row, privately (default protocol, FSS) and in the float64 plaintext, in process
// and through the service; and the refusals where tfjs and Keras would compute differently.
import { createRequire } from 'node:module';

import test from 'ava';

import * as tfe from '../lib';
import { clusterForFile } from './helpers/service';
import { expectRowsMatch } from './helpers/tfjs_compare';
import { tfjsArtifacts } from './helpers/tfjs_save';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tf: any = createRequire(__filename)('@tensorflow/tfjs');
const L = () => tf.layers;
const cluster = clusterForFile(test);

const T = 6, V = 12;
const ROWS = [
  [3, 4, 5, 0, 0, 0], // post-padding
  [0, 0, 0, 3, 4, 5], // pre-padding: the same answer as the row above for a forward RNN
  [1, 0, 2, 0, 11, 7], // padding between tokens
  [0, 0, 0, 0, 0, 0], // all padding: the zero state
  [7, 8, 9, 10, 11, 1],
];

/** ids [T] -> Embedding(mask_zero) -> `body` -> Dense(3, `out`). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function masked(body: (x: any) => any, out = 'linear'): any {
  const ids = tf.input({ shape: [T], name: 'tokens' });
  const e = L().embedding({ inputDim: V, outputDim: 4, maskZero: true, embeddingsInitializer: tf.initializers.randomUniform({ minval: -2, maxval: 2 }) }).apply(ids);
  return tf.model({ inputs: ids, outputs: L().dense({ units: 3, activation: out }).apply(body(e)) });
}

const CASES: { name: string; protocol?: 'fss'; build: () => unknown }[] = [
  { name: 'LSTM', build: () => masked((x) => L().lstm({ units: 3 }).apply(x), 'softmax') },
  { name: 'GRU going backwards', build: () => masked((x) => L().gru({ units: 3, goBackwards: true }).apply(x)) },
  { name: 'SimpleRNN after dropout and a per-step Dense', build: () => masked((x) => L().simpleRNN({ units: 3 }).apply(L().dense({ units: 5, activation: 'tanh' }).apply(L().dropout({ rate: 0.3 }).apply(x)))) },
  { name: 'stacked: LSTM returning sequences, then GRU', build: () => masked((x) => L().gru({ units: 2 }).apply(L().lstm({ units: 3, returnSequences: true }).apply(x))) },
  { name: 'Bidirectional LSTM under FSS', protocol: 'fss', build: () => masked((x) => L().bidirectional({ layer: L().lstm({ units: 2 }) }).apply(x), 'sigmoid') },
  { name: 'a masked sequence as the output (the carried state at masked steps)', build: () => masked((x) => L().gru({ units: 2, returnSequences: true }).apply(x)) },
  { name: 'BatchNormalization and LeakyReLU before the LSTM (per-position: both frameworks pass the mask)', build: () => masked((x) => L().lstm({ units: 3 }).apply(L().leakyReLU({ alpha: 0.2 }).apply(L().batchNormalization({}).apply(x)))) },
  { name: 'two LSTMs on one mask, their sequences concatenated, then a GRU', build: () => masked((x) => L().gru({ units: 2 }).apply(L().concatenate().apply([L().lstm({ units: 2, returnSequences: true }).apply(x), L().simpleRNN({ units: 2, returnSequences: true }).apply(x)]))) },
];

for (const c of CASES)
  test(`mask_zero: ${c.name} skips the padding as tfjs does`, async (t) => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const model: any = c.build();
    const want: number[][] = model.predict(tf.tensor2d(ROWS)).reshape([ROWS.length, -1]).arraySync();
    const artifacts = await tfjsArtifacts(tf, model);
    const plain = tfe.loadPlainModel(artifacts);
    expectRowsMatch(t, plain.forward(ROWS).data, want, plain.finalActivation, 1e-4);
    const cl = new tfe.Cluster(c.protocol ? { protocol: c.protocol } : {});
    try {
      const m = tfe.loadLayersModel(artifacts, { cluster: cl });
      const out = await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => ROWS)));
      expectRowsMatch(t, out.data, want, m.finalActivation);
    } finally {
      await cl.close();
    }
  });

test.serial('mask_zero through the service: a Bidirectional GRU text classifier answers as tfjs', async (t) => {
  const model = masked((x) => L().bidirectional({ layer: L().gru({ units: 3 }) }).apply(x), 'softmax');
  const want: number[][] = model.predict(tf.tensor2d(ROWS)).arraySync();
  const owner = await cluster().connect({ asOwner: true });
  const client = await cluster().connect();
  try {
    await owner.deploy(await tfjsArtifacts(tf, model), { name: 'masked-text' });
    const p = await client.predict('masked-text', ROWS);
    want.forEach((w, r) => t.true(w.every((v, j) => Math.abs(p.outputs[r * 3 + j] - v) < 1e-2), `row ${r}: ${[...p.outputs.subarray(r * 3, r * 3 + 3)]} vs tfjs ${w}`));
    // What each server sends does not depend on where the padding is: all padding, none, half.
    const sent = async (row: number[]) => (await client.predict('masked-text', [row], { last: true })).serverTraffic.map((s) => [s.bytes, s.messages, s.rounds]);
    const none = await sent([5, 6, 7, 8, 9, 10]);
    t.deepEqual(await sent([0, 0, 0, 0, 0, 0]), none);
    t.deepEqual(await sent([5, 0, 7, 0, 9, 0]), none);
  } finally {
    await Promise.all([owner.close(), client.close()]);
  }
});

test('a mask where tfjs and Keras would compute differently is refused, naming the layer', async (t) => {
  const c = new tfe.Cluster();
  t.teardown(() => c.close());
  const load = async (model: unknown, patch?: (topo: { config: { layers: { class_name: string; config: Record<string, unknown> }[] } }) => void) => {
    const a = await tfjsArtifacts(tf, model);
    patch?.(a.modelTopology as never);
    return () => tfe.loadLayersModel(a, { cluster: c });
  };
  // A masked mean in Keras, a plain one in tfjs.
  t.throws(await load(masked((x) => L().globalAveragePooling1d({}).apply(x))), { message: /\(GlobalAveragePooling1D\): reads the padding mask of Embedding '.*' \(mask_zero = true\), which Keras applies here and tfjs does not/ });
  // Through a convolution, which tfjs passes the mask through and Keras does not.
  t.throws(await load(masked((x) => L().lstm({ units: 2 }).apply(L().conv1d({ filters: 3, kernelSize: 2, padding: 'same' }).apply(x)))), { message: /\(LSTM\): may or may not get the padding mask of Embedding .* it comes through 'conv1d/ });
  // Keras 2's zero_output_for_mask on a masked sequence returned: zeros in Keras, the carried state in tfjs.
  const seq = () => {
    const ids = tf.input({ shape: [T] });
    const e = L().embedding({ inputDim: V, outputDim: 4, maskZero: true }).apply(ids);
    return tf.model({ inputs: ids, outputs: L().lstm({ units: 2, returnSequences: true }).apply(e) });
  };
  t.throws(await load(seq(), (topo) => void (topo.config.layers.find((l) => l.class_name === 'LSTM')!.config.zero_output_for_mask = true)), { message: /the model's output reads the masked sequence of '.*', whose padded steps Keras sets to zero/ });
  t.throws(await load(seq(), (topo) => void (topo.config.layers.find((l) => l.class_name === 'Embedding')!.config.mask_zero = 'yes')), { message: /mask_zero = "yes" is not true or false/ });
  // Zeroed padded steps read by a per-step Dense: Keras's zeros and tfjs's carried state differ there too.
  const tagger = (bidirectional: boolean) => {
    const ids = tf.input({ shape: [T] });
    const e = L().embedding({ inputDim: V, outputDim: 4, maskZero: true }).apply(ids);
    const rnn = bidirectional ? L().bidirectional({ layer: L().lstm({ units: 2, returnSequences: true }) }) : L().lstm({ units: 2, returnSequences: true });
    return tf.model({ inputs: ids, outputs: L().timeDistributed({ layer: L().dense({ units: 3, activation: 'softmax' }) }).apply(rnn.apply(e)) });
  };
  // (A per-position layer passes such a sequence on: refused where the model returns it.)
  t.throws(await load(tagger(false), (topo) => void (topo.config.layers.find((l) => l.class_name === 'LSTM')!.config.zero_output_for_mask = true)), { message: /the model's output reads the masked sequence of '.*', whose padded steps Keras sets to zero/ });
  // Keras's Bidirectional zeroes them with return_sequences without saying so in its config: a model Keras saved is refused, tfjs's loads.
  t.throws(await load(tagger(true), (topo) => void ((topo as unknown as { keras_version: string }).keras_version = '2.15.0')), { message: /the model's output reads the masked sequence of 'bidirectional/ });
  t.notThrows(await load(tagger(true)));
  // tfjs hands a later unmasked recurrent layer the mask an earlier one left; Keras does not.
  const ids = tf.input({ shape: [T] }), series = tf.input({ shape: [T, 2] });
  const text = L().lstm({ units: 2 }).apply(L().embedding({ inputDim: V, outputDim: 4, maskZero: true }).apply(ids));
  const both = tf.model({ inputs: [ids, series], outputs: L().dense({ units: 1 }).apply(L().concatenate().apply([text, L().simpleRNN({ units: 2, name: 'numbers_rnn' }).apply(series)])) });
  t.throws(await load(both), { message: /layer 'numbers_rnn' \(SimpleRNN\): gets no padding mask here, but TensorFlow.js hands every recurrent layer after a masked one the mask/ });
});
