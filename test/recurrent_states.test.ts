// Recurrent layers' states: return_state (a call's outputs 1 and 2: h, and for an LSTM c) and
// initial_state (the decoder of an encoder-decoder starting from the encoder's states), against
// TensorFlow.js's predict: Keras's lstm_seq2seq training model with LSTM, GRU and SimpleRNN, and
// its inference decoder, whose states are model outputs. Privately under the exact protocols, in
// plaintext and through the service; and what is refused. (Real Keras 3 models:
// keras3_state_models.json in keras3_saved_models.test.ts.)
import { createRequire } from 'node:module';

import test from 'ava';

import * as tfe from '../lib';
import { startCluster, type TestCluster } from './helpers/service';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tf: any = createRequire(__filename)('@tensorflow/tfjs');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function artifactsOf(model: any): Promise<tfe.ModelArtifacts> {
  let a: tfe.ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler(async (x: tfe.ModelArtifacts) => ((a = x), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })));
  return a!;
}

const randn = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])));
type Kind = 'lstm' | 'gru' | 'simpleRNN';

/** lstm_seq2seq's training model: the encoder's final states start the decoder; a softmax over 3 classes per step. */
function seq2seq(kind: Kind) {
  const encIn = tf.input({ shape: [5, 3], name: 'encoder_in' }), decIn = tf.input({ shape: [4, 2], name: 'decoder_in' });
  const [, ...states] = tf.layers[kind]({ units: 6, returnState: true, name: 'encoder' }).apply(encIn);
  const [dec] = tf.layers[kind]({ units: 6, returnSequences: true, returnState: true, name: 'decoder' }).apply(decIn, { initialState: states });
  return tf.model({ inputs: [encIn, decIn], outputs: tf.layers.dense({ units: 3, activation: 'softmax', name: 'classes' }).apply(dec) });
}

const inputs = (n: number) => [
  { data: randn(n * 5 * 3), shape: [n, 5, 3] },
  { data: randn(n * 4 * 2), shape: [n, 4, 2] },
];

for (const kind of ['lstm', 'gru', 'simpleRNN'] as const)
  test(`${kind}: an encoder's return_state as the decoder's initial_state, as tfjs predicts; privately (SecureNN, FSS) and in plaintext`, async (t) => {
    const model = seq2seq(kind);
    const a = await artifactsOf(model);
    const xs = inputs(2);
    const want = model.predict(xs.map((x) => tf.tensor(x.data, x.shape))).dataSync() as Float32Array;
    const plain = tfe.loadPlainModel(a);
    t.true(maxDiff(plain.predict(xs).data, want) < 1e-6, 'plaintext');
    for (const protocol of ['securenn', 'fss'] as const) {
      const c = new tfe.Cluster({ protocol });
      try {
        const m = tfe.loadLayersModel(a, { cluster: c });
        const out = tfe.applyFinal(await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => xs))), m.finalActivation);
        t.true(maxDiff(out.data, want) < 1e-3, `${protocol}: ${maxDiff(out.data, want)}`);
      } finally {
        await c.close();
      }
    }
  });

test("lstm_seq2seq's inference decoder: states as inputs and as outputs (a call's outputs 1 and 2), as tfjs predicts", async (t) => {
  const decIn = tf.input({ shape: [1, 2], name: 'token' }), hIn = tf.input({ shape: [6], name: 'h_in' }), cIn = tf.input({ shape: [6], name: 'c_in' });
  const [y, h, c] = tf.layers.lstm({ units: 6, returnSequences: true, returnState: true, name: 'decoder' }).apply(decIn, { initialState: [hIn, cIn] });
  const model = tf.model({ inputs: [decIn, hIn, cIn], outputs: [tf.layers.dense({ units: 3, activation: 'softmax', name: 'classes' }).apply(y), h, c] });
  const a = await artifactsOf(model);
  const xs = [
    { data: randn(2 * 2), shape: [2, 1, 2] },
    { data: randn(2 * 6), shape: [2, 6] },
    { data: randn(2 * 6), shape: [2, 6] },
  ];
  const want = (model.predict(xs.map((x) => tf.tensor(x.data, x.shape))) as { dataSync(): Float32Array }[]).map((o) => o.dataSync());
  const plain = tfe.loadPlainModel(a);
  const outs = plain.predictOutputs(xs);
  t.is(outs.length, 3);
  outs.forEach((o, k) => t.true(maxDiff(o.data, want[k]) < 1e-6, `plaintext output ${k}`));
  const cl = new tfe.Cluster({ protocol: 'securenn' });
  try {
    const m = tfe.loadLayersModel(a, { cluster: cl });
    t.deepEqual(m.outputs.map((o) => o.name), ['classes', 'decoder', 'decoder']);
    const got = await Promise.all(m.predictOutputs(m.defineInput('prediction-client', () => xs)).map((o) => tfe.defineOutput('prediction-client', o)));
    t.true(maxDiff(tfe.applyFinal(got[0], m.outputs[0].finalActivation).data, want[0]) < 1e-3, 'the classes');
    t.true(maxDiff(got[1].data, want[1]) < 1e-3, `h: ${maxDiff(got[1].data, want[1])}`);
    t.true(maxDiff(got[2].data, want[2]) < 1e-3, `c: ${maxDiff(got[2].data, want[2])}`);
  } finally {
    await cl.close();
  }
});

/** A Keras 2-style topology of an input [5, 3], an LSTM of 4 units and what follows it. */
function topology(lstm: Record<string, unknown>, rest: object[], outputs: unknown[][], more: { name: string; shape: number[] }[] = []) {
  return {
    modelTopology: {
      class_name: 'Functional',
      keras_version: '2.15.0',
      config: {
        name: 'm',
        layers: [
          { class_name: 'InputLayer', name: 'in', config: { name: 'in', batch_input_shape: [null, 5, 3] }, inbound_nodes: [] },
          { class_name: 'LSTM', name: 'lstm', config: { name: 'lstm', units: 4, ...lstm }, inbound_nodes: [[['in', 0, 0, {}]]] },
          ...rest,
        ],
        input_layers: [['in', 0, 0]],
        output_layers: outputs,
      },
    },
    weightSpecs: [
      { name: 'lstm/kernel', shape: [3, 16], dtype: 'float32' },
      { name: 'lstm/recurrent_kernel', shape: [4, 16], dtype: 'float32' },
      { name: 'lstm/bias', shape: [16], dtype: 'float32' },
      ...more.map((w) => ({ ...w, dtype: 'float32' })),
    ],
    weightData: randn(3 * 16 + 4 * 16 + 16 + more.reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1), 0)).buffer,
  } as unknown as tfe.ModelArtifacts;
}

test('states that are not there, and states with what is not supported, are refused by name', (t) => {
  const cases: [tfe.ModelArtifacts, RegExp][] = [
    [topology({ return_state: true }, [], [['lstm', 0, 3]]), /the model's output takes output 3 of 'lstm', which returns 3 tensors/],
    [topology({}, [], [['lstm', 0, 1]]), /takes output 1 of 'lstm', which returns one tensor \(its states need return_state\)/],
    [
      topology({ return_state: true }, [{ class_name: 'LSTM', name: 'dec', config: { name: 'dec', units: 4 }, inbound_nodes: [[['in', 0, 0, {}], ['lstm', 0, 1, {}]]] }], [['dec', 0, 0]]),
      /layer 'dec' \(LSTM\) is called with 2 input tensors, but takes 1 input \(or its input and initial_state: h and c\)/,
    ],
    [
      topology({ return_state: true }, [{ class_name: 'LSTM', name: 'dec', config: { name: 'dec', units: 5 }, inbound_nodes: [[['in', 0, 0, {}], ['lstm', 0, 1, {}], ['lstm', 0, 2, {}]]] }], [['dec', 0, 0]], [
        { name: 'dec/kernel', shape: [3, 20] },
        { name: 'dec/recurrent_kernel', shape: [5, 20] },
        { name: 'dec/bias', shape: [20] },
      ]),
      /'dec' \(LSTM\): takes an initial state of \[1, 5\] \(batch, units\), got \[1,4\]/,
    ],
    [
      topology({}, [{ class_name: 'Bidirectional', name: 'bi', config: { name: 'bi', layer: { class_name: 'LSTM', config: { name: 'l', units: 4, return_state: true } } }, inbound_nodes: [[['in', 0, 0, {}]]] }], [['bi', 0, 0]]),
      /'bi' \(Bidirectional\).*wraps a layer with return_state/,
    ],
  ];
  for (const [a, message] of cases) {
    t.throws(() => tfe.loadPlainModel(a), { message }, String(message));
    const c = new tfe.Cluster({ protocol: 'securenn' });
    t.throws(() => tfe.loadLayersModel(a, { cluster: c }), { message }, String(message));
    void c.close();
  }
});

// tfjs applies the padding mask to a call with an initial_state, a padded step's output the
// carried state (the initial one before the first token); Keras 3 hands such a call no mask
// (keras3_walkthrough_models.json); tf-keras's handling is not checked here: refused.
test('a padding mask with an initial_state: as tfjs computes it in a model tfjs saved; refused in a tf-keras one', async (t) => {
  const ids = tf.input({ shape: [5], name: 'ids' }), h = tf.input({ shape: [4], name: 'h' }), c = tf.input({ shape: [4], name: 'c' });
  const e = tf.layers.embedding({ inputDim: 10, outputDim: 3, maskZero: true }).apply(ids);
  const y = tf.layers.lstm({ units: 4, returnSequences: true, name: 'decoder' }).apply(e, { initialState: [h, c] });
  const model = tf.model({ inputs: [ids, h, c], outputs: y });
  const a = await artifactsOf(model);
  // Pre-, post- and no padding; the states far from zero, so a padded step's output shows them.
  const xs = [
    { data: Float32Array.from([0, 0, 3, 8, 2, 9, 7, 6, 0, 0, 1, 2, 3, 4, 5]), shape: [3, 5] },
    { data: Float32Array.from(randn(12), (v) => 2 * v), shape: [3, 4] },
    { data: randn(12), shape: [3, 4] },
  ];
  const want = model.predict(xs.map((x) => tf.tensor(x.data, x.shape))).dataSync() as Float32Array;
  t.true(maxDiff(tfe.loadPlainModel(a).predict(xs).data, want) < 1e-6, 'plaintext');
  const cl = new tfe.Cluster({ protocol: 'securenn' });
  try {
    const m = tfe.loadLayersModel(a, { cluster: cl });
    const got = (await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => xs)))).data;
    t.true(maxDiff(got, want) < 1e-3, `securenn: ${maxDiff(got, want)}`);
  } finally {
    await cl.close();
  }
  const tfKeras = { ...a, modelTopology: { ...(a.modelTopology as object), keras_version: '2.15.0' } } as tfe.ModelArtifacts;
  t.throws(() => tfe.loadPlainModel(tfKeras), { message: /'decoder' \(LSTM\).*with an initial_state, which is supported in models TensorFlow.js or Keras 3 saved only/ });
});

let service: TestCluster | undefined;
test.after.always(async () => service?.stop());

test.serial('an LSTM encoder-decoder deploys and predicts through the service as tfjs does', async (t) => {
  const model = seq2seq('lstm');
  const a = await artifactsOf(model);
  service = await startCluster();
  await service.ready();
  const owner = await service.connect({ asOwner: true });
  await owner.deploy(a, { name: 's2s', protocol: 'fss' });
  await owner.close();
  const client = await service.connect();
  const xs = inputs(3);
  const p = await client.predict('s2s', xs);
  const want = model.predict(xs.map((x) => tf.tensor(x.data, x.shape))).dataSync() as Float32Array;
  t.true(maxDiff(p.probabilities ?? p.data, want) < 1e-2, `through the service: ${maxDiff(p.probabilities ?? p.data, want)}`);
  await client.close();
});
